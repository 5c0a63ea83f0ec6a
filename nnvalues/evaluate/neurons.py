"""The neuron set each grid method edits, chosen from the activation cube and kept with the results.

- paper:  |delta| >= threshold (one set per threshold of the grid);
- top-k:  the k largest and k most negative deltas (k = the neuron count, or `top_k`);
- fdr:    neurons significant at false discovery rate q;
- random: a random control of a selection: as many neurons, the same roles and deltas and
          (by default) the same count per layer, placed at random among the neurons that
          the selection's rule chose at no size of the grid (paper, Figure 5).
A neuron count n keeps the n value neurons with the largest delta and the n opposite
neurons with the most negative one (n per role, as top-k counts them); "all" keeps all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nnvalues.baselines.run import METHODS as BASELINE_METHODS
from nnvalues.baselines.selection import Baseline
from nnvalues.errors import StoreError
from nnvalues.evaluate.grid import ALL_NEURONS, RANDOM, Condition, Grid
from nnvalues.select import DEFAULT_FDR, PAPER_THRESHOLD, NeuronSet, Selection, load_set, save_set
from nnvalues.select.cell import open_cell
from nnvalues.select.neuron_set import sets_dir
from nnvalues.select.rules import FDR, RandomLike, Rule, Threshold, TopK
from nnvalues.select.selecting import neuron_set_of, select


@dataclass(frozen=True)
class SelectionOptions:
    top_k: int = 50
    """k of the top-k method when the neuron count is "all"."""
    fdr: float = DEFAULT_FDR
    test: str = "mid-p"
    seed: int = 0
    """First seed of the random controls (seed, seed + 1, ...)."""
    match_layers: bool = True
    """Random controls place as many neurons in each layer as their reference has there."""
    scores: str = ""
    """The baselines' score store (`nnvalues baselines score`; default stores/baselines.zarr)."""

    def __post_init__(self) -> None:
        """Checked when made, so a bad option is refused before any store is touched."""
        TopK(self.top_k)
        FDR(self.fdr, self.test)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


SetKey = tuple[str, str, int]
"""(dimension, condition.selection, neurons): one neuron set of the grid."""


def _rule(method: str, threshold: float, neurons: int, options: SelectionOptions) -> Rule:
    if method in BASELINE_METHODS:
        # Sized like the paper's set at its default threshold (the axis is the paper rule's).
        return Baseline(method, options.scores, neurons or None,  # type: ignore[return-value]
                        threshold or PAPER_THRESHOLD)
    if method == "top-k":
        return TopK(neurons or options.top_k)
    if method == "fdr":
        return FDR(options.fdr, options.test)  # type: ignore[arg-type]
    return Threshold(threshold)


def strongest(neuron_set: NeuronSet, count: int) -> NeuronSet:
    """The `count` value neurons with the largest delta and `count` opposite ones with the
    most negative, in the set's own (layer, neuron) order."""
    s = neuron_set.selection
    keep = np.zeros(len(s), dtype=bool)
    for role, order in (("value", -s.delta), ("opposite", s.delta)):
        members = np.flatnonzero(s.role == role)
        keep[members[np.argsort(order[members], kind="stable")[:count]]] = True
    chosen = Selection(s.layer[keep], s.neuron[keep], s.delta[keep], s.role[keep])
    return replace(neuron_set, selection=chosen, mean_positive=neuron_set.mean_positive[keep],
                   mean_negative=neuron_set.mean_negative[keep],
                   parameters={**neuron_set.parameters, "per_role": count}, name=None)


def randomised(neuron_set: NeuronSet, cube: Path, seed: int, match_layers: bool,
               exclude: np.ndarray) -> NeuronSet:
    """A random control of `neuron_set` outside `exclude`, with the cube's mean activations."""
    cell = open_cell(cube, neuron_set.model, neuron_set.dimension)
    return neuron_set_of(cell, RandomLike(neuron_set, seed, match_layers, exclude), str(cube))


def choose_set(cube: Path, model: str, revision: str | None, dimension: str, method: str,
               neurons: int, options: SelectionOptions, threshold: float) -> NeuronSet:
    """The neurons a selection method edits for one model and dimension (a UsageError when none)."""
    chosen = select(cube, model=model, dimension=dimension, revision=revision,
                    rule=_rule(method, threshold, neurons, options))
    if neurons != ALL_NEURONS and method != "top-k" and method not in BASELINE_METHODS:
        chosen = strongest(chosen, neurons)
    return chosen


def _mask(neuron_set: NeuronSet) -> np.ndarray:
    mask = np.zeros((neuron_set.n_layers, neuron_set.n_neurons), dtype=bool)
    mask[neuron_set.selection.layer, neuron_set.selection.neuron] = True
    return mask


def grid_sets(cube: Path, model: str, grid: Grid, options: SelectionOptions) -> dict[SetKey, NeuronSet]:
    """Every neuron set the grid edits for one model, random controls included.

    A random control avoids every neuron its reference method selected at any size the
    grid uses (all thresholds, the uncut set behind every neuron count, the largest k).
    """
    sets: dict[SetKey, NeuronSet] = {}
    references = {c.reference for c in grid.conditions()}
    for dim in grid.dimensions:
        for ref in sorted(references, key=lambda c: (c.method, c.threshold, c.neurons)):
            key = (dim, ref.selection, ref.neurons)
            if key not in sets:
                sets[key] = choose_set(cube, model, None, dim, ref.method, ref.neurons, options,
                                       ref.threshold)
        excluded: dict[str, np.ndarray] = {}
        for ref in references:
            every_size = choose_set(cube, model, None, dim, ref.method,
                                    ref.neurons if ref.method == "top-k" else ALL_NEURONS,
                                    options, ref.threshold)
            mask = _mask(every_size)
            excluded[ref.method] = mask | excluded.get(ref.method, np.zeros_like(mask))
        for condition in grid.conditions():
            if condition.method != RANDOM:
                continue
            key = (dim, condition.selection, condition.neurons)
            if key not in sets:
                reference = sets[(dim, condition.reference.selection, condition.neurons)]
                sets[key] = randomised(reference, cube, options.seed + condition.seed,
                                       options.match_layers, excluded[condition.base])
    return sets


def set_key(cell_dimension: str, condition: Condition) -> SetKey:
    return (cell_dimension, condition.selection, condition.neurons)


def set_name(model_key: str, key: SetKey) -> str:
    dimension, selection, neurons = key
    return f"{model_key}--{dimension}--{selection}--n{neurons}"


def keep_set(results: Path, name: str, neuron_set: NeuronSet) -> NeuronSet:
    """Save the set in the results store, or check it against the one saved there before:
    results made with other neurons must not be mixed with these."""
    if (sets_dir(results) / f"{name}.json").is_file():
        held = load_set(results, name)
        same = (held.cube_fingerprint == neuron_set.cube_fingerprint
                and np.array_equal(held.selection.layer, neuron_set.selection.layer)
                and np.array_equal(held.selection.neuron, neuron_set.selection.neuron))
        if not same:
            raise StoreError(f"{results} edited other neurons as {name} (the cube or the selection "
                             "changed since): use another --results")
        return held
    save_set(neuron_set, results, name)
    return neuron_set
