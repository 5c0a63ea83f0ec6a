"""Neuron selection: the paper's rule, top-k, random controls, significance with FDR control,
and named neuron sets, on stores written by the real writer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

import nnvalues
from nnvalues.cube.cells import cell_dataset
from nnvalues.cube.store import CubeStore, model_key
from nnvalues.errors import StoreError, UsageError
from nnvalues.select import (
    FDR, RandomLike, Threshold, TopK, list_sets, load_set, rule_counts, rule_from_options, select,
)
from nnvalues.select.selection import Selection, random_control, threshold_rule, top_k_rule
from nnvalues.select.significance import bh_qvalues, fisher_pvalues, mcnemar_pvalues
from nnvalues.stats.tally import Tally
from tests.cli import assert_one_line_error, run_cli

VALUE = [(0, 3), (1, 10), (2, 0)]
OPPOSITE = [(0, 7), (2, 25)]


def write_synthetic_store(path, *, model="synthetic", dimension="conservation", pairs=120,
                          paired=True, counting="prompt", n_layers=3, n_neurons=40, seed=0):
    """A store whose cell has planted value and opposite neurons among null ones.

    Each question is seen under both descriptions; a null neuron is active with probability
    0.5 under either, a value neuron 0.85 under the value and 0.3 under the reverse.
    """
    rng = np.random.default_rng(seed)
    q_pos = np.full((n_layers, n_neurons), 0.5)
    q_neg = np.full((n_layers, n_neurons), 0.5)
    for layer, neuron in VALUE:
        q_pos[layer, neuron], q_neg[layer, neuron] = 0.85, 0.3
    for layer, neuron in OPPOSITE:
        q_pos[layer, neuron], q_neg[layer, neuron] = 0.3, 0.85
    pos = rng.random((pairs, n_layers, n_neurons)) < q_pos
    neg = rng.random((pairs, n_layers, n_neurons)) < q_neg
    tally = Tally(n_layers, n_neurons)
    tally.active[:, 0] = pos.sum(0)
    tally.active[:, 1] = neg.sum(0)
    tally.activation_sum[:] = rng.normal(size=tally.activation_sum.shape) * 10
    if paired:
        tally.positive_only[:] = (pos & ~neg).sum(0)
        tally.negative_only[:] = (~pos & neg).sum(0)
        tally.pairs = pairs
    tally.prompts[:] = pairs
    tally.tokens[:] = pairs if counting == "token" else pairs * 20
    if counting == "token":
        tally.prompts[:] = pairs // 20
    settings = {"model": model, "model_revision": "rev-1", "model_source": "test",
                "n_layers": n_layers, "n_neurons": n_neurons, "dtype": "float32",
                "counting": counting, "template": "t", "template_mode": "raw", "template_sha256": "x"}
    store = CubeStore.open_or_create(path)
    store.ensure_model(model_key(model), settings)
    attrs = {**settings, "dimension": dimension, "data_fingerprint": f"d{seed}", "created": "now"}
    store.write_cell(model_key(model), dimension, cell_dataset(tally, counting, attrs))
    return path


def as_set(selection: Selection) -> set[tuple[int, int, str]]:
    return {(int(l), int(n), str(r)) for l, n, r in zip(selection.layer, selection.neuron, selection.role)}


# --- rules on plain arrays --------------------------------------------------------------

def test_threshold_rule_is_inclusive_and_ignores_nan():
    deltas = np.array([[0.03, 0.0299, -0.03, np.nan], [0.5, -0.2, 0.0, -0.0299]])
    chosen = as_set(threshold_rule(deltas, 0.03))
    assert chosen == {(0, 0, "value"), (0, 2, "opposite"), (1, 0, "value"), (1, 1, "opposite")}
    with pytest.raises(UsageError):
        threshold_rule(deltas, -0.1)


def test_top_k_takes_each_direction_and_skips_zero():
    deltas = np.array([[0.1, -0.4, 0.0], [0.3, 0.2, -0.1]])
    assert as_set(top_k_rule(deltas, 2)) == {(1, 0, "value"), (1, 1, "value"),
                                            (0, 1, "opposite"), (1, 2, "opposite")}
    # Asking for more than exist on one side gives what there is, never a zero-delta neuron.
    chosen = top_k_rule(deltas, 5)
    assert chosen.count("value") == 3 and chosen.count("opposite") == 2
    assert np.all(chosen.delta != 0)


@pytest.mark.parametrize("match_layers", [False, True])
def test_random_control_same_size_roles_and_strengths(match_layers):
    rng = np.random.default_rng(1)
    deltas = rng.normal(scale=0.05, size=(6, 50))
    base = threshold_rule(deltas, 0.08)
    control = random_control(base, deltas.shape, seed=4, match_layers=match_layers)
    assert len(control) == len(base)
    assert sorted(zip(control.role, control.delta)) == sorted(zip(base.role, base.delta))
    base_cells = set(zip(base.layer.tolist(), base.neuron.tolist()))
    control_cells = set(zip(control.layer.tolist(), control.neuron.tolist()))
    assert not base_cells & control_cells and len(control_cells) == len(base)
    if match_layers:
        assert np.array_equal(np.bincount(control.layer, minlength=6), np.bincount(base.layer, minlength=6))
    again = random_control(base, deltas.shape, seed=4, match_layers=match_layers)
    other = random_control(base, deltas.shape, seed=5, match_layers=match_layers)
    assert as_set(again) == as_set(control) and as_set(other) != as_set(control)


# --- significance -----------------------------------------------------------------------

def _mcnemar_by_hand(b: int, c: int, mid: bool) -> float:
    n, k = b + c, min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    point = math.comb(n, k) / 2**n
    return min(1.0, 2 * tail - (point if mid else 0.0))


def test_mcnemar_exact_and_mid_p():
    assert mcnemar_pvalues(np.array([10]), np.array([0]), "exact")[0] == pytest.approx(2 / 1024)
    assert mcnemar_pvalues(np.array([10]), np.array([0]), "mid-p")[0] == pytest.approx(1 / 1024)
    b = np.array([0, 3, 7, 12, 5, 40])
    c = np.array([0, 3, 1, 2, 9, 25])
    for variant, mid in (("exact", False), ("mid-p", True)):
        expected = [_mcnemar_by_hand(int(x), int(y), mid) for x, y in zip(b, c)]
        np.testing.assert_allclose(mcnemar_pvalues(b, c, variant), expected, rtol=1e-9)
    assert mcnemar_pvalues(b, c, "mid-p")[0] == 1.0  # no discordant pair: no evidence
    with pytest.raises(UsageError):
        mcnemar_pvalues(b, c, "chi2")


def test_fisher_on_known_tables():
    # Fisher's tea-tasting table: 3/4 vs 1/4, two-sided p = 17/35.
    p = fisher_pvalues(np.array([[3, 1], [3, 4]]), 4, np.array([[1, 3], [1, 0]]), 4)
    assert p[0, 0] == pytest.approx(17 / 35)
    assert p[0, 1] == pytest.approx(17 / 35)
    assert p[1, 1] == pytest.approx(stats.fisher_exact([[4, 0], [0, 4]]).pvalue)


def test_benjamini_hochberg_by_definition():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.001])
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 1.0
    for rank in range(m, 0, -1):
        running = min(running, p[order[rank - 1]] * m / rank)
        adjusted[order[rank - 1]] = running
    np.testing.assert_allclose(bh_qvalues(p), adjusted)


# --- selection from stores --------------------------------------------------------------

def test_threshold_selection_matches_the_cube(tiny_model_dir, prompts_file, tmp_path):
    store = tmp_path / "s.zarr"
    nnvalues.locate(str(tiny_model_dir("llama")), prompts=prompts_file, store=store,
                    show_progress=False)
    chosen = select(store, dimension="openness_to_change", rule=Threshold(0.1))
    cube = nnvalues.open_cube(store).isel(model=0, dimension=0)
    p = cube["active"].values / cube["units"].values  # [layer, neuron, polarity]
    delta = p[..., 0] - p[..., 1]
    assert chosen.count("value") == int(np.sum(delta >= 0.1)) > 0
    assert chosen.count("opposite") == int(np.sum(delta <= -0.1)) > 0
    np.testing.assert_allclose(chosen.selection.delta, delta[chosen.selection.layer, chosen.selection.neuron])
    assert chosen.model == str(cube["model"].values) and chosen.counting == "prompt"
    assert chosen.model_revision == str(cube["model_revision"].values)


def test_fdr_finds_the_planted_neurons(tmp_path):
    store = write_synthetic_store(tmp_path / "s.zarr")
    chosen = select(store, rule=FDR(0.05))
    assert as_set(chosen.selection) == {(l, n, "value") for l, n in VALUE} | \
        {(l, n, "opposite") for l, n in OPPOSITE}
    assert chosen.parameters["test"] == "mcnemar-mid-p"
    # The paper's fixed cut lets null neurons in: 120 pairs make deltas of 0.03 common noise.
    loose = select(store, rule=Threshold(0.03))
    assert len(loose) > 10 * len(chosen)
    exact = select(store, rule=FDR(0.05, "exact"))
    assert len(exact) <= len(chosen) and exact.parameters["test"] == "mcnemar-exact"
    rows = {r["rule"]: r for r in rule_counts(store)}
    assert (rows["fdr"]["value"], rows["fdr"]["opposite"]) == (3, 2)
    assert rows["threshold"]["value"] == loose.count("value")


def test_unpaired_cells_use_fisher_and_token_counts_are_refused(tmp_path):
    unpaired = write_synthetic_store(tmp_path / "u.zarr", paired=False)
    chosen = select(unpaired, rule=FDR(0.05))
    assert chosen.parameters["test"] == "fisher-exact"
    planted = {(l, n, "value") for l, n in VALUE} | {(l, n, "opposite") for l, n in OPPOSITE}
    assert as_set(chosen.selection) >= planted and len(chosen) <= len(planted) + 2
    tokens = write_synthetic_store(tmp_path / "t.zarr", paired=False, counting="token")
    with pytest.raises(UsageError, match="counted per token"):
        select(tokens, rule=FDR(0.05))
    # Paired token counts too: prompt-level McNemar p-values must not rank token deltas.
    paired_tokens = write_synthetic_store(tmp_path / "pt.zarr", counting="token")
    with pytest.raises(UsageError, match="counted per token .*token fractions"):
        select(paired_tokens, rule=FDR(0.05))
    assert len(select(paired_tokens, rule=TopK(2))) > 0


def test_random_control_and_saved_sets(tmp_path):
    store = write_synthetic_store(tmp_path / "s.zarr")
    base = select(store, rule=TopK(4))
    control = select(store, rule=RandomLike(TopK(4), seed=2, match_layers=True), name="ctl")
    assert len(control) == len(base) == 8 and control.random
    assert not {(l, n) for l, n, _ in as_set(control.selection)} & {(l, n) for l, n, _ in as_set(base.selection)}
    assert control.cube_fingerprint == base.cube_fingerprint
    assert (store / "neuron_sets" / "ctl.json").is_file() and list_sets(store) == ["ctl"]
    loaded = load_set(store, "ctl")
    assert loaded.table().equals(control.table())
    assert loaded.provenance() == {**control.provenance(), "name": "ctl"}
    assert loaded.parameters == {"k": 4, "random": True, "seed": 2, "match_layers": True}
    np.testing.assert_allclose(loaded.activation_scale, control.activation_scale)
    # The store's cube is untouched by the sets folder.
    assert nnvalues.open_cube(store).sizes["model"] == 1
    with pytest.raises(UsageError, match="no neuron set 'missing'.*ctl"):
        load_set(store, "missing")
    with pytest.raises(UsageError, match="bad neuron set name"):
        select(store, rule=TopK(2), name="../escape")


def test_bad_selections(tmp_path):
    store = write_synthetic_store(tmp_path / "s.zarr")
    with pytest.raises(UsageError, match="the largest is .*try `threshold`"):
        select(store, rule=Threshold(0.9))
    with pytest.raises(UsageError, match="alternatives"):
        rule_from_options(threshold=0.1, top_k=3)
    with pytest.raises(UsageError, match="`fdr` must be"):
        FDR(1.5)
    with pytest.raises(StoreError, match="not other-model"):
        select(store, model="other-model")
    with pytest.raises(UsageError, match="unknown dimension 'kindness'"):
        select(store, dimension="kindness")
    with pytest.raises(StoreError, match="no measurement of synthetic on openness_to_change"):
        select(store, dimension="openness_to_change")
    with pytest.raises(StoreError, match="other weights"):
        select(store, revision="rev-2")
    few = write_synthetic_store(tmp_path / "few.zarr", pairs=4)
    with pytest.raises(UsageError, match="passes `fdr` 0.05.*measure more prompts"):
        select(few, rule=FDR(0.05))


# --- command line -----------------------------------------------------------------------

@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(capsys, monkeypatch, *args)


def test_select_command(cli, tmp_path):
    store = write_synthetic_store(tmp_path / "s.zarr")
    report = cli("select", "--store", store)
    assert report.code == 0, report.err
    assert "conservation" in report.out and "mcnemar-mid-p" in report.out
    saved = cli("select", "--store", store, "--dimension", "conservation", "--fdr", "0.05",
                "--name", "sig", "--out", tmp_path / "sig.csv")
    assert saved.code == 0, saved.err
    assert "saved as 'sig'" in saved.out
    assert (tmp_path / "sig.csv").read_text().splitlines()[0].startswith("layer,neuron,delta,role")
    data = json.loads((store / "neuron_sets" / "sig.json").read_text())
    assert data["rule"] == "fdr" and data["store"] == str(store) and len(data["neurons"]["layer"]) == 5
    listed = cli("select", "--store", store, "--list")
    assert listed.code == 0 and "sig" in listed.out


@pytest.mark.parametrize(("args", "fragment"), [
    (("--dimension", "kindness"), "unknown dimension 'kindness'"),
    (("--dimension", "conservation", "--threshold", "0.95"), "try --threshold"),
    (("--model", "other"), "not other"),
    (("--top-k", "3"), "need a --dimension"),
])
def test_select_bad_input(cli, tmp_path, args, fragment):
    store = write_synthetic_store(tmp_path / "s.zarr")
    assert_one_line_error(cli("select", "--store", store, *args), fragment)
