"""`select`: choose the neurons of one model and dimension from a stored cube."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from nnvalues.config import default_store
from nnvalues.cube.view import delta as cube_delta
from nnvalues.cube.view import mean_activation
from nnvalues.errors import UsageError
from nnvalues.select.cell import cell_fingerprint, open_cell
from nnvalues.select.neuron_set import NeuronSet, save_set
from nnvalues.select.rules import (
    PAPER_THRESHOLD,
    Selection,
    from_mask,
    random_control,
    threshold_rule,
    top_k_rule,
)
from nnvalues.select.significance import bh_qvalues, cell_pvalues, fdr_masks, validate_fdr
from nnvalues.version import __version__

DEFAULT_FDR = 0.05


@dataclass(frozen=True)
class Rule:
    """One selection rule and its parameter; build it with `Rule.choose`."""

    kind: str
    value: float

    @classmethod
    def choose(cls, threshold: float | None = None, top_k: int | None = None,
               fdr: float | None = None) -> "Rule":
        given = [(k, v) for k, v in (("threshold", threshold), ("top-k", top_k), ("fdr", fdr))
                 if v is not None]
        if len(given) > 1:
            names = " and ".join(f"--{k}" for k, _ in given)
            raise UsageError(f"{names} are alternatives: give one selection rule")
        if not given:
            return cls("threshold", PAPER_THRESHOLD)
        kind, value = given[0]
        if kind == "top-k" and (int(value) != value or value < 1):
            raise UsageError(f"--top-k must be a whole number >= 1 (got {value})")
        if kind == "fdr":
            validate_fdr(float(value))
        return cls(kind, float(value))


def cell_deltas(cell: xr.Dataset) -> np.ndarray:
    """[layer, neuron] delta = p(+) - p(-) of one cell."""
    return cube_delta(cell).transpose("layer", "neuron").values


def apply_rule(cell: xr.Dataset, rule: Rule, test: str = "mid-p") -> tuple[Selection, dict[str, Any]]:
    """The selection of `rule` on `cell`, and the parameters that describe it."""
    deltas = cell_deltas(cell)
    if rule.kind == "threshold":
        return threshold_rule(deltas, rule.value), {"threshold": rule.value}
    if rule.kind == "top-k":
        return top_k_rule(deltas, int(rule.value)), {"k": int(rule.value)}
    pvalues, test_name = cell_pvalues(cell, test)
    value, opposite = fdr_masks(deltas, bh_qvalues(pvalues), rule.value)
    return from_mask(deltas, value, opposite), {"fdr": rule.value, "test": test_name}


def explain_empty(cell: xr.Dataset, rule: Rule, test: str, where: str) -> str:
    """Why a rule chose nothing, with a looser setting that would choose something."""
    deltas = np.nan_to_num(cell_deltas(cell), nan=0.0)
    largest = float(np.abs(deltas).max()) if deltas.size else 0.0
    if rule.kind == "fdr":
        pvalues, _ = cell_pvalues(cell, test)
        smallest = float(bh_qvalues(pvalues).min())
        hint = (f"the smallest q-value is {smallest:.3g}: try --fdr {min(0.5, _round_up(smallest))} "
                "or measure more prompts" if smallest < 0.5 else
                "no neuron comes near significance: measure more prompts (nnvalues locate --limit)")
        return f"no neuron of {where} passes --fdr {rule.value:g}; {hint}"
    if largest == 0:
        return f"every neuron of {where} has delta 0: measure more prompts (nnvalues locate --limit)"
    return (f"no neuron of {where} has |delta| >= {rule.value:g} (the largest is {largest:.4g}); "
            f"try --threshold {_round_down(largest)}")


def _round_down(x: float) -> float:
    step = 10 ** np.floor(np.log10(x))
    return float(np.floor(x / step) * step)


def _round_up(x: float) -> float:
    step = 10 ** np.floor(np.log10(x))
    return float(np.round(np.ceil(x / step) * step, 12))


def layer_scale(means: np.ndarray, percentile: float = 95.0) -> np.ndarray:
    """Per layer, the given percentile over neurons and polarities of the mean activation."""
    pooled = means.reshape(means.shape[0], -1)
    return np.nan_to_num(np.nanpercentile(pooled, percentile, axis=1), nan=0.0).astype(np.float64)


def select_neurons(
    store: Path | str | None = None,
    *,
    model: str | None = None,
    dimension: str | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    fdr: float | None = None,
    test: str = "mid-p",
    random: bool = False,
    match_layers: bool = False,
    seed: int = 0,
    revision: str | None = None,
    name: str | None = None,
) -> NeuronSet:
    """Choose neurons with one rule (default: the paper's delta >= 0.03), or a random control.

    `revision`, when given, must match the weights the store measured. `name` saves the set
    inside the store, loadable later with `load_set(store, name)`.
    """
    path = Path(store) if store is not None else default_store()
    rule = Rule.choose(threshold, top_k, fdr)
    cell = open_cell(path, model, dimension, revision)
    label, dim = str(cell["model"].values), str(cell["dimension"].values)
    selection, parameters = apply_rule(cell, rule, test)
    if len(selection) == 0:
        raise UsageError(explain_empty(cell, rule, test, f"{label} / {dim}"))
    shape = (cell.sizes["layer"], cell.sizes["neuron"])
    if random:
        selection = random_control(selection, shape, seed, match_layers)
        parameters = {**parameters, "random": True, "seed": seed, "match_layers": match_layers}
    means = mean_activation(cell).transpose("layer", "neuron", "polarity").values
    neuron_set = NeuronSet(
        model=label, model_revision=str(cell["model_revision"].values), dimension=dim,
        rule=rule.kind, parameters=parameters, store=str(path),
        cube_fingerprint=cell_fingerprint(cell), n_layers=shape[0], n_neurons=shape[1],
        counting=str(cell["counting"].values),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        package_version=__version__, selection=selection,
        mean_positive=means[selection.layer, selection.neuron, 0].astype(np.float64),
        mean_negative=means[selection.layer, selection.neuron, 1].astype(np.float64),
        activation_scale=layer_scale(means),
    )
    if name is not None:
        save_set(neuron_set, path, name)
    return neuron_set


def rule_counts(store: Path | str | None = None, *, model: str | None = None,
                dimension: str | None = None, threshold: float = PAPER_THRESHOLD,
                fdr: float = DEFAULT_FDR, test: str = "mid-p") -> list[dict[str, Any]]:
    """How many value and opposite neurons the paper's rule and the FDR rule select."""
    path = Path(store) if store is not None else default_store()
    cell = open_cell(path, model, dimension)
    rows = []
    for rule in (Rule("threshold", threshold), Rule("fdr", fdr)):
        try:
            selection, parameters = apply_rule(cell, rule, test)
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
