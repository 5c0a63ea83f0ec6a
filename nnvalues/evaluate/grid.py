"""The experiment grid: models x methods x dimensions x directions x gammas x neuron counts
x thresholds x sets, and the dimensions each edit is measured on.

Every combination is one cell of the results store: one model, edited with the neurons of
one dimension, measured on one evaluation set's questions of one dimension (its own, or
another for the specificity matrix). Each (model, set, measured dimension) also has one
unedited cell, the baseline. The random method is a control of every selection method in
the grid (of the paper's rule when it is alone), drawn with `seeds` independent seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from nnvalues.errors import UsageError
from nnvalues.intervene.edits import DIRECTIONS, check_direction, check_gamma
from nnvalues.select import PAPER_THRESHOLD
from nnvalues.baselines.run import METHODS as BASELINE_METHODS
from nnvalues.taxonomy import DIMENSION_IDS
from nnvalues.taxonomy import dimension as lookup_dimension

METHODS: dict[str, str] = {
    "paper": "ValueLocate: |delta| >= threshold (paper eq. 5)",
    "top-k": "the k largest and k most negative deltas",
    "random": "random control of each selection method: same size, roles, deltas and per-layer counts",
    "fdr": "neurons significant at a false discovery rate (Benjamini-Hochberg)",
    **{name: f"baseline: {text} (sized and weighted like the paper's set)"
       for name, text in BASELINE_METHODS.items()},
}
SETS: dict[str, str] = {
    "heldout": "held-out ValueInsight questions (the shipped data set's evaluate split)",
    "pvq40": "PVQ40 portraits as questions",
    "valuebench": "ValueBench items as questions",
}
UNEDITED = "unedited"
RANDOM = "random"
NO_DIRECTION = "none"
ALL_NEURONS = 0
"""Neuron count 0: every neuron the method selects."""
NO_THRESHOLD = 0.0
"""The threshold of methods that use none (top-k, FDR, and the unedited model)."""


@dataclass(frozen=True)
class Condition:
    """One edit: how neurons were chosen, and how they were changed."""

    method: str
    direction: str
    gamma: float
    neurons: int
    threshold: float = NO_THRESHOLD
    base: str = ""
    """Random controls: the selection method they copy."""
    seed: int = -1
    """Random controls: which of the grid's seeds (0 .. seeds-1)."""

    @property
    def selection(self) -> str:
        """What chose the neurons, e.g. "paper-t0.03", "fdr", "random-paper-t0.03-s2"."""
        own = self.base if self.method == RANDOM else self.method
        label = f"{own}-t{self.threshold:g}" if own == "paper" else own
        return f"random-{label}-s{self.seed}" if self.method == RANDOM else label

    @property
    def reference(self) -> "Condition":
        """The selection a random control copies (itself for a selection method)."""
        if self.method != RANDOM:
            return self
        return Condition(self.base, self.direction, self.gamma, self.neurons, self.threshold)

    @property
    def name(self) -> str:
        if self.method == UNEDITED:
            return UNEDITED
        return f"{self.selection}--{self.direction}--g{self.gamma:g}--n{self.neurons}"

    @classmethod
    def unedited(cls) -> "Condition":
        return cls(UNEDITED, NO_DIRECTION, 0.0, ALL_NEURONS)


@dataclass(frozen=True)
class Cell:
    model: str
    set: str
    dimension: str
    """The dimension whose neurons are edited (the measured one for the unedited model)."""
    condition: Condition
    measured: str = ""
    """The dimension the cell's questions and scores are about (default: `dimension`)."""

    def __post_init__(self) -> None:
        if not self.measured:
            object.__setattr__(self, "measured", self.dimension)

    @property
    def name(self) -> str:
        """The cell's folder inside its model's group."""
        own = f"{self.set}--{self.dimension}--{self.condition.name}"
        return own if self.measured == self.dimension else f"{own}--on-{self.measured}"


def _axis(name: str, values: Iterable, option: str, example: str) -> tuple:
    kept = tuple(dict.fromkeys(values))
    if not kept:
        raise UsageError(f"the grid has no {name}: give at least one with {option} (e.g. {option} {example})")
    return kept


@dataclass(frozen=True)
class Grid:
    models: tuple[str, ...]
    methods: tuple[str, ...] = ("paper",)
    dimensions: tuple[str, ...] = DIMENSION_IDS
    directions: tuple[str, ...] = ("positive",)
    gammas: tuple[float, ...] = (2.0,)
    neurons: tuple[int, ...] = (ALL_NEURONS,)
    sets: tuple[str, ...] = ("heldout",)
    thresholds: tuple[float, ...] = (PAPER_THRESHOLD,)
    """The paper's rule (and its random control) at each threshold."""
    seeds: int = 5
    """Independent draws of every random control."""
    measure_dimensions: tuple[str, ...] = ()
    """Dimensions each edit is also measured on (the specificity matrix); () = its own only."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "models", _axis("models", self.models, "--models", "smollm2-135m"))
        methods = _axis("methods", self.methods, "--methods", "paper,random")
        for method in methods:
            if method not in METHODS:
                raise UsageError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
        set_(self, "methods", methods)
        dimensions = _axis("dimensions", self.dimensions, "--dimensions", "conservation")
        for name in dimensions:
            lookup_dimension(name)
        set_(self, "dimensions", tuple(d for d in DIMENSION_IDS if d in dimensions))
        set_(self, "directions", tuple(check_direction(d) for d in
                                       _axis("directions", self.directions, "--directions", "positive,negative")))
        gammas = tuple(check_gamma(g) for g in _axis("gammas", self.gammas, "--gammas", "2.0"))
        set_(self, "gammas", tuple(dict.fromkeys(gammas)))
        neurons = _axis("neuron counts", self.neurons, "--neurons", "all,50")
        for count in neurons:
            if int(count) != count or count < 0:
                raise UsageError(f"a neuron count must be a whole number >= 1, or all (got {count})")
        set_(self, "neurons", tuple(int(n) for n in neurons))
        sets = _axis("evaluation sets", self.sets, "--sets", "heldout")
        for name in sets:
            if name not in SETS:
                raise UsageError(f"unknown evaluation set {name!r}; choose from {', '.join(SETS)}")
        set_(self, "sets", sets)
        thresholds = _axis("thresholds", self.thresholds, "--thresholds", "0.03")
        for threshold in thresholds:
            if not math.isfinite(threshold) or threshold <= 0:
                raise UsageError(f"a threshold must be a number > 0, such as 0.03 (got {threshold})")
        set_(self, "thresholds", tuple(float(t) for t in thresholds))
        if int(self.seeds) != self.seeds or self.seeds < 1:
            raise UsageError(f"`seeds` must be a whole number >= 1 (got {self.seeds})")
        for name in self.measure_dimensions:
            lookup_dimension(name)
        set_(self, "measure_dimensions", tuple(d for d in DIMENSION_IDS if d in self.measure_dimensions))

    @property
    def selection_methods(self) -> tuple[str, ...]:
        """The methods random controls copy: every non-random one, or the paper's alone."""
        chosen = tuple(m for m in self.methods if m != RANDOM)
        return chosen or ("paper",)

    def _selections(self, method: str) -> list[tuple[str, float]]:
        """(method, threshold) pairs: the paper's rule per threshold, others once."""
        return [(method, t) for t in self.thresholds] if method == "paper" else [(method, NO_THRESHOLD)]

    def conditions(self) -> list[Condition]:
        chosen = []
        for method in self.methods:
            for d in self.directions:
                for g in self.gammas:
                    for n in self.neurons:
                        if method != RANDOM:
                            chosen += [Condition(m, d, g, n, t) for m, t in self._selections(method)]
                            continue
                        chosen += [Condition(RANDOM, d, g, n, t, base, s)
                                   for base in self.selection_methods
                                   for _, t in self._selections(base) for s in range(self.seeds)]
        return chosen

    def measured_for(self, dimension: str) -> tuple[str, ...]:
        return (dimension, *(d for d in self.measure_dimensions if d != dimension))

    def cells(self, model: str) -> Iterator[Cell]:
        """The unedited cells first, then the edited ones, per set and dimension."""
        conditions = self.conditions()
        for set_name in self.sets:
            measured = [d for d in DIMENSION_IDS if d in self.dimensions or d in self.measure_dimensions]
            for dim in measured:
                yield Cell(model, set_name, dim, Condition.unedited())
            for dim in self.dimensions:
                for on in self.measured_for(dim):
                    for condition in conditions:
                        yield Cell(model, set_name, dim, condition, on)


def parse_neurons(values: Sequence[str]) -> tuple[int, ...]:
    """ "all" -> 0 (every neuron the method selects), "50" -> 50."""
    counts = []
    for value in values:
        if value.strip().lower() == "all":
            counts.append(ALL_NEURONS)
            continue
        try:
            count = int(value)
        except ValueError:
            raise UsageError(f"a neuron count must be a whole number or all (got {value!r})") from None
        if count < 1:
            raise UsageError(f"a neuron count must be at least 1, or all (got {count})")
        counts.append(count)
    return tuple(counts)


def parse_numbers(values: Sequence[str], what: str = "gamma", example: str = "2.0") -> tuple[float, ...]:
    numbers = []
    for value in values:
        try:
            numbers.append(float(value))
        except ValueError:
            raise UsageError(f"{what} must be a number, such as {example} (got {value!r})") from None
        if not math.isfinite(numbers[-1]):
            raise UsageError(f"{what} must be a finite number (got {value!r})")
    return tuple(numbers)


def parse_gammas(values: Sequence[str]) -> tuple[float, ...]:
    return parse_numbers(values, "gamma", "2.0")


def parse_dimensions(values: Sequence[str]) -> tuple[str, ...]:
    """ "all" -> every dimension; names are checked by the grid."""
    if [v.strip().lower() for v in values] == ["all"]:
        return DIMENSION_IDS
    return tuple(values)


__all__ = ["ALL_NEURONS", "Cell", "Condition", "DIRECTIONS", "Grid", "METHODS", "NO_DIRECTION",
           "NO_THRESHOLD", "RANDOM", "SETS", "UNEDITED", "parse_dimensions", "parse_gammas",
           "parse_neurons", "parse_numbers"]
