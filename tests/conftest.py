from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import pytest

from tests import tiny_models
from tests.openai_server import openai_server  # noqa: F401  (one server for the whole session)

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# `--dtype auto` would pick bfloat16 on some processors: tests compare against float32
# computations, so they pin what auto means (tests of the choice itself unset it).
os.environ.setdefault("NNVALUES_DTYPE", "float32")
STRICT_SKIPS_ENV = "NNVALUES_STRICT_SKIPS"
"""Set (CI does): a skipped test not marked `expected_skip` fails the run."""
_UNEXPECTED_SKIPS: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and not hasattr(report, "wasxfail")
            and item.get_closest_marker("expected_skip") is None):
        _UNEXPECTED_SKIPS.append(item.nodeid)


def pytest_terminal_summary(terminalreporter: object) -> None:
    if _UNEXPECTED_SKIPS and os.environ.get(STRICT_SKIPS_ENV):
        terminalreporter.write_line(  # type: ignore[attr-defined]
            f"{len(_UNEXPECTED_SKIPS)} skipped test(s) not marked expected_skip: "
            + ", ".join(_UNEXPECTED_SKIPS), red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _UNEXPECTED_SKIPS and os.environ.get(STRICT_SKIPS_ENV) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests write hashes and dense copies to their own cache, unless one is given."""
    if "NNVALUES_CACHE_DIR" not in os.environ:
        os.environ["NNVALUES_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory):
    built: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in built:
            built[kind] = tiny_models.build(kind, tmp_path_factory.mktemp(f"tiny-{kind}"))
        return built[kind]

    return get


QUESTIONS = [
    "Your cousin wants to skip the family dinner to go to a concert. What would you do?",
    "A colleague proposes a new way to run the weekly meeting. What do you think?",
    "You found money on the street. What would you do?",
    "Your neighbour asks you to water plants all summer. What would you do?",
    "Should the town build a park or a parking lot? What do you think?",
]
POSITIVE = ["You love trying new things and changing plans.", "You follow your own path."]
NEGATIVE = ["You prefer the familiar and keep to routines.", "You follow what others decide."]


def make_records(dimension: str = "openness_to_change", paired: int = 5,
                 unpaired: int = 0) -> list[dict]:
    """Prompt records of varied length: `paired` questions x 2, plus unpaired extras."""
    rows = []
    for i in range(paired):
        question = QUESTIONS[i % len(QUESTIONS)] + " Extra." * i
        rows.append({"id": f"q{i}:positive", "dimension": dimension, "polarity": "positive",
                     "description": POSITIVE[i % 2], "question": question, "pair": f"q{i}"})
        rows.append({"id": f"q{i}:negative", "dimension": dimension, "polarity": "negative",
                     "description": NEGATIVE[i % 2], "question": question, "pair": f"q{i}"})
    for i in range(unpaired):
        polarity = "positive" if i % 2 == 0 else "negative"
        rows.append({"id": f"u{i}", "dimension": dimension, "polarity": polarity,
                     "description": (POSITIVE if polarity == "positive" else NEGATIVE)[0],
                     "question": QUESTIONS[(i + 2) % len(QUESTIONS)] + " More?" * i})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def prompts_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "prompts.jsonl", make_records(paired=5, unpaired=3))


def measure_cube(model_dir: Path, root: Path,
                 dimensions: tuple[str, ...] = ("openness_to_change", "self_enhancement")) -> Path:
    """A cube at root/cube.zarr: five paired questions per dimension measured on a tiny model."""
    import nnvalues

    rows = [dict(r, id=f"{d[:2]}-{r['id']}", pair=f"{d[:2]}-{r['pair']}")
            for d in dimensions for r in make_records(d, paired=5)]
    cube = root / "cube.zarr"
    nnvalues.locate(str(model_dir), prompts=write_jsonl(root / "p.jsonl", rows), store=cube,
                    show_progress=False)
    return cube


VALUEBENCH = Path(__file__).resolve().parent / "fixtures" / "valuebench"
"""A tiny look-alike of the pinned ValueBench files (tests/fixtures/make_valuebench.py)."""


@pytest.fixture
def valuebench(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The look-alike folder, with the loader's checksum pins set to its files' own."""
    from nnvalues.data.external import source

    pins = {remote.name: dataclasses.replace(
        remote, sha256=hashlib.sha256((VALUEBENCH / remote.name).read_bytes()).hexdigest())
        for remote in source.FILES}
    monkeypatch.setattr(source, "ORIENTATION", pins[source.ORIENTATION.name])
    monkeypatch.setattr(source, "DEFINITIONS", pins[source.DEFINITIONS.name])
    monkeypatch.setattr(source, "FILES", tuple(pins[remote.name] for remote in source.FILES))
    return VALUEBENCH
