"""Where chance alone would put selected neurons: the count per layer (and in all) that a
rule selects when the polarity labels carry no information.

In a paired cell whose prompts are all paired, delta = (b - c) / pairs, with b the pairs
in which a neuron is active under the value's description only and c those active under
the reversed one only. Flipping the two labels of each pair at random leaves concordant
pairs alone and makes each of a neuron's d = b + c discordant pairs a fair coin, so
b ~ Binomial(d, 1/2) and delta = (2 b - d) / pairs.

- Threshold rule: each neuron's chance of passing follows exactly from the binomial tails;
  the expected count per layer is their sum. The 95% band of the total is simulated from
  the neurons' independent passes (neurons sharing d pass with the same probability).
- FDR rule: the Benjamini-Hochberg cut depends on every neuron at once, so whole cells
  are simulated: each draw flips every neuron's discordant pairs, recomputes McNemar's
  p-values (looked up in a table per (d, b)) and applies the cut.

Both treat neurons as independent: one pair's flip flips it for every neuron at once, so
correlated neurons make the true band wider. The cube keeps no per-pair data to do better.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from nnvalues.errors import UsageError
from nnvalues.select.chance import pass_probabilities
from nnvalues.select.significance import bh_qvalues, mcnemar_pvalues, validate_fdr

DEFAULT_DRAWS = 400

"""delta values this close to the threshold count as on it (float rounding)."""


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


def threshold_chance(cell: xr.Dataset, threshold: float, draws: int = DEFAULT_DRAWS,
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


def fdr_chance(cell: xr.Dataset, q: float, test: str = "mid-p", draws: int = DEFAULT_DRAWS,
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
