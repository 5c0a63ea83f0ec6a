"""Every command given bad input: exit 1 or 2, one line, no traceback, and no store touched.

The table holds the rejected commands of the reliability issue and more; each runs in-process
against a real cube store, an empty results store and a working directory where the default
stores would go, and all three must be byte for byte as they were. Hypothesis fuzzes prompt
files and option values the same way. A few cases run as real processes: a bare `nnvalues`,
a usage error, and Ctrl-C.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnvalues
from nnvalues.evaluate.store import ResultsStore
from nnvalues.select import load_set
from tests.cli import run_cli
from tests.conftest import make_records, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
DIM = "openness_to_change"
SECRET = "s3cret-word"


@pytest.fixture(scope="module")
def place(tmp_path_factory, tiny_model_dir):
    """A measured cube store with a saved set, an empty results store, and odd paths."""
    root = tmp_path_factory.mktemp("bad-inputs")
    model = tiny_model_dir("llama")
    prompts = write_jsonl(root / "p.jsonl", make_records(DIM, paired=4))
    one_polarity = [r for r in make_records(DIM, paired=2) if r["polarity"] == "negative"]
    for row in one_polarity:
        row.pop("pair")
    store = root / "s.zarr"
    nnvalues.locate(str(model), prompts=prompts, store=store, show_progress=False)
    nnvalues.select(store, dimension=DIM, rule=nnvalues.TopK(5), name="k5")
    results = ResultsStore.open_or_create(root / "r.zarr", {"runs": 1}, {}).path
    (root / "file.txt").write_text("not a store")
    (root / "folder").mkdir()
    (root / "empty-model").mkdir()
    (root / "fake.gguf").write_text("not a gguf")
    (root / "work").mkdir()
    return {"model": str(model), "prompts": str(prompts), "store": str(store),
            "results": str(results), "root": str(root), "file": str(root / "file.txt"),
            "folder": str(root / "folder"), "new": str(root / "new.zarr"),
            "one_polarity": str(write_jsonl(root / "neg.jsonl", one_polarity)),
            "empty_model": str(root / "empty-model"), "fake_gguf": str(root / "fake.gguf"),
            "work": str(root / "work")}


LOCATE = ["locate", "--model", "{model}", "--prompts", "{prompts}", "--quiet"]
SLICE = ["cube", "slice", "{store}"]
SELECT = ["select", "--store", "{store}", "--dimension", DIM]
EVALUATE = ["evaluate", "--models", "{model}", "--store", "{store}", "--results", "{new}",
            "--dimensions", DIM, "--limit", "1", "--judge", "local:{model}"]
INTERVENE = ["intervene", "What would you do?", "--model", "{model}", "--store", "{store}",
             "--max-new-tokens", "2"]
REPORT = ["report", "{results}"]

CASES = [  # (arguments, exit code, fragment of the error line)
    (["locate", "--foo"], 2, "No such option: --foo"),
    (["locate", "--limit", "abc"], 2, "'--limit'"),
    (["frobnicate"], 2, "No such command"),
    (["cube", "slice", "--top", "x"], 2, "--help"),
    ([*LOCATE, "--store", "{store}", "--limit", "0"], 2, "--limit must be at least 1"),
    ([*LOCATE, "--store", "{store}", "--batch-size", "1"], 2, "--batch-size"),
    ([*LOCATE, "--store", "{store}", "--counting", "bogus"], 2, "unknown counting rule"),
    ([*LOCATE, "--store", "{store}", "--span", "decode"], 2, "unknown span"),
    ([*LOCATE, "--store", "{store}", "--span", "answer", "--answer-tokens", "0"], 2, "--answer-tokens"),
    ([*LOCATE, "--store", "{store}", "--span", "all"], 1, "other settings"),
    ([*LOCATE, "--store", "{store}", "--dimensions", "kindness"], 2, "unknown dimension"),
    ([*LOCATE, "--store", "{store}", "--counting", "token"], 1, "other settings"),
    (["locate", "--model", "{model}", "--prompts", "{one_polarity}", "--counting", "token",
      "--store", "{store}"], 2, "N > 0"),
    (["locate", "--model", "{model}", "--prompts", "{one_polarity}", "--counting", "token",
      "--store", "{new}"], 2, "N > 0"),
    (["locate", "--model", "{model}", "--prompts", "{one_polarity}"], 2, "N > 0"),
    ([*LOCATE, "--store", "{file}"], 2, "is a file"),
    ([*LOCATE, "--store", "{folder}/../file.txt/x"], 2, "is a file"),
    ([*LOCATE, "--store", "{root}"], 1, "not an nnvalues store"),
    ([*LOCATE, "--store", "{new}", "--device", "tpu"], 2, "unknown --device 'tpu'"),
    ([*LOCATE, "--store", "{new}", "--device", "cuda:7"], 2, "--device cuda:7"),
    (["locate", "--model", "{root}/missing", "--store", "{new}"], 1, "path does not exist"),
    (["locate", "--model", "{empty_model}", "--store", "{new}"], 1, "no config.json"),
    (["locate", "--model", "{fake_gguf}", "--store", "{new}"], 1, "fake.gguf"),
    (["locate", "--model", "nosuchmodel", "--store", "{new}"], 1, "unknown model"),
    (["cube", "show", "{store}", "--threshold", "-1"], 2, "--threshold must be a number > 0"),
    (["cube", "show", "{store}", "--threshold", "nan"], 2, "--threshold"),
    (["cube", "show", "{file}"], 1, "is a file"),
    (["cube", "show", "{root}/missing"], 1, "does not exist"),
    (["cube", "check", "{file}"], 1, "is a file"),
    ([*SLICE, "--layer", "1:0"], 2, "selects nothing"),
    ([*SLICE, "--layer", "20:10"], 2, "selects nothing"),
    ([*SLICE, "--layer", ""], 2, "cannot read layer"),
    ([*SLICE, "--layer", "9"], 2, "out of range"),
    ([*SLICE, "--top", "-1"], 2, "--top"),
    ([*SLICE, "--model", "foo"], 1, "holds no model foo"),
    ([*SLICE, "--out", "{root}/x.txt"], 2, "cannot export"),
    ([*SLICE, "--out", "{file}/x.csv"], 2, "is a file"),
    ([*SELECT, "--name", "k5"], 2, "--force"),
    ([*SELECT, "--name", "bad name!"], 2, "bad neuron set name"),
    ([*SELECT, "--threshold", "nan"], 2, "--threshold"),
    (["select", "--store", "{store}", "--threshold", "-0.5"], 2, "--threshold"),
    (["select", "--store", "{store}", "--fdr", "2"], 2, "--fdr"),
    ([*SELECT, "--top-k", "0"], 2, "--top-k"),
    ([*SELECT, "--test", "bogus"], 2, "unknown test"),
    ([*SELECT, "--statistic", "median"], 2, "unknown statistic"),
    ([*SELECT, "--statistic", "mean", "--fdr", "0.05", "--test", "exact"], 2, "paired t test"),
    ([*SELECT, "--top-k", "5", "--out", "{root}/x.txt"], 2, "cannot export"),
    (["select", "--store", "{file}"], 1, "is a file"),
    ([*EVALUATE, "--top-k", "0"], 2, "--top-k"),
    ([*EVALUATE, "--threshold", "nan"], 2, "threshold must be a finite number"),
    ([*EVALUATE, "--fdr", "2"], 2, "--fdr"),
    ([*EVALUATE, "--judge-mode", "foo"], 2, "unknown judge mode"),
    ([*EVALUATE, "--results", "{results}", "--top-k", "0"], 2, "--top-k"),
    ([*EVALUATE, "--results", "{file}", "--dry-run"], 2, "is a file"),
    (["evaluate", "--top-k", "0"], 2, "--top-k"),
    (["evaluate", "--threshold", "nan", "--dry-run"], 2, "threshold must be a finite number"),
    (["evaluate", "--threshold", "-1", "--dry-run"], 2, "threshold"),
    (["evaluate", "--models", "nosuchmodel", "--store", "{store}", "--dry-run",
      "--judge", "local:{model}"], 1, "unknown model"),
    (["evaluate", "--store", "{store}", "--dry-run", "--judge-base-url",
      f"http://me:{SECRET}@127.0.0.1:9/v1", "--models", "{model}", "--gammas", "-1"], 2, "gamma"),
    ([*INTERVENE, "--gamma", "-1"], 2, "gamma"),
    ([*INTERVENE, "--dimension", "kindness"], 2, "unknown dimension"),
    ([*INTERVENE, "--out", "{folder}"], 2, "is a folder"),
    ([*INTERVENE, "--device", "tpu"], 2, "--device"),
    ([*INTERVENE, "--neuron-set", "nope"], 2, "no neuron set 'nope'"),
    ([*REPORT, "--csv", "{folder}"], 2, "is a folder"),
    ([*REPORT, "--sets", "foo"], 2, "unknown --sets 'foo'"),
    ([*REPORT, "--correction", "x"], 2, "unknown --correction 'x'"),
    ([*REPORT, "--metric", "x"], 2, "unknown --metric 'x'"),
    ([*REPORT, "--format", "xml"], 2, "No such option"),
    (["report", "{root}/missing"], 1, "does not exist"),
    (["report", "{store}"], 1, "not an nnvalues results store"),
    (["dataset", "render", "--prompts", "{root}/missing.jsonl"], 2, "missing.jsonl"),
]
if torch.cuda.is_available():
    CASES = [c for c in CASES if "cuda:7" not in c[0]]


def fingerprint(*roots: Path) -> dict[str, str]:
    """Every path under the roots with a hash of its bytes (lock files included)."""
    found = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


def fill(args: list[str], place: dict[str, str]) -> list[str]:
    return [a.format(**place) for a in args]


def check_rejected(result, code: int | None, fragment: str) -> None:
    assert "Traceback" not in result.err + result.out
    assert result.code in ((1, 2) if code is None else (code,)), (result.code, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert fragment in lines[0], lines[0]
    assert SECRET not in result.err + result.out


@pytest.fixture
def guarded(place, capsys, monkeypatch):
    """Run a command in the work folder; afterwards nothing on disk may have changed."""
    monkeypatch.chdir(place["work"])
    monkeypatch.delenv("NNVALUES_STORE", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("NDIF_API_KEY", raising=False)
    monkeypatch.setattr("nnsight.CONFIG.API.APIKEY", None, raising=False)
    roots = [Path(place["root"])]
    before = fingerprint(*roots)

    def run(*args: str):
        return run_cli(capsys, monkeypatch, *args)

    yield run
    assert fingerprint(*roots) == before


@pytest.mark.parametrize(("args", "code", "fragment"), CASES,
                         ids=[" ".join(c[0][:4]) for c in CASES])
def test_a_rejected_command_changes_nothing(guarded, place, args, code, fragment):
    check_rejected(guarded(*fill(args, place)), code, fragment)


def test_credentials_in_a_host_never_reach_the_output(place, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("NDIF_API_KEY", "key")
    result = run_cli(capsys, monkeypatch, *fill(LOCATE, place), "--store", str(tmp_path / "s"),
                     "--ndif-host", f"http://me:{SECRET}@127.0.0.1:9", "--remote-deadline", "1")
    check_rejected(result, 1, "http://***@127.0.0.1:9")


def test_a_dry_run_needs_no_key_and_writes_nothing(guarded, place):
    args = fill(["evaluate", "--models", "{model}", "--store", "{store}", "--results", "{new}",
                 "--dimensions", DIM, "--limit", "1", "--dry-run"], place)
    result = guarded(*args)  # OPENAI_API_KEY is unset here
    assert result.code == 0 and "dry run:" in result.out, result.err


def test_the_corrected_command_runs_after_a_rejected_one(guarded, place):
    """A rejection records no setting: the fixed command is not refused as "other settings"."""
    check_rejected(guarded(*fill([*SELECT, "--name", "k5"], place)), 2, "--force")
    # (guarded checks that the store is untouched; --force is the fix, tested separately)
    result = guarded(*fill(["cube", "show", "{store}"], place))
    assert result.code == 0 and DIM in result.out


def test_select_force_replaces_a_saved_set(cli_place):
    run, store = cli_place
    assert run("select", "--store", store, "--dimension", DIM, "--top-k", "3", "--name", "k3").code == 0
    refused = run("select", "--store", store, "--dimension", DIM, "--top-k", "4", "--name", "k3")
    assert refused.code == 2 and "--force" in refused.err
    assert load_set(store, "k3").parameters == {"k": 3}
    forced = run("select", "--store", store, "--dimension", DIM, "--top-k", "4", "--name", "k3",
                 "--force")
    assert forced.code == 0 and load_set(store, "k3").parameters == {"k": 4}


def test_exports_create_their_folder_and_keep_the_column_order(cli_place, tmp_path):
    run, store = cli_place
    out = tmp_path / "new" / "folder" / "slice.csv"
    assert run("cube", "slice", store, "--top", "3", "--out", str(out)).code == 0
    assert out.read_text().splitlines()[0] == "layer,neuron,p_positive,p_negative,delta,mean_positive,mean_negative"
    chosen = tmp_path / "other" / "set.csv"
    assert run("select", "--store", store, "--dimension", DIM, "--top-k", "2", "--out", str(chosen)).code == 0
    assert chosen.read_text().splitlines()[0] == "layer,neuron,delta,role,mean_positive,mean_negative"


@pytest.fixture
def cli_place(tmp_path, tiny_model_dir, capsys, monkeypatch, prompts_file):
    store = tmp_path / "s.zarr"
    nnvalues.locate(str(tiny_model_dir("llama")), prompts=prompts_file, store=store,
                    show_progress=False)
    return (lambda *args: run_cli(capsys, monkeypatch, *args)), str(store)


# --- fuzzing ---------------------------------------------------------------------------------

FIELDS = ("id", "dimension", "polarity", "description", "question", "pair")
field_values = st.one_of(st.none(), st.integers(), st.text(max_size=12),
                         st.sampled_from([DIM, "positive", "negative", "kindness", ""]))
records = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=6).map(json.dumps),
    st.text(max_size=30),
    st.just("[1, 2]"),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(records, max_size=4))
def test_fuzzed_prompt_files_fail_in_one_line(guarded, place, lines):
    prompts = Path(place["work"]) / "fuzz.jsonl"
    prompts.write_text("\n".join(lines))
    try:
        result = guarded("locate", "--model", f"{place['root']}/missing", "--prompts",
                         str(prompts), "--store", place["new"])
    finally:
        prompts.unlink()
    check_rejected(result, None, "")


options = st.one_of(st.text(max_size=8), st.integers(-5, 40).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(str),
                    st.sampled_from(["", ":", "1:", ":1", "1,2", "3:1", "0:0", "-1", "nan", "1e9"]))


FUZZED = {  # command -> the options fuzzed
    "cube slice": ("--layer", "--neuron", "--top"),
    "select": ("--threshold", "--fdr", "--top-k"),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pick=st.sampled_from([(c, o) for c, opts in FUZZED.items() for o in opts]), value=options)
def test_fuzzed_options_answer_or_fail_in_one_line(guarded, place, pick, value):
    command, option = pick
    where = [place["store"]] if command == "cube slice" else ["--store", place["store"]]
    result = guarded(*command.split(), *where, option, value)
    assert "Traceback" not in result.err
    if result.code != 0:
        check_rejected(result, None, "")


# --- as real processes --------------------------------------------------------------------------

def nnvalues_process(*args: str, **options) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nnvalues", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=300, **options)


def test_bare_nnvalues_prints_help_and_succeeds():
    result = nnvalues_process()
    assert result.returncode == 0 and "Usage: nnvalues" in result.stdout and not result.stderr
    usage = nnvalues_process("locate", "--foo")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    assert usage.stderr.strip() == "error: No such option: --foo (try 'nnvalues locate --help')"


def test_help_shows_the_defaults(capsys, monkeypatch):
    def compact(command: str) -> str:
        result = run_cli(capsys, monkeypatch, command, "--help")
        assert result.code == 0
        return "".join(result.out.replace("│", "").split())

    assert "(default:stores/activations.zarr)" in compact("locate")
    intervene = compact("intervene")
    assert "(default:thestore'sfirst)" in intervene and "(default:0.03" in intervene
    assert "[default:2.0]" in intervene  # typer's own default labels survive too


def test_ctrl_c_prints_the_resume_line_and_resumes(tiny_model_dir, tmp_path):
    prompts = write_jsonl(tmp_path / "p.jsonl", make_records(DIM, paired=150))
    store = tmp_path / "s.zarr"
    args = ["locate", "--model", str(tiny_model_dir("llama")), "--prompts", str(prompts),
            "--store", str(store), "--quiet", "--batch-size", "2"]
    process = subprocess.Popen([sys.executable, "-m", "nnvalues", *args], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not any((store / ".checkpoints").rglob("*.npz")) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted: finished batches are kept; rerun the same command to resume" in err
    assert "Traceback" not in err
    resumed = nnvalues_process(*args, env={**os.environ})
    assert resumed.returncode == 0 and "resumed" in resumed.stdout, resumed.stderr
