"""`select`: choose the neurons of one model and dimension from a cube (in memory) or a store.

    cube = nv.locate("smollm2-135m", dimensions=["conservation"], limit=20)
    neurons = nv.select(cube, dimension="conservation", rule=nv.FDR(0.05))
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from nnvalues.config import default_store
from nnvalues.cube.view import mean_activation, pick_cell
from nnvalues.errors import UsageError
from nnvalues.select.cell import cell_fingerprint, open_cell
from nnvalues.select.neuron_set import NeuronSet, save_set
from nnvalues.select.rules import FDR, RandomLike, Rule, Threshold, check_rule
from nnvalues.version import __version__

IN_MEMORY = "(in memory)"
"""The `store` a neuron set records when it was chosen from a cube that was never saved."""


def cell_of(cube_or_store: xr.Dataset | Path | str | None, model: str | None = None,
            dimension: str | None = None, revision: str | None = None) -> tuple[xr.Dataset, str]:
    """The cell of one model and dimension, and where it came from (a store path or
    IN_MEMORY). A store path (default: the default store) is checked against `revision`."""
    if isinstance(cube_or_store, xr.Dataset):
        return pick_cell(cube_or_store, model, dimension), IN_MEMORY
    path = Path(cube_or_store) if cube_or_store is not None else default_store()
    return open_cell(path, model, dimension, revision), str(path)


def layer_scale(means: np.ndarray, percentile: float = 95.0) -> np.ndarray:
    """Per layer, the given percentile over neurons and polarities of the mean activation."""
    pooled = means.reshape(means.shape[0], -1)
    return np.nan_to_num(np.nanpercentile(pooled, percentile, axis=1), nan=0.0).astype(np.float64)


def neuron_set_of(cell: xr.Dataset, rule: Rule, origin: str) -> NeuronSet:
    """Apply `rule` to `cell`: the chosen neurons with their provenance and mean activations."""
    rule = check_rule(rule)
    label, dim = str(cell["model"].values), str(cell["dimension"].values)
    selection = rule.choose(cell)
    if len(selection) == 0:
        raise UsageError(rule.explain_empty(cell, f"{label} / {dim}"))
    parameters = rule.parameters()
    base = rule.base if isinstance(rule, RandomLike) else rule
    if isinstance(base, FDR):
        parameters["test"] = base.test_name(cell)
    means = mean_activation(cell).transpose("layer", "neuron", "polarity")
    positive = means.sel(polarity="positive").values
    negative = means.sel(polarity="negative").values
    return NeuronSet(
        model=label, model_revision=str(cell["model_revision"].values), dimension=dim,
        rule=base.kind if hasattr(base, "kind") else str(getattr(base, "rule", "set")),
        parameters=parameters, store=origin,
        cube_fingerprint=cell_fingerprint(cell), n_layers=cell.sizes["layer"],
        n_neurons=cell.sizes["neuron"], counting=str(cell["counting"].values),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        package_version=__version__, selection=selection,
        mean_positive=positive[selection.layer, selection.neuron].astype(np.float64),
        mean_negative=negative[selection.layer, selection.neuron].astype(np.float64),
        activation_scale=layer_scale(means.values),
    )


def select(cube_or_store: xr.Dataset | Path | str | None = None, *, dimension: str | None = None,
           rule: Rule = Threshold(), model: str | None = None, revision: str | None = None,
           name: str | None = None) -> NeuronSet:
    """Choose the neurons of one model and dimension with one rule.

    Args:
        cube_or_store: a cube (`nnvalues.locate`, `open_cube`) or the path of a store
            (default: the default store).
        dimension: the dimension; may be left out when the cube holds one.
        rule: `Threshold(0.03)` (the paper's, default), `TopK(k)`, `FDR(q)` or
            `RandomLike(base_rule_or_set, seed)`.
        model: the model label, when the cube holds several.
        revision: with a store path, the weights the store must have measured.
        name: save the set under this name inside the store (stores only).
    Returns:
        A `NeuronSet`.
    Example:
        neurons = nv.select(cube, dimension="conservation", rule=nv.TopK(50))
    """
    cell, origin = cell_of(cube_or_store, model, dimension, revision)
    neuron_set = neuron_set_of(cell, rule, origin)
    if name is not None:
        if origin == IN_MEMORY:
            raise UsageError("`name` saves a set inside a store: pass a store path, or save the "
                             "cube first with nnvalues.locate(..., store=...)")
        save_set(neuron_set, origin, name)
    return neuron_set


def rule_counts(cube_or_store: xr.Dataset | Path | str | None = None, *, model: str | None = None,
                dimension: str | None = None,
                rules: Sequence[Rule] = (Threshold(), FDR())) -> list[dict[str, Any]]:
    """How many value and opposite neurons each rule selects in one cell."""
    cell, _ = cell_of(cube_or_store, model, dimension)
    rows = []
    for rule in rules:
        try:
            selection = rule.choose(cell)
            parameters = rule.parameters()
            if isinstance(rule, FDR):
                parameters["test"] = rule.test_name(cell)
        except UsageError as exc:  # e.g. significance on unpaired token counts
            rows.append({"rule": rule.kind, "parameters": {}, "value": None, "opposite": None,
                         "note": str(exc)})
            continue
        rows.append({"rule": rule.kind, "parameters": parameters,
                     "value": selection.count("value"), "opposite": selection.count("opposite"),
                     "note": ""})
    prompts = cell["prompts"].values.tolist()
    for row in rows:
        row.update(model=str(cell["model"].values), dimension=str(cell["dimension"].values),
                   prompts=prompts, pairs=int(cell["pairs"]))
    return rows
