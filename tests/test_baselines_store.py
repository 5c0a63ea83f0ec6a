"""The score store and baseline neuron sets: provenance, resume, refusal to mix, roles and
sizes, and the command line."""

from __future__ import annotations

import numpy as np
import pytest

import nnvalues
from nnvalues.baselines import TargetRule, baseline_set, score
from nnvalues.baselines.selection import rank_matched
from nnvalues.baselines.store import ScoreStore
from nnvalues.errors import StoreError, UsageError
from nnvalues.select import select as select_neurons
from tests.cli import assert_one_line_error, run_cli
from tests.conftest import make_records, write_jsonl


class Interrupt(Exception):
    pass


def run(model_dir, prompts, store, method, **options):
    return score(str(model_dir), method=method, prompts=prompts, store=store,
                 show_progress=False, **options)


@pytest.fixture
def paired_file(tmp_path):
    return write_jsonl(tmp_path / "pairs.jsonl", make_records(paired=5))


def test_score_cell_keeps_provenance_and_is_not_measured_twice(tiny_model_dir, paired_file, tmp_path):
    store = tmp_path / "b.zarr"
    (summary,) = run(tiny_model_dir("llama"), paired_file, store, "qrnca", steps=3, batch_size=4)
    assert summary.status == "measured" and summary.prompts == 10
    label = nnvalues.load_model(str(tiny_model_dir("llama"))).name
    cell = ScoreStore.open(store).open_scores(label, "qrnca", "openness_to_change")
    assert cell["score"].dims == ("layer", "neuron", "polarity")
    assert cell["prompts"].values.tolist() == [5, 5]
    assert cell.attrs["parameters"]["steps"] == 3
    for name in ("target_rule", "target_tokens", "model_revision", "template_sha256",
                 "data_fingerprint", "seconds"):
        assert name in cell.attrs, name
    (again,) = run(tiny_model_dir("llama"), paired_file, store, "qrnca", steps=3, batch_size=4)
    assert again.status == "already stored"
    with pytest.raises(StoreError, match="steps"):
        run(tiny_model_dir("llama"), paired_file, store, "qrnca", steps=4)
    with pytest.raises(StoreError, match="not an nnvalues score store"):
        ScoreStore.open(_cube(tiny_model_dir, paired_file, tmp_path))  # an activation store


def _cube(tiny_model_dir, prompts, tmp_path):
    cube = tmp_path / "cube.zarr"
    if not cube.exists():
        nnvalues.locate(str(tiny_model_dir("llama")), prompts=prompts, store=cube,
                        show_progress=False)
    return cube


def test_interrupted_scoring_resumes_to_the_same_scores(tiny_model_dir, paired_file, tmp_path):
    model = tiny_model_dir("qwen2")
    run(model, paired_file, tmp_path / "full.zarr", "lpip", batch_size=2)

    def stop(dimension, done):
        raise Interrupt

    cut = tmp_path / "cut.zarr"
    with pytest.raises(Interrupt):
        run(model, paired_file, cut, "lpip", batch_size=2, on_batch=stop)
    (summary,) = run(model, paired_file, cut, "lpip", batch_size=4)
    assert summary.status == "resumed"
    label = nnvalues.load_model(str(model)).name
    full = ScoreStore.open(tmp_path / "full.zarr").open_scores(label, "lpip", "openness_to_change")
    resumed = ScoreStore.open(cut).open_scores(label, "lpip", "openness_to_change")
    np.testing.assert_allclose(full["score"].values, resumed["score"].values, rtol=1e-4, atol=1e-5)
    assert full["targets"].values.tolist() == resumed["targets"].values.tolist()
    assert not any((cut / ".checkpoints").rglob("*.npz"))


def test_bad_input_writes_nothing(tiny_model_dir, prompts_file, paired_file, tmp_path):
    store = tmp_path / "b.zarr"
    with pytest.raises(UsageError, match="pair"):  # prompts_file has unpaired records
        run(tiny_model_dir("llama"), prompts_file, store, "atp")
    with pytest.raises(UsageError, match="answer"):
        run(tiny_model_dir("llama"), paired_file, store, "cgvst", targets=TargetRule("reference"))
    with pytest.raises(UsageError, match="unknown baseline"):
        run(tiny_model_dir("llama"), paired_file, store, "lpjp")
    assert not store.exists()


def test_reference_targets_are_the_records_answers(tiny_model_dir, tmp_path):
    rows = make_records(paired=2)
    for row in rows:
        row["answer"] = "I would stay." if row["polarity"] == "positive" else "Go!"
    prompts = write_jsonl(tmp_path / "answers.jsonl", rows)
    (summary,) = run(tiny_model_dir("gpt2"), prompts, tmp_path / "b.zarr", "cgvst",
                     targets=TargetRule("reference", tokens=5))
    label = nnvalues.load_model(str(tiny_model_dir("gpt2"))).name
    cell = ScoreStore.open(tmp_path / "b.zarr").open_scores(label, "cgvst", "openness_to_change")
    assert cell["targets"].values.tolist() == [2 * 5, 2 * 3]  # byte tokens, cut at 5
    assert cell.attrs["target_rule"] == "reference"


def test_baseline_set_roles_sizes_and_effect(tiny_model_dir, paired_file, tmp_path):
    cube = _cube(tiny_model_dir, paired_file, tmp_path)
    scores = tmp_path / "b.zarr"
    run(tiny_model_dir("llama"), paired_file, scores, "cgvst", batch_size=4)
    reference = select_neurons(cube, dimension="openness_to_change")
    chosen = baseline_set(cube, scores, None, "openness_to_change", "cgvst")
    label = reference.model
    cell = ScoreStore.open(scores).open_scores(label, "cgvst", "openness_to_change")
    difference = (cell["score"].sel(polarity="positive") - cell["score"].sel(polarity="negative")).values
    s = chosen.selection
    for role, sign in (("value", 1), ("opposite", -1)):
        members = s.role == role
        assert members.sum() == min(reference.count(role), int((sign * difference > 0).sum()))
        assert np.all(sign * difference[s.layer[members], s.neuron[members]] > 0)
        assert np.all(sign * s.delta[members] > 0)
        # The strongest scores of the role were taken.
        taken = sign * difference[s.layer[members], s.neuron[members]]
        others = np.ones(difference.shape, bool)
        others[s.layer[members], s.neuron[members]] = False
        assert taken.min() >= (sign * difference[others]).max()
        # Effect sizes are the ValueLocate deltas of the same rank.
        expected = np.sort(np.abs(reference.selection.delta[reference.selection.role == role]))[::-1]
        np.testing.assert_allclose(np.sort(np.abs(s.delta[members]))[::-1], expected[:members.sum()])
        order = np.argsort(-taken)
        assert np.all(np.diff(np.abs(s.delta[members])[order]) <= 0)
    five = baseline_set(cube, scores, None, "openness_to_change", "cgvst", per_role=5)
    assert five.count("value") == 5 and five.count("opposite") == 5
    assert five.rule == "cgvst" and five.extra["target_rule"] == "greedy"


def test_rank_matching_spreads_over_quantiles():
    np.testing.assert_allclose(rank_matched(np.array([0.5, 0.3, 0.1]), 3), [0.5, 0.3, 0.1])
    np.testing.assert_allclose(rank_matched(np.array([0.5, 0.1]), 3), [0.5, 0.3, 0.1])
    np.testing.assert_allclose(rank_matched(np.zeros(0), 2), [0.03, 0.03])


def test_meandiff_reads_the_cube(tiny_model_dir, paired_file, tmp_path):
    cube = _cube(tiny_model_dir, paired_file, tmp_path)
    scores = tmp_path / "b.zarr"
    (summary,) = score(method="meandiff", dimensions=["openness_to_change"], cube=cube,
                       store=scores, model=None, show_progress=False)
    cell = nnvalues.open_cube(cube).isel(model=0, dimension=0)
    means = (cell["activation_sum"] / cell["tokens"]).transpose("layer", "neuron", "polarity")
    stored = ScoreStore.open(scores).open_scores(summary.model, "meandiff", "openness_to_change")
    np.testing.assert_allclose(stored["score"].values, means.values)


def test_select_method_on_the_command_line(capsys, monkeypatch, tiny_model_dir, paired_file, tmp_path):
    cube = _cube(tiny_model_dir, paired_file, tmp_path)
    scores = tmp_path / "b.zarr"
    result = run_cli(capsys, monkeypatch, "baselines", "score", "--method", "atp", "--model",
                     tiny_model_dir("llama"), "--prompts", paired_file, "--store", scores, "--quiet")
    assert result.code == 0, result.err
    result = run_cli(capsys, monkeypatch, "select", "--store", cube, "--method", "atp", "--scores",
                     scores, "--dimension", "openness_to_change", "--per-role", "3", "--name", "atp3")
    assert result.code == 0, result.err
    assert "atp" in result.out and "3 value + 3 opposite" in result.out
    assert nnvalues.load_set(cube, "atp3").rule == "atp"
    missing = run_cli(capsys, monkeypatch, "select", "--store", cube, "--method", "lpip",
                      "--scores", scores, "--dimension", "openness_to_change")
    assert_one_line_error(missing, "baselines score --method lpip")
