"""The evaluation runner, its results store and the report, on a tiny model, a tiny cube and
a local judge: counting, resuming, refusing mixed settings, and the paper's tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nnvalues.errors import StoreError, UsageError
from nnvalues.evaluate import Grid, ResultsStore, evaluate, evidence_table, open_results, tables
from nnvalues.evaluate.grid import parse_neurons
from nnvalues.intervene import GenerationSettings
from nnvalues.judge import EndpointError
from nnvalues.judge.local import LocalJudge
from nnvalues.models.loading import load_model
from nnvalues.select import list_sets
from tests.cli import assert_one_line_error, run_cli
from tests.conftest import measure_cube
from tests.openai_server import closed_port

DIMS = ("openness_to_change", "self_enhancement")
FAST = GenerationSettings(max_new_tokens=6, batch_size=8)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir, tmp_path_factory):
    """A tiny Llama, a cube of two dimensions measured on it, and a local judge on it."""
    model = tiny_model_dir("llama")
    root = tmp_path_factory.mktemp("evaluate")
    measure_cube(model, root, DIMS)
    judge = LocalJudge(load_model(str(model)), batch_size=4)
    return model, root / "cube.zarr", judge


def run(tiny, results, grid=None, **options):
    model, cube, judge = tiny
    grid = grid or Grid(models=(str(model),), methods=("paper", "random"), dimensions=("self_enhancement",),
                        directions=("positive", "negative"), seeds=1)
    options = {"limit": 3, "settings": FAST, "show_progress": False, **options}
    return evaluate(grid, options.pop("judge", judge), cube=cube, results=results, **options)


def test_the_grid_refuses_empty_axes_and_unknown_names():
    with pytest.raises(UsageError, match="the grid has no gammas: give at least one with --gammas"):
        Grid(models=("m",), gammas=())
    with pytest.raises(UsageError, match="unknown method 'best'"):
        Grid(models=("m",), methods=("best",))
    with pytest.raises(UsageError, match="unknown evaluation set"):
        Grid(models=("m",), sets=("mmlu",))
    with pytest.raises(UsageError, match="unknown direction"):
        Grid(models=("m",), directions=("up",))
    assert parse_neurons(["all", "10"]) == (0, 10)
    with pytest.raises(UsageError, match="at least 1"):
        parse_neurons(["0"])


def test_dry_run_counts_then_the_run_stores_every_cell(tiny, tmp_path):
    results = tmp_path / "r.zarr"
    planned = run(tiny, results, dry_run=True).plan
    # 1 unedited + 2 methods x 2 directions cells, 3 questions each, value + quality judged.
    assert (planned.cells, len(planned.todo), planned.generations, planned.judgements) == (5, 5, 15, 30)
    assert not results.exists()  # a dry run writes nothing
    done = run(tiny, results)
    assert done.cells_written == 5 and done.judgements == 30
    store = ResultsStore.open(results)
    (key,) = store.models()
    assert len(store.cells(key)) == 5
    assert sorted(list_sets(results)) == [f"{key}--self_enhancement--paper-t0.03--n0",
                                          f"{key}--self_enhancement--random-paper-t0.03-s0--n0"]
    cell = store.read_cell(key, "heldout--self_enhancement--paper-t0.03--positive--g2--n0")
    assert cell["value_score"].dims == ("question", "run")
    scores = cell["value_score"].values
    assert np.all((scores >= 1) & (scores <= 5))
    assert np.all((cell["value_mass"].values > 0) & (cell["value_mass"].values <= 1))
    assert cell.attrs["value_neurons"] + cell.attrs["opposite_neurons"] > 0
    assert all(isinstance(a, str) for a in cell["answer"].values)
    assert store.settings["judge"]["kind"] == "local" and store.settings["runs"] == 1
    again = run(tiny, results, dry_run=True).plan
    assert (again.stored, len(again.todo), again.generations, again.judgements) == (5, 0, 0, 0)


def test_unedited_answers_are_generated_once_per_question(tiny, tmp_path, valuebench):
    model, _, _ = tiny
    grid = Grid(models=(str(model),), methods=("paper",), dimensions=DIMS, sets=("pvq40",))
    plan = run(tiny, tmp_path / "r.zarr", grid=grid, limit=10, source=valuebench, dry_run=True).plan
    # PVQ40's three hedonism portraits belong to both dimensions: asked once unedited.
    assert plan.generations == 10 + 7 + 2 * 10
    run(tiny, tmp_path / "r.zarr", grid=grid, limit=10, source=valuebench, quality=False)
    store = ResultsStore.open(tmp_path / "r.zarr")
    (key,) = store.models()
    a = store.read_cell(key, "pvq40--openness_to_change--unedited")
    b = store.read_cell(key, "pvq40--self_enhancement--unedited")
    shared = sorted(set(a["question"].values) & set(b["question"].values))
    assert len(shared) == 3
    assert list(a["answer"].sel(question=shared).values) == list(b["answer"].sel(question=shared).values)
    assert "quality_score" not in a


@pytest.mark.embedded
def test_end_to_end_with_a_real_server_judge(tiny, tmp_path, openai_server):  # noqa: F811
    from nnvalues.judge import make_judge

    judge = make_judge(f"openai:{openai_server.model}", base_url=openai_server.base_url,
                       api_key=openai_server.api_key, concurrency=1)
    results = tmp_path / "r.zarr"
    grid = Grid(models=(str(tiny[0]),), dimensions=("self_enhancement",))
    done = run(tiny, results, grid=grid, judge=judge, limit=2, quality=False)
    assert done.cells_written == 2 and done.missing["value"] == 0
    store = ResultsStore.open(results)
    (key,) = store.models()
    for name in store.cells(key):
        cell = store.read_cell(key, name)
        assert np.all((cell["value_score"].values >= 1) & (cell["value_score"].values <= 5))
        mass = cell["value_mass"].values
        assert np.all((mass > 0) & (mass <= 1)) and np.all(mass < 0.999)  # real, partial digit mass
    assert store.settings["judge"] == {"kind": "openai", "model": openai_server.model,
                                       "mode": "logprobs", "top_logprobs": 20}
    assert store.info["judge_endpoint"] == openai_server.base_url
    assert openai_server.api_key not in (results / "zarr.json").read_text()


class Stop(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_same_results(tiny, tmp_path):
    whole = tmp_path / "whole.zarr"
    run(tiny, whole)
    cut = tmp_path / "cut.zarr"
    seen = []

    def stop_after_two(cell) -> None:
        seen.append(cell.name)
        if len(seen) == 2:
            raise Stop

    with pytest.raises(Stop):
        run(tiny, cut, on_cell=stop_after_two)
    assert run(tiny, cut, dry_run=True).plan.stored == 2
    resumed = run(tiny, cut)
    assert resumed.cells_written == 3  # nothing done twice
    a, b = ResultsStore.open(whole), ResultsStore.open(cut)
    (key,) = a.models()
    assert a.cells(key) == b.cells(key)
    for name in a.cells(key):
        x, y = a.read_cell(key, name), b.read_cell(key, name)
        assert list(x["answer"].values) == list(y["answer"].values)
        np.testing.assert_allclose(x["value_score"].values, y["value_score"].values, rtol=1e-6)


class FailingJudge:
    """The tiny judge's identity, but the endpoint behind it is gone."""

    def __init__(self, real: LocalJudge):
        self.identity = real.identity
        self.deterministic = True

    def score(self, prompts, seed=0, on_score=None):
        raise EndpointError("cannot reach the judge at http://127.0.0.1:9/v1")


def test_a_failing_judge_keeps_the_answers_for_the_rerun(tiny, tmp_path, monkeypatch):
    results = tmp_path / "r.zarr"
    with pytest.raises(EndpointError):
        run(tiny, results, judge=FailingJudge(tiny[2]))
    store = ResultsStore.open(results)
    (key,) = store.models()
    assert store.cells(key) == []
    checkpoint = store.checkpoint_path(key, "heldout--self_enhancement--unedited")
    kept = json.loads(checkpoint.read_text())["answers"]
    assert len(kept) == 3

    import nnvalues.evaluate.judged as judged

    generated = []
    real_generate = judged.generate

    def counting_generate(loaded, prompts, edit=None, settings=None, on_batch=None, execution=None):
        generated.append((len(prompts), edit is None))
        return real_generate(loaded, prompts, edit, settings, on_batch, execution)

    monkeypatch.setattr(judged, "generate", counting_generate)
    run(tiny, results)
    assert (3, True) not in generated  # the unedited answers came from the checkpoint
    assert len(generated) == 4 and not checkpoint.exists()
    cell = store.read_cell(key, "heldout--self_enhancement--unedited")
    assert list(cell["answer"].values) == [a["text"] for a in kept]


def test_a_store_made_with_other_settings_is_refused(tiny, tmp_path):
    results = tmp_path / "r.zarr"
    run(tiny, results, grid=Grid(models=(str(tiny[0]),), dimensions=("self_enhancement",)))
    with pytest.raises(StoreError, match="generation.max_new_tokens 6 here vs 7 now"):
        run(tiny, results, settings=GenerationSettings(max_new_tokens=7))
    with pytest.raises(StoreError, match="questions_per_cell"):
        run(tiny, results, limit=2)
    assert len(ResultsStore.open(results).cells(ResultsStore.open(results).models()[0])) == 2


def test_report_gives_intervals_and_paired_differences(tiny, tmp_path):
    results = tmp_path / "r.zarr"
    model, _, _ = tiny
    run(tiny, results, grid=Grid(models=(str(model),), methods=("paper", "random"), dimensions=DIMS, seeds=2))
    table = evidence_table(results)
    value = table[table.metric == "value"]
    # 2 unedited + 2 dimensions x (paper + random pooled over 2 seeds)
    assert len(value) == 6 and set(value[value.method == "random"]["seeds"]) == {2}
    store = ResultsStore.open(results)
    key = store.models()[0]
    cell = lambda name: store.read_cell(key, name)["value_score"].values[:, 0]  # noqa: E731
    paper = cell("heldout--openness_to_change--paper-t0.03--positive--g2--n0")
    base = cell("heldout--openness_to_change--unedited")
    randoms = [cell(f"heldout--openness_to_change--random-paper-t0.03-s{s}--positive--g2--n0") for s in (0, 1)]
    row = value[(value.method == "paper") & (value.dimension == "openness_to_change")].iloc[0]
    assert row.n == 3 and row["mean"] == pytest.approx(paper.mean())
    assert row.ci_low <= row["mean"] <= row.ci_high
    assert row.diff_unedited == pytest.approx((paper - base).mean())
    assert row.diff_random == pytest.approx((paper - np.mean(randoms, axis=0)).mean())
    assert row.p_value == row.p_random and 0 < row.p_value <= 1
    assert np.all(table.p_holm.dropna() >= table.p_value.dropna())
    shown = "\n\n".join(tables(table))
    assert "| Random (ValueLocate t=0.03) |" in shown and "mean [95% CI]" in shown
    assert f"{row['mean']:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}] (n=3)" in shown
    grid = open_results(results)
    assert grid["mean"].sel(metric="value", selection="paper", control_of="", direction="positive",
                            gamma=2.0, neurons=0, threshold=0.03, dimension="openness_to_change",
                            measured_dimension="openness_to_change").item() == pytest.approx(row["mean"])


# --- the command line -------------------------------------------------------------------

@pytest.fixture
def commands():
    """The evaluate and report commands on the CLI app (a no-op once main.py wires them)."""
    from nnvalues.cli import evaluate_cmd, main, report_cmd

    known = {c.name for c in main.cli.registered_commands}
    for module in (evaluate_cmd, report_cmd):
        for name, function in module.COMMANDS.items():
            if name not in known:
                main.cli.command(name)(function)


def cli_args(tiny, results, *extra):
    model, cube, _ = tiny
    return ["evaluate", "--models", str(model), "--store", str(cube), "--results", str(results),
            "--dimensions", "self_enhancement", "--limit", "2", "--max-new-tokens", "4", "--quiet",
            *extra]


def test_cli_evaluate_and_report(tiny, tmp_path, capsys, monkeypatch, commands):
    results = tmp_path / "r.zarr"
    judge = ["--judge", f"local:{tiny[0]}"]
    grid = ("--methods", "paper,random", "--seeds", "1")
    dry = run_cli(capsys, monkeypatch, *cli_args(tiny, results, *judge, *grid, "--dry-run"))
    assert dry.code == 0 and "3 to run: 6 generations of up to 4 tokens" in dry.out
    assert "12 judge calls" in dry.out
    done = run_cli(capsys, monkeypatch, *cli_args(tiny, results, *judge, *grid))
    assert done.code == 0, done.err
    assert "3 cells written" in done.out
    shown = run_cli(capsys, monkeypatch, "report", str(results), "--csv", str(tmp_path / "t.csv"))
    assert shown.code == 0, shown.err
    assert "| Unedited |" in shown.out and "| ValueLocate t=0.03 |" in shown.out and "text quality" in shown.out
    csv = pd.read_csv(tmp_path / "t.csv")
    assert set(csv["method"]) == {"unedited", "random", "paper"} and len(csv) == 6
    assert {"diff_unedited_ci_low", "diff_random_ci_high", "p_value", "measured_dimension"} <= set(csv.columns)
    assert csv[csv.metric == "value"]["mean"].between(1, 5).all()
    other = run_cli(capsys, monkeypatch, *cli_args(tiny, results, *judge, "--max-new-tokens", "5"))
    assert_one_line_error(other, "holds results made with other settings")


def test_cli_bad_input_is_one_line_and_loses_nothing(tiny, tmp_path, capsys, monkeypatch, commands):
    results = tmp_path / "r.zarr"
    empty = run_cli(capsys, monkeypatch, *cli_args(tiny, results, "--judge", f"local:{tiny[0]}", "--gammas", ""))
    assert_one_line_error(empty, "the grid has no gammas")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    keyless = run_cli(capsys, monkeypatch, *cli_args(tiny, results))
    assert_one_line_error(keyless, "no API key for the judge: set OPENAI_API_KEY")
    assert not results.exists()
    monkeypatch.setenv("OPENAI_API_KEY", "nnvalues-test-key")
    down = run_cli(capsys, monkeypatch, *cli_args(tiny, results, "--judge", "openai:gpt-4o",
                                                  "--judge-base-url", f"http://127.0.0.1:{closed_port()}/v1"))
    assert_one_line_error(down, "cannot reach the judge")
    assert "nnvalues-test-key" not in down.err
    store = ResultsStore.open(results)
    (key,) = store.models()
    assert store.checkpoint_path(key, "heldout--self_enhancement--unedited").is_file()
    missing = run_cli(capsys, monkeypatch, "report", str(tmp_path / "nothing.zarr"))
    assert_one_line_error(missing, "does not exist")
