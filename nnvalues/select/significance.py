"""Per-neuron tests of p(+) != p(-), and Benjamini-Hochberg control of false discoveries.

The paper's fixed threshold ignores how many prompts were measured: with 10 prompts a
delta of 0.1 is one prompt's worth of noise, with 800 it is a clear effect. Testing each
neuron and controlling the false discovery rate makes the cut adapt to the evidence.

Paired cells (each question seen once after the value's description and once after its
reversed one) use McNemar's test on the discordant pairs: b pairs active only under the
value, c only under the reverse. Under no effect b ~ Binomial(b + c, 1/2). The exact
two-sided p-value is min(1, 2 P(X <= min(b, c))); the mid-p variant subtracts
P(X = min(b, c)), which keeps the error rate close to nominal without the exact test's
conservatism. Unpaired cells use Fisher's exact test on the 2x2 table of active and
inactive prompts per polarity. Both tests are on prompts, so a cell counted per token is
refused: its deltas are token fractions, which prompt-level p-values do not test.

The per-token mean activation is not confounded by prompt length the way eq. 3's sums are
(a longer description adds more tokens to m). Its test is a paired t test over questions:
d_i = mean activation per token under the value's description minus under the reversed one,
t = mean(d) / (sd(d) / sqrt(n)) with n - 1 degrees of freedom, from the sums of d and d^2
that `locate` keeps per neuron. Across hundreds of pairs the mean of d is close to normal,
whatever the activations' distribution; the counting rule does not enter.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from nnvalues.errors import UsageError

TESTS = ("mid-p", "exact")
PAIRED_T = "paired-t"


def mcnemar_pvalues(b: np.ndarray, c: np.ndarray, variant: str = "mid-p") -> np.ndarray:
    """Two-sided McNemar p-values from discordant counts (exact binomial or mid-p)."""
    if variant not in TESTS:
        raise UsageError(f"unknown test {variant!r}; choose from {', '.join(TESTS)}")
    b = np.asarray(b, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    n = b + c
    k = np.minimum(b, c)
    tail = 2.0 * stats.binom.cdf(k, n, 0.5)
    if variant == "mid-p":
        tail = tail - stats.binom.pmf(k, n, 0.5)
    return np.clip(tail, 0.0, 1.0)


def fisher_pvalues(active_pos: np.ndarray, n_pos: int, active_neg: np.ndarray,
                   n_neg: int) -> np.ndarray:
    """Two-sided Fisher exact p-values for active/inactive x positive/negative tables.

    Counts are small integers, so many neurons share a table: each distinct table is
    tested once.
    """
    a = np.asarray(active_pos, dtype=np.int64).ravel()
    c = np.asarray(active_neg, dtype=np.int64).ravel()
    tables, inverse = np.unique(np.stack([a, c], axis=1), axis=0, return_inverse=True)
    pvalues = np.array([
        stats.fisher_exact([[x, n_pos - x], [y, n_neg - y]]).pvalue for x, y in tables
    ])
    return pvalues[inverse.ravel()].reshape(np.shape(active_pos))


def bh_qvalues(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) over all neurons at once."""
    flat = np.asarray(pvalues, dtype=np.float64).ravel()
    return stats.false_discovery_control(flat, method="bh").reshape(np.shape(pvalues))


def validate_fdr(q: float) -> float:
    if not np.isfinite(q) or not 0 < q < 1:
        raise UsageError(f"`fdr` must be a rate between 0 and 1, such as 0.05 (got {q})")
    return q


def paired_t_pvalues(total: np.ndarray, total_sq: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided p-values and mean differences of a paired t test from sum(d) and sum(d^2).

    A neuron whose differences are all equal (sd 0) gets p = 1 when they are 0 and p = 0
    otherwise.
    """
    if n < 3:
        raise UsageError(f"the paired t test needs at least 3 pairs (this cell has {n}): "
                         "measure more prompts (nnvalues locate --limit)")
    total = np.asarray(total, dtype=np.float64)
    mean = total / n
    variance = np.maximum(np.asarray(total_sq, dtype=np.float64) - n * mean * mean, 0.0) / (n - 1)
    se = np.sqrt(variance / n)
    # Rounding leaves a tiny variance where every d is the same: treat it as exactly 0.
    degenerate = se <= 1e-12 * np.maximum(np.abs(mean), 1e-30)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(degenerate, 0.0, mean / np.where(degenerate, 1.0, se))
    pvalues = 2.0 * stats.t.sf(np.abs(t), df=n - 1)
    pvalues = np.where(degenerate, np.where(mean == 0, 1.0, 0.0), pvalues)
    return np.clip(pvalues, 0.0, 1.0), mean


def paired_mean_test(cell) -> tuple[np.ndarray, np.ndarray]:
    """[layer, neuron] p-values and mean per-token differences of one paired cell."""
    pairs = int(cell["pairs"])
    if pairs == 0:
        raise UsageError("the paired t test needs paired prompts (each question under both "
                         "descriptions); this cell is unpaired")
    if "pair_mean_diff" not in cell:
        raise UsageError("this cube was measured before nnvalues kept per-pair mean "
                         "differences: measure it again (nnvalues locate into a new --store) "
                         "to test the mean statistic")
    return paired_t_pvalues(cell["pair_mean_diff"].transpose("layer", "neuron").values,
                            cell["pair_mean_diff_sq"].transpose("layer", "neuron").values, pairs)


def cell_pvalues(cell, variant: str = "mid-p") -> tuple[np.ndarray, str]:
    """[layer, neuron] p-values of one cell and the name of the test that produced them."""
    if variant == PAIRED_T:
        return paired_mean_test(cell)[0], PAIRED_T
    pairs = int(cell["pairs"])
    counting = str(cell["counting"].values) if "counting" in cell.coords else "prompt"
    if counting != "prompt":
        # Both tests are on prompts; a token-counted cell's deltas are token fractions, and
        # pairing prompt-level p-values with them would test one thing and rank by another.
        raise UsageError(
            f"selection by significance tests prompts, but this cell is counted per {counting} "
            "(its deltas are token fractions, not prompt-level): use --threshold or --top-k, "
            "or locate with --counting prompt"
        )
    if pairs > 0:
        b = cell["positive_only"].values
        c = cell["negative_only"].values
        return mcnemar_pvalues(b, c, variant), f"mcnemar-{variant}"
    units = cell["units"]
    active = cell["active"]
    return fisher_pvalues(
        active.sel(polarity="positive").values, int(units.sel(polarity="positive")),
        active.sel(polarity="negative").values, int(units.sel(polarity="negative")),
    ), "fisher-exact"


def fdr_masks(deltas: np.ndarray, qvalues: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Value and opposite masks: discoveries at rate q, signed by delta."""
    discovered = qvalues <= validate_fdr(q)
    finite = np.nan_to_num(deltas, nan=0.0)
    return discovered & (finite > 0), discovered & (finite < 0)
