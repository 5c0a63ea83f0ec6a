"""The neuron set each grid method edits, chosen from the activation cube and kept with the results.

- paper:  |delta| >= threshold (the paper's 0.03 by default);
- top-k:  the k largest and k most negative deltas (k = the neuron count, or `top_k`);
- fdr:    neurons significant at false discovery rate q;
- random: a random control of the paper's set: as many neurons, same roles and deltas,
          placed at random (paper, Figure 5).
A neuron count n keeps the n value neurons with the largest delta and the n opposite
neurons with the most negative one (n per role, as top-k counts them); "all" keeps all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nnvalues.errors import StoreError
from nnvalues.evaluate.grid import ALL_NEURONS
from nnvalues.select import DEFAULT_FDR, PAPER_THRESHOLD, NeuronSet, Selection, load_set, save_set
from nnvalues.select.cell import open_cell
from nnvalues.select.neuron_set import sets_dir
from nnvalues.select.rules import FDR, RandomLike, Rule, Threshold, TopK
from nnvalues.select.selecting import neuron_set_of, select


@dataclass(frozen=True)
class SelectionOptions:
    threshold: float = PAPER_THRESHOLD
    top_k: int = 50
    """k of the top-k method when the neuron count is "all"."""
    fdr: float = DEFAULT_FDR
    test: str = "mid-p"
    seed: int = 0
    """Seed of the random control."""
    match_layers: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _rule(method: str, neurons: int, options: SelectionOptions) -> Rule:
    if method == "top-k":
        return TopK(neurons or options.top_k)
    if method == "fdr":
        return FDR(options.fdr, options.test)
    return Threshold(options.threshold)


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


def randomised(neuron_set: NeuronSet, cube: Path, options: SelectionOptions) -> NeuronSet:
    """A random control of `neuron_set`, with the cube's mean activations of its own neurons."""
    cell = open_cell(cube, neuron_set.model, neuron_set.dimension)
    return neuron_set_of(cell, RandomLike(neuron_set, options.seed, options.match_layers), str(cube))


def choose_set(cube: Path, model: str, revision: str | None, dimension: str, method: str,
               neurons: int, options: SelectionOptions) -> NeuronSet:
    """The neurons `method` edits for one model and dimension (a UsageError when none)."""
    base_method = "paper" if method == "random" else method
    chosen = select(cube, model=model, dimension=dimension, revision=revision,
                    rule=_rule(base_method, neurons, options))
    if neurons != ALL_NEURONS and method != "top-k":
        chosen = strongest(chosen, neurons)
    if method == "random":
        chosen = randomised(chosen, cube, options)
    return chosen


def set_name(model_key: str, dimension: str, method: str, neurons: int) -> str:
    return f"{model_key}--{dimension}--{method}--n{neurons}"


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
