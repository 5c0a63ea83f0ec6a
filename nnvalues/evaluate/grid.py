"""The experiment grid: models x methods x dimensions x directions x gammas x neuron counts x sets.

Every combination is one cell of the results store: one edited model answering one
evaluation set's questions of one dimension. Each (model, set, dimension) also has one
unedited cell, the baseline, generated once whatever the grid holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from nnvalues.errors import UsageError
from nnvalues.intervene.edits import DIRECTIONS, check_direction, check_gamma
from nnvalues.taxonomy import DIMENSION_IDS
from nnvalues.taxonomy import dimension as lookup_dimension

METHODS: dict[str, str] = {
    "paper": "ValueLocate: |delta| >= threshold (paper eq. 5)",
    "top-k": "the k largest and k most negative deltas",
    "random": "random control: as many random neurons as the paper's rule, same roles and deltas",
    "fdr": "neurons significant at a false discovery rate (Benjamini-Hochberg)",
}
SETS: dict[str, str] = {
    "heldout": "held-out ValueInsight questions (the shipped data set's evaluate split)",
    "pvq40": "PVQ40 portraits as questions",
    "valuebench": "ValueBench items as questions",
}
UNEDITED = "unedited"
NO_DIRECTION = "none"
ALL_NEURONS = 0
"""Neuron count 0: every neuron the method selects."""


@dataclass(frozen=True)
class Condition:
    """One edit: how neurons were chosen, and how they were changed."""

    method: str
    direction: str
    gamma: float
    neurons: int

    @property
    def name(self) -> str:
        if self.method == UNEDITED:
            return UNEDITED
        return f"{self.method}--{self.direction}--g{self.gamma:g}--n{self.neurons}"

    @classmethod
    def unedited(cls) -> "Condition":
        return cls(UNEDITED, NO_DIRECTION, 0.0, ALL_NEURONS)


@dataclass(frozen=True)
class Cell:
    model: str
    set: str
    dimension: str
    condition: Condition

    @property
    def name(self) -> str:
        """The cell's folder inside its model's group."""
        return f"{self.set}--{self.dimension}--{self.condition.name}"


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

    def conditions(self) -> list[Condition]:
        return [Condition(m, d, g, n) for m in self.methods for d in self.directions
                for g in self.gammas for n in self.neurons]

    def cells(self, model: str) -> Iterator[Cell]:
        """The unedited cell first, then the edited ones, per set and dimension."""
        for set_name in self.sets:
            for dim in self.dimensions:
                yield Cell(model, set_name, dim, Condition.unedited())
                for condition in self.conditions():
                    yield Cell(model, set_name, dim, condition)


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


def parse_gammas(values: Sequence[str]) -> tuple[float, ...]:
    gammas = []
    for value in values:
        try:
            gammas.append(float(value))
        except ValueError:
            raise UsageError(f"gamma must be a number >= 0, such as 2.0 (got {value!r})") from None
        if not math.isfinite(gammas[-1]):
            raise UsageError(f"gamma must be a finite number (got {value!r})")
    return tuple(gammas)


__all__ = ["ALL_NEURONS", "Cell", "Condition", "DIRECTIONS", "Grid", "METHODS", "NO_DIRECTION",
           "SETS", "UNEDITED", "parse_gammas", "parse_neurons"]
