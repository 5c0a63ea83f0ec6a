"""Stores that concurrent writers and damaged cells cannot break, and files that follow the umask."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr

import nnvalues
from nnvalues.cube.store import CubeStore
from nnvalues.errors import StoreError, redact
from nnvalues.evaluate.store import ResultsStore
from nnvalues.openai_client import EndpointError
from nnvalues.storage import atomic_write_text
from nnvalues.storecheck import check_store
from nnvalues.zarrstore import StoreWarning
from tests.cli import assert_one_line_error, run_cli
from tests.conftest import make_records, write_jsonl
from tests.openai_server import closed_port
from tests.test_store import run as locate_into

ROOT = Path(__file__).resolve().parents[1]
DIM, OTHER = "openness_to_change", "conservation"


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(capsys, monkeypatch, *args)


@pytest.fixture
def two_cells(tiny_model_dir, tmp_path):
    """A store with two measured cells of one tiny model, and the files that made them."""
    model = tiny_model_dir("llama")
    first = write_jsonl(tmp_path / "o.jsonl", make_records(DIM, paired=3))
    second = write_jsonl(tmp_path / "c.jsonl", make_records(OTHER, paired=3))
    store = tmp_path / "s.zarr"
    for prompts in (first, second):
        nnvalues.locate(str(model), prompts=prompts, store=store, show_progress=False)
    return model, store, first, second


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(root.rglob("*"))}


class HeldLock:
    """Another process holding a lock file of the store, as a second writer would."""

    def __init__(self, lock_file: Path, seconds: float = 120):
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        code = ("import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
                "lock.acquire(); print('held', flush=True); time.sleep(float(sys.argv[2]))")
        self.process = subprocess.Popen([sys.executable, "-c", code, str(lock_file), str(seconds)],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "held"

    def __enter__(self) -> "HeldLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait()


# --- concurrent writers ---------------------------------------------------------------------

def test_a_second_writer_of_a_cell_is_refused_and_changes_nothing(cli, two_cells, tmp_path):
    model, store, first, _ = two_cells
    key = CubeStore.open(store).models()[0]
    third = write_jsonl(tmp_path / "t.jsonl", make_records("self_enhancement", paired=2))
    before = snapshot(store)
    with HeldLock(store / ".locks" / key / "self_enhancement.lock"):
        result = cli("locate", "--model", model, "--prompts", third, "--store", store, "--quiet")
        assert_one_line_error(result, "another process is writing")
        assert "NNVALUES_LOCK_TIMEOUT" in result.err
        # The other cells are not locked: re-running one of them proceeds.
        assert cli("locate", "--model", model, "--prompts", first, "--store", store,
                   "--quiet").code == 0
    assert {k: v for k, v in snapshot(store).items() if ".locks" not in k} == \
        {k: v for k, v in before.items() if ".locks" not in k}
    (summary,) = locate_into(model, third, store)
    assert summary.status == "measured"


def test_a_waiting_writer_finds_the_cell_finished(two_cells, monkeypatch):
    model, store, first, _ = two_cells
    cube_store = CubeStore.open(store)
    key = cube_store.models()[0]
    with HeldLock(store / ".locks" / key / f"{DIM}.lock", seconds=2):
        started = time.monotonic()
        with cube_store.cell_lock(key, DIM, wait=60):  # waits for the other process
            waited = time.monotonic() - started
    assert waited > 0.5
    monkeypatch.setenv("NNVALUES_LOCK_TIMEOUT", "60")
    (summary,) = locate_into(model, first, store)
    assert summary.status == "already stored"


def test_a_store_being_created_counts_as_blank(tmp_path):
    """What another process creating the store has written so far (its lock, a temporary
    root file) must not make the store look foreign to a second process."""
    path = tmp_path / "s.zarr"
    path.mkdir()
    (path / ".lock").write_text("")
    (path / ".zarr.json.abc.tmp").write_text("{")
    CubeStore.check_location(path)
    assert CubeStore.open_or_create(path).models() == []
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(StoreError, match="not an nnvalues store"):
        CubeStore.check_location(tmp_path / "mine")


def test_two_concurrent_locate_runs_leave_a_valid_store(tiny_model_dir, tmp_path):
    """Two processes on the same cell at once: one measures, the other is refused or finds
    the cell finished; the store is valid either way (scripts/concurrent_locate.py: 20 trials)."""
    prompts = write_jsonl(tmp_path / "p.jsonl", make_records(DIM, paired=10))
    store = tmp_path / "s.zarr"
    command = [sys.executable, "-m", "nnvalues", "locate", "--model", str(tiny_model_dir("llama")),
               "--prompts", str(prompts), "--store", str(store), "--quiet", "--batch-size", "2"]
    runs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    results = [(run.wait(timeout=300), *run.communicate()) for run in runs]
    assert all("Traceback" not in err for _, _, err in results), results
    measured = [out for code, out, _ in results if code == 0 and "measured" in out]
    assert len(measured) == 1, results
    for code, out, err in results:
        assert code == 0 or (code == 1 and "another process is writing" in err), (code, out, err)
    assert check_store(CubeStore.open(store)) == []
    assert int(nnvalues.open_cube(store)["prompts"].sum()) == 20


# --- damaged cells --------------------------------------------------------------------------

def damage(cell: Path, how: str) -> None:
    if how == "variable":
        for path in sorted((cell / "negative_only").rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (cell / "negative_only").rmdir()
    elif how == "attributes":
        meta = json.loads((cell / "zarr.json").read_text())
        (cell / "zarr.json").write_text(json.dumps({**meta, "attributes": {}}))
    elif how == "metadata":
        (cell / "zarr.json").write_text("{torn")
    elif how == "chunk":
        chunk = next(p for p in sorted((cell / "active").rglob("*")) if p.is_file()
                     and p.name != "zarr.json")
        chunk.write_bytes(chunk.read_bytes()[:5])


@pytest.mark.parametrize("how", ["variable", "attributes", "metadata", "chunk"])
def test_a_damaged_cell_is_skipped_found_and_repaired(cli, two_cells, how):
    model, store, first, second = two_cells
    key = CubeStore.open(store).models()[0]
    damage(store / key / OTHER, how)
    with pytest.warns(StoreWarning, match=f"{key}/{OTHER}"):
        cube = nnvalues.open_cube(store)
    assert list(cube["dimension"].values) == [DIM]
    shown = cli("cube", "show", store)
    assert shown.code == 0 and DIM in shown.out and f"{key}/{OTHER}" in shown.err
    assert cli("cube", "slice", store, "--dimension", DIM).code == 0
    assert cli("select", "--store", store, "--dimension", DIM).code == 0
    checked = cli("cube", "check", store)
    assert_one_line_error(checked, "1 damaged cell")
    assert f"{key}/{OTHER}" in checked.out
    refused = cli("locate", "--model", model, "--prompts", second, "--store", store, "--quiet")
    assert_one_line_error(refused, "--restart")
    restarted = cli("locate", "--model", model, "--prompts", second, "--store", store, "--quiet",
                    "--restart")
    assert restarted.code == 0 and "measured" in restarted.out
    assert check_store(CubeStore.open(store)) == []


def test_check_repair_removes_damage_and_stale_staging(cli, two_cells):
    model, store, _, second = two_cells
    key = CubeStore.open(store).models()[0]
    damage(store / key / OTHER, "variable")
    stale = store / ".staging" / key / f"{OTHER}.abc123"
    stale.mkdir(parents=True)
    repaired = cli("cube", "check", store, "--repair")
    assert repaired.code == 0 and f"removed: {key}/{OTHER}" in repaired.out
    assert not (store / key / OTHER).exists() and not stale.exists()
    assert cli("cube", "check", store).code == 0
    (summary,) = locate_into(model, second, store)
    assert summary.status == "measured"


def test_a_damaged_results_cell_is_skipped(tmp_path):
    store = ResultsStore.open_or_create(tmp_path / "r.zarr", {"runs": 1}, {})
    store.ensure_model("m", {"model_revision": "abc"})
    cell = xr.Dataset({"question_text": ("question", ["q"]), "answer": ("question", ["a"]),
                       "answer_tokens": ("question", [1]), "value_score": ("question", [3.0])},
                      attrs={"model": "m", "set": "heldout", "dimension": DIM,
                             "method": "unedited", "questions_fingerprint": "f"})
    for name in ("one", "two"):
        store.write_cell("m", name, cell)
    with pytest.raises(StoreError, match="finished cells are not rewritten"):
        store.write_cell("m", "one", cell)
    damage(store.path / "m" / "two", "attributes")
    with pytest.warns(StoreWarning, match="m/two"):
        assert [name for name, _ in store.readable_cells("m")] == ["one"]
    assert not store.has_cell("m", "two")
    assert [d.name for d in check_store(store, repair=True)] == ["m/two"]
    store.write_cell("m", "two", cell)  # a repaired cell can be written again
    assert check_store(store) == []


# --- files, messages, batches ---------------------------------------------------------------

@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == mode


def test_credentials_in_urls_are_redacted():
    text = "cannot reach http://bob:s3cret@host:8080/v1?api_key=abc&x=1 or https://tok@h/"
    assert redact(text) == "cannot reach http://***@host:8080/v1?api_key=***&x=1 or https://***@h/"


def test_an_unreachable_batch_endpoint_is_one_line(tmp_path):
    from nnvalues.judge.batch_api import score_with_batch
    from nnvalues.judge.openai_judge import OpenAIJudge

    judge = OpenAIJudge(base_url=f"http://user:secret@127.0.0.1:{closed_port()}/v1", api_key="k",
                        use_batch=True, max_retries=0, timeout=2, batch_dir=tmp_path / "b")
    with pytest.raises(EndpointError, match="cannot reach the judge") as info:
        score_with_batch(judge, ["prompt"], 0)
    assert "\n" not in str(info.value) and "secret" not in redact(str(info.value))
