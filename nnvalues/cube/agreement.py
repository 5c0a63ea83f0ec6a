"""How closely two measurements of one cell agree, and two sets of generated answers.

Used to show what running a model in bfloat16 instead of float32 changes (the same
prompts, two dtypes) next to the sampling noise of the method (two halves of the prompts,
one dtype): the share of identical active counts, the correlation of delta, and the
Jaccard overlap of the neurons each selection rule picks.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from nnvalues.cube.view import delta
from nnvalues.select.rules import FDR, Rule, Threshold, TopK
from nnvalues.select.selection import Selection
COUNTS = ("active", "activation_sum", "positive_only", "negative_only", "units", "prompts",
          "tokens", "pairs")


def standard_rules(top_k: int = 500, fdr: float = 0.05) -> dict[str, Rule]:
    """The paper's threshold, Benjamini-Hochberg FDR and top-k, by name."""
    return {"paper threshold 0.03": Threshold(), f"fdr {fdr:g}": FDR(fdr), f"top-{top_k}": TopK(top_k)}


def jaccard(a: Selection, b: Selection) -> float:
    """|A & B| / |A | B| over (layer, neuron, role); 1.0 when both sets are empty."""
    first, second = _members(a), _members(b)
    union = first | second
    return len(first & second) / len(union) if union else 1.0


def _members(selection: Selection) -> set[tuple[int, int, str]]:
    return set(zip(selection.layer.tolist(), selection.neuron.tolist(), selection.role.tolist()))


def compare_cells(a: xr.Dataset, b: xr.Dataset, rules: Mapping[str, Rule]) -> dict[str, object]:
    """Agreement of two cells of the same model (same layer and neuron axes)."""
    if a["active"].shape != b["active"].shape:
        raise ValueError("the cells measure models of different shapes")
    deltas = [np.nan_to_num(delta(c).transpose("layer", "neuron").values).ravel() for c in (a, b)]
    per_rule = {}
    for name, rule in rules.items():
        first, second = rule.choose(a), rule.choose(b)
        per_rule[name] = {"jaccard": jaccard(first, second), "sizes": [len(first), len(second)]}
    return {
        "identical_active_counts": float(np.mean(a["active"].values == b["active"].values)),
        "identical_discordant_counts": float(np.mean(
            (a["positive_only"].values == b["positive_only"].values)
            & (a["negative_only"].values == b["negative_only"].values))),
        "delta_correlation": float(np.corrcoef(deltas[0], deltas[1])[0, 1]),
        "delta_max_abs_difference": float(np.max(np.abs(deltas[0] - deltas[1]))),
        "rules": per_rule,
    }


def pool_cells(cells: Sequence[xr.Dataset]) -> xr.Dataset:
    """One cell holding the counts of several measured on disjoint prompts of one model."""
    pooled = cells[0].copy()
    for name in COUNTS:
        pooled[name] = sum((cell[name] for cell in cells[1:]), cells[0][name])
    return pooled


def token_agreement(a: Sequence[Sequence[int]], b: Sequence[Sequence[int]]) -> dict[str, float]:
    """Identical answers, and the share of tokens generated before two answers part.

    `agreeing_tokens` is the mean over answers of (common prefix length) / (longer length).
    """
    if len(a) != len(b):
        raise ValueError("the answer lists differ in length")
    common = []
    for first, second in zip(a, b):
        length = 0
        while length < min(len(first), len(second)) and first[length] == second[length]:
            length += 1
        common.append(length / max(len(first), len(second), 1))
    return {"identical_answers": float(np.mean([list(x) == list(y) for x, y in zip(a, b)])),
            "agreeing_tokens": float(np.mean(common))}
