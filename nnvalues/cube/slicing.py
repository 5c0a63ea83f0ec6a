"""Select a readable slice of a cube: per neuron p(+), p(-), delta and mean activations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from nnvalues.cube.view import delta, mean_activation, pick_cell, probability
from nnvalues.errors import UsageError
from nnvalues.storage import atomic_write_text, check_output_file


SLICE_COLUMNS = ("layer", "neuron", "p_positive", "p_negative", "delta", "mean_positive",
                 "mean_negative")
"""The columns of a slice, in this order whatever the platform (exports keep it)."""
EXPORT_SUFFIXES = (".csv", ".json", ".jsonl")


def parse_indices(text: str | None, size: int, what: str) -> list[int] | None:
    """'5', '3,7', '10:15' (end excluded) or None for all."""
    if text is None:
        return None
    chosen: list[int] = []
    for part in text.split(","):
        try:
            if ":" in part:
                start, stop = part.split(":", 1)
                first, end = int(start or 0), int(stop or size)
            else:
                first = int(part)
                end = first + 1
        except ValueError:
            raise UsageError(f"cannot read {what} selection {text!r}: use 5, 3,7 or 10:15") from None
        if end <= first:
            raise UsageError(f"--{what} {part!r} selects nothing: the end is excluded, so it "
                             "must exceed the start (10:15)")
        chosen.extend(range(first, end))
    outside = [i for i in chosen if not 0 <= i < size]
    if outside:
        raise UsageError(f"{what} {outside[0]} is out of range (0..{size - 1})")
    return chosen


def slice_table(cube: xr.Dataset, *, model: str | None = None, dimension: str | None = None,
                layers: str | None = None, neurons: str | None = None,
                top: int | None = None) -> pd.DataFrame:
    """One row per neuron of the chosen model and dimension, sorted by |delta| when `top`."""
    chosen = pick_cell(cube, model, dimension)
    n_layers, n_neurons = chosen.sizes["layer"], chosen.sizes["neuron"]
    layer_index = parse_indices(layers, n_layers, "layer")
    neuron_index = parse_indices(neurons, n_neurons, "neuron")
    if layer_index is not None:
        chosen = chosen.isel(layer=layer_index)
    if neuron_index is not None:
        chosen = chosen.isel(neuron=neuron_index)
    p = probability(chosen)
    mean = mean_activation(chosen)
    table = xr.Dataset({
        "p_positive": p.sel(polarity="positive", drop=True),
        "p_negative": p.sel(polarity="negative", drop=True),
        "delta": delta(chosen),
        "mean_positive": mean.sel(polarity="positive", drop=True),
        "mean_negative": mean.sel(polarity="negative", drop=True),
    }).reset_coords(drop=True).to_dataframe(dim_order=["layer", "neuron"]).reset_index()
    table = table[list(SLICE_COLUMNS)]
    if top is not None:
        if top < 1:
            raise UsageError(f"`top` must be 0 (all neurons) or a count >= 1 (got {top})")
        order = table["delta"].abs().sort_values(ascending=False, kind="stable").index
        table = table.loc[order[:top]].reset_index(drop=True)
    return table


def check_export(path: Path, option: str = "--out") -> Path:
    """Refuse, before any work, an export path that cannot be written as asked."""
    if path.suffix not in EXPORT_SUFFIXES:
        raise UsageError(f"cannot export to {path.name}: give {option} a .csv, .json or .jsonl file")
    check_output_file(path, option)
    return path


def export_table(table: pd.DataFrame, path: Path) -> None:
    """Write `table` (columns in their order) atomically; missing folders are created."""
    check_export(path)
    if path.suffix == ".csv":
        text = table.to_csv(index=False)
    else:
        text = table.to_json(orient="records", lines=path.suffix == ".jsonl")
    atomic_write_text(path, text)


def summarise_store(cube: xr.Dataset, threshold: float) -> list[dict[str, object]]:
    """One row per finished cell: prompts, pairs and neurons passing the paper's rule."""
    rows = []
    deltas = delta(cube)
    for model in cube["model"].values:
        for dim in cube["dimension"].values:
            cell = cube.sel(model=model, dimension=dim)
            if not np.isfinite(float(cell["prompts"].sum())) or float(cell["prompts"].sum()) == 0:
                continue
            d = deltas.sel(model=model, dimension=dim).values
            rows.append({
                "model": str(model), "dimension": str(dim),
                "prompts": int(cell["prompts"].sum()), "pairs": int(cell["pairs"]),
                "value_neurons": int(np.sum(d >= threshold)),
                "opposite_neurons": int(np.sum(d <= -threshold)),
                "created": str(cell["created"].values),
            })
    return rows

