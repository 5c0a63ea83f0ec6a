"""Selection rules as small typed values, validated once, where they are made.

    nv.select(cube, dimension="conservation", rule=nv.FDR(0.05))

Every rule reads one cell (one model, one dimension: an `xarray.Dataset` with `layer`,
`neuron` and `polarity` axes) and returns a `Selection`. A rule also says how to describe
itself in a neuron set's provenance (`parameters()`) and why it chose nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Union

import numpy as np
import xarray as xr

from nnvalues.choices import Statistic, Test, check_choice
from nnvalues.cube.view import delta as cube_delta
from nnvalues.errors import UsageError
from nnvalues.select.selection import (
    PAPER_THRESHOLD,
    Selection,
    from_mask,
    random_control,
    threshold_rule,
    top_k_rule,
)
from nnvalues.select.significance import (
    PAIRED_T,
    bh_qvalues,
    cell_pvalues,
    fdr_masks,
    paired_mean_test,
    validate_fdr,
)

if TYPE_CHECKING:
    from nnvalues.select.neuron_set import NeuronSet

DEFAULT_FDR = 0.05


def cell_deltas(cell: xr.Dataset, statistic: Statistic = "probability") -> np.ndarray:
    """[layer, neuron] delta of one cell: p(+) - p(-), or the per-token mean difference."""
    return cube_delta(cell, statistic).transpose("layer", "neuron").values


def with_probability_effects(selection: Selection, cell: xr.Dataset) -> Selection:
    """The selection with p(+) - p(-) as each neuron's effect size (eq. 6 scales by it),
    whatever statistic chose the neurons and their roles."""
    deltas = cell_deltas(cell)[selection.layer, selection.neuron]
    return Selection(selection.layer, selection.neuron, np.nan_to_num(deltas, nan=0.0), selection.role)


def _check_statistic(rule: Any) -> None:
    check_choice(rule.statistic, Statistic, "statistic")


def _statistic_parameters(statistic: str) -> dict[str, Any]:
    return {} if statistic == "probability" else {"statistic": statistic}


@dataclass(frozen=True)
class Threshold:
    """The paper's rule: delta >= t marks the value, delta <= -t its opposite.

    `statistic="mean"` compares the per-token mean activation instead of p (t is then in
    activation units); the effect size each neuron is edited with stays p(+) - p(-).
    """

    value: float = PAPER_THRESHOLD
    statistic: Statistic = "probability"
    kind: ClassVar[str] = "threshold"

    def __post_init__(self) -> None:
        if not isinstance(self.value, (int, float)) or not math.isfinite(self.value) or self.value <= 0:
            raise UsageError(f"`threshold` must be a number > 0, such as {PAPER_THRESHOLD} (got {self.value})")
        _check_statistic(self)

    def choose(self, cell: xr.Dataset) -> Selection:
        chosen = threshold_rule(cell_deltas(cell, self.statistic), float(self.value))
        return chosen if self.statistic == "probability" else with_probability_effects(chosen, cell)

    def parameters(self) -> dict[str, Any]:
        return {"threshold": float(self.value), **_statistic_parameters(self.statistic)}

    def explain_empty(self, cell: xr.Dataset, where: str) -> str:
        deltas = np.nan_to_num(cell_deltas(cell, self.statistic), nan=0.0)
        largest = float(np.abs(deltas).max()) if deltas.size else 0.0
        if largest == 0:
            return f"every neuron of {where} has delta 0: measure more prompts (nnvalues locate --limit)"
        return (f"no neuron of {where} has |delta| >= {self.value:g} (the largest is {largest:.4g}); "
                f"try `threshold` {_round_down(largest)}")


@dataclass(frozen=True)
class TopK:
    """The k largest positive deltas (value) and the k most negative ones (opposite);
    `statistic` as for `Threshold`."""

    k: int
    statistic: Statistic = "probability"
    kind: ClassVar[str] = "top-k"

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, (int, float)) or int(self.k) != self.k or self.k < 1:
            raise UsageError(f"`top_k` must be a whole number >= 1 (got {self.k})")
        object.__setattr__(self, "k", int(self.k))
        _check_statistic(self)

    def choose(self, cell: xr.Dataset) -> Selection:
        chosen = top_k_rule(cell_deltas(cell, self.statistic), self.k)
        return chosen if self.statistic == "probability" else with_probability_effects(chosen, cell)

    def parameters(self) -> dict[str, Any]:
        return {"k": self.k, **_statistic_parameters(self.statistic)}

    def explain_empty(self, cell: xr.Dataset, where: str) -> str:
        return f"every neuron of {where} has delta 0: measure more prompts (nnvalues locate --limit)"


@dataclass(frozen=True)
class FDR:
    """Neurons whose p(+) != p(-) is significant at false discovery rate q.

    McNemar's test on the pairs' discordant counts (mid-p or exact) for paired cells,
    Fisher's exact test otherwise; Benjamini-Hochberg over all neurons of the cell.
    `test="paired-t"` tests the per-token mean activation difference over pairs instead
    (roles from its sign; effect sizes stay p(+) - p(-)), whatever the counting rule.
    """

    q: float = DEFAULT_FDR
    test: Test = "mid-p"
    kind: ClassVar[str] = "fdr"

    def __post_init__(self) -> None:
        if not isinstance(self.q, (int, float)):
            raise UsageError(f"`fdr` must be a rate between 0 and 1, such as 0.05 (got {self.q!r})")
        validate_fdr(float(self.q))
        check_choice(self.test, Test, "test")

    def choose(self, cell: xr.Dataset) -> Selection:
        if self.test != PAIRED_T:
            pvalues, _ = cell_pvalues(cell, self.test)
            deltas = cell_deltas(cell)
            return from_mask(deltas, *fdr_masks(deltas, bh_qvalues(pvalues), float(self.q)))
        pvalues, means = paired_mean_test(cell)
        chosen = from_mask(means, *fdr_masks(means, bh_qvalues(pvalues), float(self.q)))
        return with_probability_effects(chosen, cell)

    def parameters(self) -> dict[str, Any]:
        return {"fdr": float(self.q), "test": self.test}

    def test_name(self, cell: xr.Dataset) -> str:
        return cell_pvalues(cell, self.test)[1]

    def explain_empty(self, cell: xr.Dataset, where: str) -> str:
        pvalues, _ = cell_pvalues(cell, self.test)
        smallest = float(bh_qvalues(pvalues).min())
        hint = (f"the smallest q-value is {smallest:.3g}: try `fdr` {min(0.5, _round_up(smallest))} "
                "or measure more prompts" if smallest < 0.5 else
                "no neuron comes near significance: measure more prompts (nnvalues locate --limit)")
        return f"no neuron of {where} passes `fdr` {self.q:g}; {hint}"


@dataclass(frozen=True)
class RandomLike:
    """A random control: as many neurons as `base` chooses, none of them in it, with its
    roles and deltas, so only the place of the edit differs (the paper's Figure 5 control).

    `base` is a rule (applied to the same cell) or a neuron set already chosen.
    `match_layers` draws as many neurons per layer as the base has there.
    """

    base: "Rule | NeuronSet" = Threshold()
    seed: int = 0
    match_layers: bool = False
    exclude: Any = field(default=None, compare=False)
    """A [layer, neuron] mask of more neurons to avoid (e.g. the base rule's larger sets)."""
    kind: ClassVar[str] = "random"

    def __post_init__(self) -> None:
        if isinstance(self.base, RandomLike):
            raise UsageError("a random control needs a rule or a neuron set as its base, not another control")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UsageError(f"`seed` must be a whole number (got {self.seed!r})")

    def base_selection(self, cell: xr.Dataset) -> Selection:
        return self.base.selection if hasattr(self.base, "selection") else self.base.choose(cell)

    def choose(self, cell: xr.Dataset) -> Selection:
        shape = (cell.sizes["layer"], cell.sizes["neuron"])
        return random_control(self.base_selection(cell), shape, self.seed, self.match_layers,
                              self.exclude)

    @property
    def base_kind(self) -> str:
        return getattr(self.base, "kind", None) or getattr(self.base, "rule", "set")

    def parameters(self) -> dict[str, Any]:
        base = (self.base.parameters() if hasattr(self.base, "parameters") and callable(self.base.parameters)
                else dict(self.base.parameters))
        excluded = {} if self.exclude is None else {"excluded": int(np.sum(self.exclude))}
        return {**base, "random": True, "seed": self.seed, "match_layers": self.match_layers, **excluded}

    def explain_empty(self, cell: xr.Dataset, where: str) -> str:
        if hasattr(self.base, "explain_empty"):
            return self.base.explain_empty(cell, where)
        return f"the base neuron set of this control is empty ({where})"


Rule = Union[Threshold, TopK, FDR, RandomLike]
RULES: dict[str, type] = {r.kind: r for r in (Threshold, TopK, FDR, RandomLike)}


def rule_from_options(threshold: float | None = None, top_k: int | None = None,
                      fdr: float | None = None, test: str = "mid-p", random: bool = False,
                      seed: int = 0, match_layers: bool = False,
                      statistic: str = "probability") -> Rule:
    """The rule the command line's alternative options describe (default: the paper's)."""
    given = [(k, v) for k, v in (("threshold", threshold), ("top-k", top_k), ("fdr", fdr))
             if v is not None]
    if len(given) > 1:
        names = " and ".join(f"--{k}" for k, _ in given)
        raise UsageError(f"{names} are alternatives: give one selection rule")
    kind, value = given[0] if given else ("threshold", PAPER_THRESHOLD)
    check_choice(statistic, Statistic, "statistic")
    if kind == "fdr" and statistic == "mean":
        if test not in ("mid-p", PAIRED_T):
            raise UsageError(f"the mean statistic is tested by the paired t test: drop `test` {test}")
        test = PAIRED_T
    rule: Rule = (Threshold(value, statistic) if kind == "threshold"  # type: ignore[arg-type]
                  else TopK(value, statistic) if kind == "top-k"  # type: ignore[arg-type]
                  else FDR(value, test))  # type: ignore[arg-type]
    return RandomLike(rule, seed, match_layers) if random else rule


RULE_METHODS = ("choose", "parameters", "explain_empty")
"""What any other rule value (e.g. a baseline's, `nnvalues.baselines.Baseline`) provides."""


def check_rule(rule: Any) -> Rule:
    if not isinstance(rule, tuple(RULES.values())) and not (
            isinstance(getattr(rule, "kind", None), str)
            and all(callable(getattr(rule, name, None)) for name in RULE_METHODS)):
        raise UsageError(f"rule must be one of {', '.join(c.__name__ for c in RULES.values())} "
                         f"(got {type(rule).__name__})")
    return rule


def _round_down(x: float) -> float:
    step = 10 ** np.floor(np.log10(x))
    return float(np.floor(x / step) * step)


def _round_up(x: float) -> float:
    step = 10 ** np.floor(np.log10(x))
    return float(np.round(np.ceil(x / step) * step, 12))
