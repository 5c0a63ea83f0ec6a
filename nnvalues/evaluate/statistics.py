"""Paired statistics for "is the effect real": bootstrap intervals, sign-flip tests,
multiple-testing corrections, and pooling over the seeds of a random control.

Every comparison here is paired: the same questions (or questionnaire items) are scored
under two conditions, and what is tested is the per-unit difference.

- Interval: the percentile bootstrap of the mean (units resampled with replacement,
  seeded, `DEFAULT_RESAMPLES` >= 2,000 resamples).
- p-value: the paired sign-flip permutation test of the mean difference, two-sided. Under
  "no effect" each unit's difference is as likely positive as negative, so flipping signs
  at random gives the null distribution of the mean. Exact (all 2^n sign vectors) up to
  `EXACT_UP_TO` units, otherwise Monte Carlo with `DEFAULT_FLIPS` seeded draws and
  p = (1 + hits) / (1 + draws), which is never 0 and never below the test's resolution.
- Corrections over a table of p-values: Holm (family-wise error) and Benjamini-Hochberg
  (false discovery rate); NaN p-values (untested cells) are left out and stay NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from nnvalues.errors import UsageError

DEFAULT_RESAMPLES = 4000
DEFAULT_FLIPS = 20000
EXACT_UP_TO = 14
LEVEL = 0.95
CORRECTIONS = ("holm", "bh")


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def bootstrap_ci(values: Sequence[float] | np.ndarray, resamples: int = DEFAULT_RESAMPLES,
                 seed: int = 0, level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (NaNs dropped first)."""
    if resamples < 2000:
        raise UsageError(f"the bootstrap needs at least 2000 resamples (got {resamples})")
    data = _finite(values)
    if data.size == 0:
        return np.nan, np.nan
    if data.size == 1:
        return float(data[0]), float(data[0])
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // data.size)  # bounds the [chunk, n] index array
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        picks = rng.integers(0, data.size, size=(stop - start, data.size))
        means[start:stop] = data[picks].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def sign_flip_pvalue(differences: Sequence[float] | np.ndarray, flips: int = DEFAULT_FLIPS,
                     seed: int = 0) -> float:
    """Two-sided paired sign-flip permutation test of mean(differences) = 0."""
    data = _finite(differences)
    n = data.size
    if n == 0:
        return np.nan
    observed = abs(data.mean())
    tolerance = 1e-12 * max(1.0, float(np.abs(data).max()))
    if n <= EXACT_UP_TO:
        signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)
        null = np.abs(signs @ data) / n
        return float(np.mean(null >= observed - tolerance))
    rng = np.random.default_rng(seed)
    hits = 0
    chunk = max(1, 2_000_000 // n)
    for start in range(0, flips, chunk):
        size = min(chunk, flips - start)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(size, n))
        hits += int(np.sum(np.abs(signs @ data) / n >= observed - tolerance))
    return (1.0 + hits) / (1.0 + flips)


@dataclass(frozen=True)
class Estimate:
    """A mean over paired units with its interval and (for a difference) its p-value."""

    n: int
    mean: float
    ci_low: float
    ci_high: float
    p_value: float = np.nan

    @classmethod
    def empty(cls) -> "Estimate":
        return cls(0, np.nan, np.nan, np.nan)


def estimate(values: Sequence[float] | np.ndarray, seed: int = 0,
             resamples: int = DEFAULT_RESAMPLES, test: bool = False) -> Estimate:
    """Mean and bootstrap interval of `values`; with `test`, the sign-flip p-value of mean 0."""
    data = _finite(values)
    if data.size == 0:
        return Estimate.empty()
    low, high = bootstrap_ci(data, resamples, seed)
    p_value = sign_flip_pvalue(data, seed=seed) if test else np.nan
    return Estimate(int(data.size), float(data.mean()), low, high, p_value)


def paired_difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                      seed: int = 0, resamples: int = DEFAULT_RESAMPLES) -> Estimate:
    """a - b over the units where both are finite: mean, bootstrap interval, sign-flip p."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    return estimate(a - b, seed, resamples, test=True)


def _ranked(pvalues: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p as float array, NaN output of its shape, indices of the finite p in ascending order)."""
    p = np.asarray(pvalues, dtype=np.float64)
    tested = np.flatnonzero(np.isfinite(p))
    return p, np.full(p.shape, np.nan), tested[np.argsort(p[tested], kind="stable")]


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control); NaN stays NaN."""
    p, out, order = _ranked(pvalues)
    m = order.size
    if m:
        out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out


def benjamini_hochberg(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate); NaN stays NaN."""
    p, out, order = _ranked(pvalues)
    m = order.size
    if m:
        scaled = p[order] * m / np.arange(1, m + 1)
        out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def adjust(pvalues: Sequence[float] | np.ndarray, method: str) -> np.ndarray:
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    raise UsageError(f"unknown correction {method!r}; choose from {', '.join(CORRECTIONS)}")


@dataclass(frozen=True)
class PooledSeeds:
    """A random control over several seeds: the per-unit mean over seeds, and the spread."""

    per_unit: np.ndarray
    """[units] mean over the seeds that scored each unit."""
    seed_means: np.ndarray
    """[seeds] each seed's mean over units."""

    @property
    def seeds(self) -> int:
        return int(self.seed_means.size)

    @property
    def between_seed_sd(self) -> float:
        finite = _finite(self.seed_means)
        return float(np.std(finite, ddof=1)) if finite.size > 1 else np.nan


def pool_seeds(per_seed: Sequence[Sequence[float]] | np.ndarray) -> PooledSeeds:
    """Pool a [seeds, units] table of one control drawn with several seeds."""
    table = np.asarray(per_seed, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] == 0:
        raise ValueError("pool_seeds needs a [seeds, units] table with at least one seed")
    with np.errstate(all="ignore"):
        counts = np.isfinite(table).sum(axis=0)
        sums = np.nansum(table, axis=0)
        per_unit = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        seed_counts = np.isfinite(table).sum(axis=1)
        seed_means = np.where(seed_counts > 0, np.nansum(table, axis=1) / np.maximum(seed_counts, 1),
                              np.nan)
    return PooledSeeds(per_unit, seed_means)
