"""The per-token mean activation difference as a selection statistic, and its paired t test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import nnvalues
from nnvalues.errors import UsageError
from nnvalues.select.rules import FDR, Threshold, TopK, cell_deltas, rule_from_options
from nnvalues.select.significance import paired_mean_test, paired_t_pvalues
from tests.test_statistics import reference_statistics


def test_paired_t_matches_scipy():
    rng = np.random.default_rng(3)
    d = rng.normal(0.05, 0.2, size=(40, 6, 9))
    d[:, 0, 0] = 0.0  # every difference 0: no evidence at all
    d[:, 0, 1] = 0.25  # every difference equal and not 0: certain
    pvalues, means = paired_t_pvalues(d.sum(axis=0), (d * d).sum(axis=0), d.shape[0])
    expected = stats.ttest_1samp(d.reshape(40, -1)[:, 2:], 0.0, axis=0).pvalue
    np.testing.assert_allclose(pvalues.ravel()[2:], expected, rtol=1e-8)
    np.testing.assert_allclose(means, d.mean(axis=0))
    assert pvalues[0, 0] == 1.0 and pvalues[0, 1] == 0.0


def test_paired_t_needs_three_pairs():
    with pytest.raises(UsageError, match="at least 3 pairs"):
        paired_t_pvalues(np.zeros(3), np.zeros(3), 2)


@pytest.mark.parametrize("kind", ["llama", "gemma3"])
def test_fdr_on_the_mean_against_an_independent_test(kind, tiny_model_dir, prompts_file, tmp_path):
    model_dir = tiny_model_dir(kind)
    cube = nnvalues.locate(str(model_dir), prompts=prompts_file, batch_size=4, show_progress=False)
    cell = cube.isel(model=0, dimension=0)
    d = reference_statistics(model_dir, prompts_file, "prompt")["differences"]
    pvalues, means = paired_mean_test(cell)
    np.testing.assert_allclose(pvalues, stats.ttest_1samp(d, 0.0, axis=0).pvalue, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(means, d.mean(axis=0), rtol=1e-4, atol=1e-6)
    # A rate high enough that this tiny cell discovers something, so the masks are checked.
    q = 0.5
    chosen = FDR(q, "paired-t").choose(cell)
    qvalues = stats.false_discovery_control(stats.ttest_1samp(d, 0.0, axis=0).pvalue.ravel(),
                                            method="bh").reshape(means.shape)
    expected_value = (qvalues <= q) & (means > 0)
    expected_opposite = (qvalues <= q) & (means < 0)
    assert chosen.count("value") == int(expected_value.sum())
    assert chosen.count("opposite") == int(expected_opposite.sum())
    assert len(chosen) > 0
    # Effect sizes stay eq. 5's delta of p, whatever chose the neurons.
    p_delta = cell_deltas(cell)
    np.testing.assert_allclose(chosen.delta, p_delta[chosen.layer, chosen.neuron])


def test_rules_rank_by_the_mean_when_asked(tiny_model_dir, prompts_file):
    cube = nnvalues.locate(str(tiny_model_dir("llama")), prompts=prompts_file, batch_size=4,
                           show_progress=False)
    cell = cube.isel(model=0, dimension=0)
    means = cell_deltas(cell, "mean")
    top = TopK(3, "mean").choose(cell)
    order = np.argsort(means.ravel())
    assert sorted(zip(top.layer[top.role == "value"], top.neuron[top.role == "value"])) == sorted(
        zip(*np.unravel_index(order[::-1][:3], means.shape)))
    cut = float(np.sort(np.abs(means).ravel())[-5])
    chosen = Threshold(cut, "mean").choose(cell)
    assert len(chosen) == int(np.sum(np.abs(means) >= cut))
    assert Threshold(cut, "mean").parameters() == {"threshold": cut, "statistic": "mean"}
    neurons = nnvalues.select(cube, rule=TopK(3, "mean"))
    assert neurons.parameters["statistic"] == "mean"


def test_mean_statistic_options():
    assert rule_from_options(fdr=0.05, statistic="mean") == FDR(0.05, "paired-t")
    with pytest.raises(UsageError, match="paired t"):
        rule_from_options(fdr=0.05, test="exact", statistic="mean")
    with pytest.raises(UsageError, match="unknown statistic"):
        TopK(5, "median")  # type: ignore[arg-type]


def test_cube_without_pair_means_is_refused_in_one_line(tiny_model_dir, prompts_file):
    cube = nnvalues.locate(str(tiny_model_dir("llama")), prompts=prompts_file, batch_size=4,
                           show_progress=False)
    old = cube.drop_vars(["pair_mean_diff", "pair_mean_diff_sq"])
    with pytest.raises(UsageError, match="measure it again"):
        nnvalues.select(old, rule=FDR(0.05, "paired-t"))
