"""Judge-free evaluation end to end on a tiny model and cube: no judge, no key; the random
controls; the reference answers kept and reused; the specificity and threshold axes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import nnvalues
from nnvalues.errors import UsageError
from nnvalues.evaluate import Grid, ResultsStore, evaluate, evidence_table
from nnvalues.evaluate.likelihood import answer_logprobs, mean_logprob
from nnvalues.evaluate.likert import Instrument, LikertItem
from nnvalues.evaluate.neurons import SelectionOptions, grid_sets
from nnvalues.evaluate.questions import load_questions
from nnvalues.evaluate.references import FOLDER, Reference
from nnvalues.intervene import GenerationSettings
from nnvalues.intervene.edits import build_edit
from nnvalues.intervene.questions import render_questions
from nnvalues.select import load_set
from tests.cli import run_cli
from tests.conftest import measure_cube
from tests.test_evaluate import commands  # noqa: F401  (the CLI fixture)

DIMS = ("openness_to_change", "self_enhancement")
ITEMS = (LikertItem("p1", "Trying new things is important to me.", ("openness_to_change",)),
         LikertItem("p2", "I want people to admire what I do.", ("self_enhancement",)),
         LikertItem("p3", "I avoid anything new.", ("openness_to_change",), agreement=-1),
         LikertItem("p4", "Traditions matter to me.", ("conservation",)))
PVQ = Instrument("pvq40", (1, 2, 3, 4, 5, 6), "1 = not like me at all, 6 = very much like me", True, ITEMS)
JUDGE_FREE = ("contrast", "likert", "fluency")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir, tmp_path_factory):
    model = tiny_model_dir("llama")
    root = tmp_path_factory.mktemp("judge-free")
    measure_cube(model, root, DIMS)
    return model, root / "cube.zarr"


def run(tiny, results, grid, **options):
    model, cube = tiny
    options = {"limit": 3, "settings": GenerationSettings(max_new_tokens=4, batch_size=8),
               "reference_tokens": 6, "instruments": [PVQ], "show_progress": False, **options}
    return evaluate(grid, None, cube=cube, results=results, metrics=JUDGE_FREE, **options)


def test_judge_free_cells_hold_contrast_fluency_and_ratings(tiny, tmp_path):
    model, cube = tiny
    results = tmp_path / "r.zarr"
    grid = Grid(models=(str(model),), methods=("paper", "random"), dimensions=("self_enhancement",),
                seeds=2, measure_dimensions=DIMS)
    plan = run(tiny, results, grid, dry_run=True).plan
    # unedited x 2 measured dims; (paper + 2 random seeds) x 2 measured dims
    assert (plan.cells, plan.generations, plan.judgements) == (8, 0, 0)
    assert plan.references == 2 * 3 * 2 and plan.scored_questions == 8 * 3
    assert "teacher-forced" in plan.describe()
    done = run(tiny, results, grid)
    assert done.cells_written == 8
    store = ResultsStore.open(results)
    (key,) = store.models()
    assert store.settings["judge"] == {"kind": "none"} and sorted(store.settings["metrics"]) == sorted(JUDGE_FREE)
    name = "heldout--self_enhancement--paper-t0.03--positive--g2--n0--on-openness_to_change"
    cell = store.read_cell(key, name)
    assert cell.attrs["measured_dimension"] == "openness_to_change"
    np.testing.assert_allclose(cell["contrast"], cell["loglik_value"] - cell["loglik_reversed"])
    assert np.all(cell["loglik_value"].values < 0)
    assert set(cell["item"].values) == {i.id for i in ITEMS}
    assert np.all((cell["likert_rating"] >= 1) & (cell["likert_rating"] <= 6))
    assert np.all((cell["likert_mass"] > 0) & (cell["likert_mass"] <= 1))
    # The stored contrast is the teacher-forced one, recomputed here from the kept references.
    kept = json.loads((results / FOLDER / key / "heldout--openness_to_change.json").read_text())
    references = [Reference.from_json(r) for r in kept["references"]]
    loaded = nnvalues.load_model(str(model))
    items = load_questions("heldout", "openness_to_change", 3)
    prompts, _ = render_questions(loaded.tokenizer, [i.text for i in items])
    edit = build_edit(load_set(results, cell.attrs["neuron_set"]), "positive", 2.0)
    for n, (prompt, ref) in enumerate(zip(prompts, references)):
        v, r = answer_logprobs(loaded, prompt.input_ids, [ref.value_ids, ref.reversed_ids], edit)
        assert cell["contrast"].values[n] == pytest.approx(mean_logprob(v) - mean_logprob(r), abs=1e-5)
    table = evidence_table(results)
    assert {"contrast", "fluency", "likert-pvq40"} <= set(table.metric)
    likert = table[(table.metric == "likert-pvq40") & (table.method == "paper")
                   & (table.measured_dimension == "openness_to_change")].iloc[0]
    assert likert.n == 2  # p1 and p3 measure openness


def test_references_are_generated_once_and_reused(tiny, tmp_path, monkeypatch):
    model, _ = tiny
    results = tmp_path / "r.zarr"
    first = Grid(models=(str(model),), methods=("paper",), dimensions=("self_enhancement",))
    run(tiny, results, first)
    import nnvalues.evaluate.references as references

    monkeypatch.setattr(references, "generate", lambda *a, **k: pytest.fail("generated again"))
    more = Grid(models=(str(model),), methods=("paper",), dimensions=("self_enhancement",),
                directions=("negative",), gammas=(0.0, 2.0))
    assert run(tiny, results, more, dry_run=True).plan.references == 0
    assert run(tiny, results, more).cells_written == 2


def test_random_controls_avoid_every_size_of_the_reference_and_match_layers(tiny):
    model, cube = tiny
    grid = Grid(models=(str(model),), methods=("paper", "random"), dimensions=("self_enhancement",),
                thresholds=(0.1, 0.2), neurons=(0, 2), seeds=3)
    sets = grid_sets(cube, nnvalues.load_model(str(model)).name, grid, SelectionOptions())
    widest = sets[("self_enhancement", "paper-t0.1", 0)].selection
    taken = set(zip(widest.layer.tolist(), widest.neuron.tolist()))
    assert sets[("self_enhancement", "paper-t0.2", 2)].selection.layer.size <= 4
    drawn = [(k, s) for k, s in sets.items() if k[1].startswith("random-")]
    assert len(drawn) == 2 * 2 * 3  # thresholds x counts x seeds
    for (dim, name, count), control in drawn:
        reference = sets[(dim, name.split("random-")[1].rsplit("-s", 1)[0], count)].selection
        chosen = set(zip(control.selection.layer.tolist(), control.selection.neuron.tolist()))
        assert not chosen & taken
        assert sorted(control.selection.layer.tolist()) == sorted(reference.layer.tolist())
        assert sorted(control.selection.role.tolist()) == sorted(reference.role.tolist())
    seeds = {frozenset(zip(s.selection.layer.tolist(), s.selection.neuron.tolist()))
             for (d, n, c), s in drawn if n.startswith("random-paper-t0.1") and c == 0}
    assert len(seeds) == 3


def test_geval_needs_a_judge_and_remote_needs_geval(tiny, tmp_path):
    model, cube = tiny
    grid = Grid(models=(str(model),), dimensions=("self_enhancement",))
    with pytest.raises(UsageError, match="the geval metric needs a judge"):
        evaluate(grid, None, cube=cube, results=tmp_path / "r", metrics=("geval",))
    with pytest.raises(UsageError, match="unknown metric 'bleu'"):
        evaluate(grid, None, cube=cube, results=tmp_path / "r", metrics=("bleu",))
    assert not (tmp_path / "r").exists()


def test_cli_judge_none_needs_no_key_and_writes_the_csv(tiny, tmp_path, capsys, monkeypatch, commands):  # noqa: F811
    model, cube = tiny
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    results = tmp_path / "r.zarr"
    done = run_cli(capsys, monkeypatch, "evaluate", "--models", str(model), "--store", str(cube),
                   "--results", str(results), "--dimensions", "self_enhancement", "--limit", "2",
                   "--judge", "none", "--metrics", "contrast,fluency", "--methods", "paper,random",
                   "--seeds", "2", "--directions", "positive,negative", "--reference-tokens", "4",
                   "--quiet")
    assert done.code == 0, done.err
    assert "7 cells written" in done.out
    shown = run_cli(capsys, monkeypatch, "report", str(results), "--csv", str(tmp_path / "e.csv"),
                    "--correction", "bh")
    assert shown.code == 0, shown.err
    assert "paired differences" in shown.out and "after BH" in shown.out
    csv = pd.read_csv(tmp_path / "e.csv")
    wanted = ["model", "set", "method", "dimension", "measured_dimension", "direction", "gamma",
              "neurons", "threshold", "metric", "n", "mean", "ci_low", "ci_high", "diff_unedited",
              "diff_unedited_ci_low", "diff_unedited_ci_high", "diff_random", "diff_random_ci_low",
              "diff_random_ci_high", "p_value"]
    assert list(csv.columns[:len(wanted) + 1]) == wanted[:3] + ["control_of"] + wanted[3:]
    paper = csv[(csv.method == "paper") & (csv.metric == "contrast")]
    assert len(paper) == 2 and paper["n"].eq(2).all() and paper["diff_random"].notna().all()
