"""Paired statistics against hand computations and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nnvalues.errors import UsageError
from nnvalues.evaluate.statistics import (
    adjust,
    benjamini_hochberg,
    bootstrap_ci,
    estimate,
    holm,
    paired_difference,
    pool_seeds,
    sign_flip_pvalue,
)


def test_sign_flip_exact_by_hand_and_against_scipy():
    # d = 1, 2, 3: the 8 sign vectors give sums +-6, +-4, +-2, 0, 0; |sum| >= 6 twice.
    assert sign_flip_pvalue([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)
    rng = np.random.default_rng(3)
    for n in (5, 9, 12):
        d = rng.normal(0.4, 1.0, n)
        ref = stats.permutation_test((d,), np.mean, permutation_type="samples",
                                     n_resamples=np.inf, alternative="two-sided")
        assert sign_flip_pvalue(d) == pytest.approx(ref.pvalue, abs=1e-12)


def test_sign_flip_monte_carlo_agrees_with_scipy_and_is_seeded():
    d = np.random.default_rng(5).normal(0.3, 1.0, 40)
    ref = stats.permutation_test((d,), np.mean, permutation_type="samples",
                                 n_resamples=200_000, alternative="two-sided", rng=1)
    ours = sign_flip_pvalue(d, seed=2)
    assert ours == pytest.approx(ref.pvalue, abs=0.01)
    assert ours == sign_flip_pvalue(d, seed=2)
    assert ours > 0  # (1 + hits) / (1 + draws) is never 0
    assert sign_flip_pvalue(np.full(30, 5.0)) == pytest.approx(1 / (1 + 20000))


def test_bootstrap_interval_by_hand_and_against_scipy():
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert bootstrap_ci([7.0]) == (7.0, 7.0)
    lo, hi = bootstrap_ci([0.0, 1.0], resamples=20000, seed=0)
    # Means of two draws from {0, 1}: 0 (1/4), 0.5 (1/2), 1 (1/4): the 2.5/97.5% points.
    assert (lo, hi) == (0.0, 1.0)
    x = np.random.default_rng(0).normal(1.0, 2.0, 60)
    ref = stats.bootstrap((x,), np.mean, method="percentile", n_resamples=20000, rng=0,
                          confidence_level=0.95).confidence_interval
    lo, hi = bootstrap_ci(x, resamples=20000, seed=1)
    assert lo == pytest.approx(ref.low, abs=0.05) and hi == pytest.approx(ref.high, abs=0.05)
    assert bootstrap_ci(x, seed=4) == bootstrap_ci(x, seed=4)
    with pytest.raises(UsageError, match="at least 2000 resamples"):
        bootstrap_ci(x, resamples=500)


def test_paired_difference_uses_units_where_both_are_known():
    a = np.array([3.0, 4.0, np.nan, 6.0, 2.0])
    b = np.array([1.0, 1.0, 5.0, np.nan, 1.0])
    result = paired_difference(a, b)
    assert result.n == 3 and result.mean == pytest.approx((2 + 3 + 1) / 3)
    assert result.p_value == pytest.approx(sign_flip_pvalue([2.0, 3.0, 1.0]))
    assert result.ci_low <= result.mean <= result.ci_high
    assert np.isnan(estimate([]).mean) and estimate([]).n == 0
    assert np.isnan(estimate([1.0, 2.0]).p_value)  # a level, not a test


def test_holm_and_bh_by_hand_and_against_scipy():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # Holm: sorted 0.005x4, 0.01x3, 0.03x2, 0.04x1 = .02 .03 .06 .04 -> running max.
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])
    # BH: sorted .005x4/1, .01x4/2, .03x4/3, .04x4/4 = .02 .02 .04 .04 -> running min from the top.
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02])
    q = np.random.default_rng(1).uniform(size=50) ** 3
    np.testing.assert_allclose(benjamini_hochberg(q), stats.false_discovery_control(q, method="bh"))
    with_nan = np.array([0.01, np.nan, 0.02])
    np.testing.assert_allclose(adjust(with_nan, "holm"), [0.02, np.nan, 0.02])
    with pytest.raises(UsageError, match="unknown correction"):
        adjust(p, "bonferroni")


def test_pooling_over_seeds():
    table = [[1.0, 2.0, 3.0], [3.0, np.nan, 5.0]]
    pooled = pool_seeds(table)
    np.testing.assert_allclose(pooled.per_unit, [2.0, 2.0, 4.0])
    np.testing.assert_allclose(pooled.seed_means, [2.0, 4.0])
    assert pooled.seeds == 2 and pooled.between_seed_sd == pytest.approx(np.std([2.0, 4.0], ddof=1))
    assert np.isnan(pool_seeds([[1.0, 2.0]]).between_seed_sd)
