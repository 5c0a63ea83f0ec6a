"""The chance level of a selection rule: how many neurons (in all, and per layer) it would
select if the polarity labels carried no information.

In a paired cell, delta = (b - c) / pairs, where b counts the pairs in which a neuron is
active under the value's description only and c those active under the reversed one only.
Flipping the two labels of a pair at random leaves concordant pairs alone and makes each
of a neuron's d = b + c discordant pairs a fair coin: b ~ Binomial(d, 1/2), so
delta = (2 b - d) / pairs. A neuron's chance of passing follows exactly from the binomial
tails, and the expected count is their sum over neurons (exact).

The 95% band is simulated: neurons sharing a discordant count d pass independently with
the same probability, so the count is a sum of binomials, drawn `draws` times (seeded).
This treats neurons as independent; flipping a pair flips it for every neuron at once, so
correlated neurons widen the true band. The cube keeps no per-pair data to do better.

For the FDR rule the Benjamini-Hochberg cut depends on every neuron at once, so whole cells
are simulated: each draw flips every neuron's discordant pairs, looks up McNemar's p-values
in a table per (d, b) and applies the cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import stats

from nnvalues.errors import UsageError
from nnvalues.select.significance import bh_qvalues, mcnemar_pvalues, validate_fdr

DEFAULT_DRAWS = 4000
CELL_DRAWS = 400
"""Draws of the per-layer and FDR chance levels, which simulate whole cells."""
TOLERANCE = 1e-9
"""delta values this close to the threshold count as on it (float rounding)."""


@dataclass(frozen=True)
class ChanceLevel:
    threshold: float
    pairs: int
    expected_value: float
    expected_opposite: float
    low: int
    high: int
    """2.5% and 97.5% points of the simulated count (value + opposite)."""
    draws: int

    @property
    def expected(self) -> float:
        return self.expected_value + self.expected_opposite

    def describe(self) -> str:
        return f"{self.expected:.1f} [{self.low}-{self.high}]"


def pass_probabilities(discordant: np.ndarray, pairs: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """P(delta >= t) and P(delta <= -t) under random flips, for each discordant count."""
    d = np.asarray(discordant, dtype=np.int64)
    value = np.zeros(d.shape)
    opposite = np.zeros(d.shape)
    for count in np.unique(d):
        k = np.arange(count + 1)
        delta = (2 * k - count) / pairs
        pmf = stats.binom.pmf(k, count, 0.5)
        here = d == count
        value[here] = pmf[delta >= threshold - TOLERANCE].sum()
        opposite[here] = pmf[delta <= -threshold + TOLERANCE].sum()
    return value, opposite


def chance_level(positive_only: np.ndarray, negative_only: np.ndarray, pairs: int, threshold: float,
                 draws: int = DEFAULT_DRAWS, seed: int = 0) -> ChanceLevel:
    """Expected count (exact) and 95% band (simulated) of neurons passing by chance."""
    if pairs < 1:
        raise UsageError("the chance level needs paired prompts (this cell has no pairs)")
    if not np.isfinite(threshold) or threshold <= 0:
        raise UsageError(f"the threshold must be a number > 0 (got {threshold})")
    discordant = (np.asarray(positive_only, dtype=np.int64) + np.asarray(negative_only, dtype=np.int64)).ravel()
    counts, sizes = np.unique(discordant, return_counts=True)
    value, opposite = pass_probabilities(counts, pairs, threshold)
    rng = np.random.default_rng(seed)
    passing = np.minimum(value + opposite, 1.0)
    totals = rng.binomial(sizes[None, :], passing[None, :], size=(draws, counts.size)).sum(axis=1)
    low, high = np.quantile(totals, [0.025, 0.975])
    return ChanceLevel(float(threshold), int(pairs), float(np.sum(sizes * value)),
                       float(np.sum(sizes * opposite)), int(np.floor(low)), int(np.ceil(high)), draws)


def cell_chance_level(cell, threshold: float, draws: int = DEFAULT_DRAWS, seed: int = 0) -> ChanceLevel | None:
    """The chance level of one cube cell, or None when it is not paired."""
    pairs = int(cell["pairs"])
    if pairs < 1:
        return None
    return chance_level(cell["positive_only"].values, cell["negative_only"].values, pairs, threshold,
                        draws, seed)


@dataclass(frozen=True)
class ChanceCount:
    """Neurons selected by chance in one cell: expected per layer, and the total's band."""

    per_layer: np.ndarray
    low: float
    high: float
    """2.5% and 97.5% points of the total count (value + opposite)."""

    @property
    def expected(self) -> float:
        return float(self.per_layer.sum())


def discordant_counts(cell: xr.Dataset) -> tuple[np.ndarray, np.ndarray, int]:
    """[layer, neuron] b and c, and the number of pairs, of a cell whose prompts are all paired."""
    pairs = int(cell["pairs"])
    units = cell["units"].values
    if pairs < 1 or np.any(units != pairs) or str(cell["counting"].values) != "prompt":
        raise UsageError("the chance level needs a cell counted per prompt whose prompts are all "
                         f"paired (this one: {pairs} pairs, {units.tolist()} prompts, counting "
                         f"{cell['counting'].values}); measure paired data with `nnvalues locate`")
    b = cell["positive_only"].transpose("layer", "neuron").values.astype(np.int64)
    c = cell["negative_only"].transpose("layer", "neuron").values.astype(np.int64)
    return b, c, pairs


def threshold_chance(cell: xr.Dataset, threshold: float, draws: int = CELL_DRAWS,
                     seed: int = 0) -> ChanceCount:
    """Neurons with |delta| >= threshold under random flips: exact per layer, simulated band."""
    if not np.isfinite(threshold) or threshold <= 0:
        raise UsageError(f"the threshold must be a number > 0, such as 0.03 (got {threshold})")
    b, c, pairs = discordant_counts(cell)
    counts, inverse, sizes = np.unique(b + c, return_inverse=True, return_counts=True)
    value, opposite = pass_probabilities(counts, pairs, threshold)
    passing = np.minimum(value + opposite, 1.0)
    per_layer = passing[inverse.reshape(b.shape)].sum(axis=1)
    totals = np.random.default_rng(seed).binomial(sizes[None, :], passing[None, :],
                                                  size=(draws, counts.size)).sum(axis=1)
    low, high = np.quantile(totals, [0.025, 0.975])
    return ChanceCount(per_layer, float(low), float(high))


def fdr_chance(cell: xr.Dataset, q: float, test: str = "mid-p", draws: int = CELL_DRAWS,
               seed: int = 0) -> ChanceCount:
    """Neurons discovered at false discovery rate q under random flips (simulated)."""
    validate_fdr(q)
    b, c, _ = discordant_counts(cell)
    d = (b + c).ravel()
    top = int(d.max()) if d.size else 0
    n, k = np.meshgrid(np.arange(top + 1), np.arange(top + 1), indexing="ij")
    table = np.where(k <= n, mcnemar_pvalues(np.minimum(k, n), np.maximum(n - k, 0), test), 1.0)
    rng = np.random.default_rng(seed)
    per_layer = np.zeros(b.shape[0])
    totals = np.empty(draws)
    for draw in range(draws):
        flipped = rng.binomial(d, 0.5)
        discovered = (bh_qvalues(table[d, flipped]) <= q) & (2 * flipped != d)
        layers = discovered.reshape(b.shape).sum(axis=1)
        per_layer += layers
        totals[draw] = layers.sum()
    low, high = np.quantile(totals, [0.025, 0.975])
    return ChanceCount(per_layer / draws, float(low), float(high))
