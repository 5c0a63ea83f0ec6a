"""The chosen neurons as arrays, and the array operations every selection rule is built from.

A Selection holds the chosen neurons, the delta each one is edited with, and its role:
`value` neurons (delta > 0) fire more under the value's description, `opposite` neurons
(delta < 0) under its reversed counterpart. The rule values in `nnvalues.select.rules`
call the functions here on a cell's [layer, neuron] deltas (paper eq. 5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnvalues.errors import UsageError

ROLES = ("value", "opposite")
PAPER_THRESHOLD = 0.03
"""The paper's |delta| cut (section 3): 3 percentage points."""


@dataclass(frozen=True)
class Selection:
    layer: np.ndarray
    neuron: np.ndarray
    delta: np.ndarray
    role: np.ndarray
    """"value" or "opposite" per neuron."""

    def __post_init__(self) -> None:
        order = np.lexsort((self.neuron, self.layer))
        for name in ("layer", "neuron", "delta", "role"):
            object.__setattr__(self, name, np.asarray(getattr(self, name))[order])

    def __len__(self) -> int:
        return int(self.layer.size)

    def count(self, role: str) -> int:
        return int(np.sum(self.role == role))


def from_mask(deltas: np.ndarray, value: np.ndarray, opposite: np.ndarray) -> Selection:
    """Neurons where `value` or `opposite` is true, labelled by which."""
    chosen = value | opposite
    layer, neuron = np.nonzero(chosen)
    roles = np.where(value[layer, neuron], "value", "opposite")
    return Selection(layer, neuron, deltas[layer, neuron].astype(np.float64), roles)


def threshold_rule(deltas: np.ndarray, threshold: float = PAPER_THRESHOLD) -> Selection:
    """The paper's rule: delta >= t is the value, delta <= -t its opposite."""
    if not np.isfinite(threshold) or threshold <= 0:
        raise UsageError(f"the threshold must be a number > 0 (got {threshold})")
    finite = np.nan_to_num(deltas, nan=0.0)
    return from_mask(deltas, finite >= threshold, finite <= -threshold)


def top_k_rule(deltas: np.ndarray, k: int) -> Selection:
    """The k largest positive deltas (value) and the k most negative ones (opposite)."""
    if k < 1:
        raise UsageError(f"`top_k` must be at least 1 (got {k})")
    flat = np.nan_to_num(deltas, nan=0.0).ravel()
    order = np.argsort(flat, kind="stable")
    value = np.zeros(flat.shape, dtype=bool)
    opposite = np.zeros(flat.shape, dtype=bool)
    highest, lowest = order[::-1][:k], order[:k]
    value[highest[flat[highest] > 0]] = True
    opposite[lowest[flat[lowest] < 0]] = True
    return from_mask(deltas, value.reshape(deltas.shape), opposite.reshape(deltas.shape))


def random_control(base: Selection, shape: tuple[int, int], seed: int = 0,
                   match_layers: bool = False, exclude: np.ndarray | None = None) -> Selection:
    """As many random neurons as `base`, none of them in `base`, carrying its roles and deltas.

    Each random neuron takes the role and delta of one neuron of `base` (in random order), so
    the edit has the same strength and the same value/opposite split; only the place differs.
    With `match_layers`, each layer gets as many random neurons as `base` has there.
    `exclude`, a [layer, neuron] mask, rules out more neurons (e.g. the rule's larger sets).
    """
    n_layers, n_neurons = shape
    rng = np.random.default_rng(seed)
    taken = np.zeros(shape, dtype=bool) if exclude is None else np.array(exclude, dtype=bool)
    taken[base.layer, base.neuron] = True
    if match_layers:
        layers = []
        neurons = []
        for layer in np.unique(base.layer):
            wanted = int(np.sum(base.layer == layer))
            free = np.flatnonzero(~taken[layer])
            if free.size < wanted:
                raise UsageError(f"layer {layer} has too few other neurons for a matched control")
            layers.append(np.full(wanted, layer))
            neurons.append(rng.choice(free, size=wanted, replace=False))
        layer_ids = np.concatenate(layers) if layers else np.zeros(0, dtype=int)
        neuron_ids = np.concatenate(neurons) if neurons else np.zeros(0, dtype=int)
        # Neurons were drawn layer by layer in base's layer order, which is sorted like base.
        donors = np.concatenate([rng.permutation(np.flatnonzero(base.layer == layer))
                                 for layer in np.unique(base.layer)]) if len(base) else np.zeros(0, dtype=int)
    else:
        free = np.flatnonzero(~taken.ravel())
        if free.size < len(base):
            raise UsageError("the model has too few other neurons for a random control this large")
        flat = rng.choice(free, size=len(base), replace=False)
        layer_ids, neuron_ids = np.unravel_index(flat, shape)
        donors = rng.permutation(len(base))
    return Selection(layer_ids, neuron_ids, base.delta[donors], base.role[donors])


def per_layer_counts(selection: Selection, n_layers: int) -> dict[str, list[int]]:
    """How many value and opposite neurons each layer holds."""
    return {role: np.bincount(selection.layer[selection.role == role], minlength=n_layers).tolist()
            for role in ROLES}
