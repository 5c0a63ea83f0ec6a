"""The package helpers behind the figures: chance levels against brute-force label flips,
Jaccard by hand, the PVQ40 key against the taxonomy, and which evidence rows a figure shows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from nnvalues.errors import UsageError
from nnvalues.figures import Skip
from nnvalues.figures.effects import method_and_control, methods_by_dimension
from nnvalues.figures.neuron_figures import jaccard
from nnvalues.figures.pvq_profile import CIRCLE, PVQ40_KEY, item_profile
from nnvalues.select.chance import fdr_chance, threshold_chance
from nnvalues.select.selection import Selection
from nnvalues.taxonomy import DIMENSIONS

PAIRS = 12


def paired_cell(seed: int = 0, layers: int = 3, neurons: int = 30) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    b = rng.integers(0, 6, size=(layers, neurons))
    c = rng.integers(0, 6, size=(layers, neurons))
    b[0, :4], c[0, :4] = 11, 0  # a few strong neurons for FDR to find
    dims = ("layer", "neuron")
    return xr.Dataset({"positive_only": (dims, b), "negative_only": (dims, c), "pairs": PAIRS,
                       "units": ("polarity", [PAIRS, PAIRS])},
                      coords={"polarity": ["positive", "negative"], "counting": "prompt"})


def flips(cell: xr.Dataset, trials: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: flip every discordant pair of every neuron with a fair coin."""
    rng = np.random.default_rng(seed)
    d = (cell["positive_only"] + cell["negative_only"]).values
    b = rng.binomial(np.broadcast_to(d, (trials, *d.shape)), 0.5)
    return b, d


def test_threshold_chance_per_layer_matches_brute_force_flips():
    cell = paired_cell()
    level = threshold_chance(cell, 0.25, draws=4000, seed=1)
    b, d = flips(cell, 4000, seed=2)
    passed = np.abs((2 * b - d) / PAIRS) >= 0.25 - 1e-9
    per_layer = passed.sum(axis=2).mean(axis=0)
    spread = passed.sum(axis=2).std(axis=0) / np.sqrt(4000)
    np.testing.assert_array_less(np.abs(level.per_layer - per_layer), 4 * spread + 1e-9)
    low, high = np.quantile(passed.sum(axis=(1, 2)), [0.025, 0.975])
    assert abs(level.low - low) <= 2 and abs(level.high - high) <= 2
    # d = 1 of 12 pairs can reach |delta| = 1/12 only: passes t = 0.05 always, t = 0.1 never.
    one = paired_cell().assign(positive_only=(("layer", "neuron"), np.ones((1, 5), int)),
                               negative_only=(("layer", "neuron"), np.zeros((1, 5), int)))
    assert threshold_chance(one, 0.05).expected == 5 and threshold_chance(one, 0.1).expected == 0


def test_fdr_chance_matches_brute_force_with_scipy_tests():
    cell = paired_cell(3)
    level = fdr_chance(cell, 0.2, test="exact", draws=300, seed=4)
    b, d = flips(cell, 300, seed=5)
    cache: dict[tuple[int, int], float] = {}

    def pvalue(k: int, n: int) -> float:
        if (k, n) not in cache:
            cache[(k, n)] = stats.binomtest(k, n).pvalue if n else 1.0
        return cache[(k, n)]
    counts = []
    for draw in b:
        p = np.vectorize(pvalue)(draw, d)
        q = stats.false_discovery_control(p.ravel()).reshape(p.shape)
        counts.append(((q <= 0.2) & (2 * draw != d)).sum(axis=1))
    counts = np.array(counts)
    assert level.per_layer == pytest.approx(counts.mean(axis=0), abs=4 * counts.std(axis=0).max() / np.sqrt(300) + 0.05)


def test_chance_needs_all_prompts_paired():
    cell = paired_cell().assign(units=("polarity", [PAIRS + 3, PAIRS]))
    with pytest.raises(UsageError, match="all paired"):
        threshold_chance(cell, 0.1)
    with pytest.raises(UsageError, match="threshold must be"):
        threshold_chance(paired_cell(), 0)


def test_jaccard_by_hand():
    a = Selection(np.array([0, 0, 1]), np.array([1, 2, 3]), np.array([.1, .1, -.1]),
                  np.array(["value", "value", "opposite"]))
    b = Selection(np.array([0, 1]), np.array([2, 3]), np.array([.1, .1]), np.array(["value", "value"]))
    assert jaccard(a, b, "value") == pytest.approx(1 / 3)  # {(0,1),(0,2)} vs {(0,2),(1,3)}
    assert jaccard(a, b) == pytest.approx(2 / 3)


def test_pvq40_key_covers_each_item_once_and_agrees_with_the_taxonomy():
    numbers = sorted(n for items in PVQ40_KEY.values() for n in items)
    assert numbers == list(range(1, 41)) and set(PVQ40_KEY) == set(CIRCLE)
    held = {b.id for d in DIMENSIONS for b in d.basic_values}
    assert set(CIRCLE) == held
    profile = item_profile(np.array(["pvq40-02", "pvq40-17", "pvq40-01", "other"]), np.array([1.0, 2.0, -1.0, 9.0]))
    assert profile["power"] == 1.5 and profile["self_direction"] == -1.0 and np.isnan(profile["tradition"])


def evidence_rows() -> pd.DataFrame:
    rows = []
    for method, control in (("unedited", ""), ("paper", ""), ("random", "paper"), ("fdr", ""), ("random", "fdr")):
        for gamma in ((0.0,) if method == "unedited" else (1.0, 2.0)):
            threshold = 0.03 if "paper" in (method, control) else 0.0
            rows.append({"model": "m", "set": "heldout", "method": method, "control_of": control,
                         "dimension": "conservation", "measured_dimension": "conservation",
                         "direction": "none" if method == "unedited" else "positive", "gamma": gamma,
                         "neurons": 0, "threshold": threshold, "metric": "contrast", "n": 5,
                         "mean": gamma + len(method), "ci_low": 0.0, "ci_high": 9.0})
    return pd.DataFrame(rows)


def test_a_figure_shows_one_method_and_its_control_and_tables_show_every_method():
    rows = method_and_control(evidence_rows(), "contrast", "fdr", "gamma")
    assert sorted(set(rows["series"])) == ["FDR", "Random (FDR)"] and sorted(set(rows["gamma"])) == [1.0, 2.0]
    table = methods_by_dimension(evidence_rows(), "contrast", "positive")
    assert list(table["Method"]) == ["Unedited", "Random (FDR)", "Random (ValueLocate t=0.03)", "FDR",
                                     "ValueLocate t=0.03"]
    assert table.loc[table["Method"] == "FDR", "Conservation"].iloc[0] == "+5.000 [+0.000, +9.000]"  # gamma 2
    with pytest.raises(Skip, match="no gamma 5"):
        methods_by_dimension(evidence_rows(), "contrast", "positive", gamma=5.0)
    with pytest.raises(Skip, match="one neurons only"):
        method_and_control(evidence_rows(), "contrast", "paper", "neurons")
