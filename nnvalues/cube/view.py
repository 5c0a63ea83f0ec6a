"""Open a store as one labelled cube and derive the statistics people slice.

Models with different layer or neuron counts share the cube: the smaller ones are padded
with NaN (their integer counts become floats there), so `.sel(model=...)` followed by
`.dropna("neuron", how="all")` gives a model back exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import xarray as xr

from nnvalues.cube.cells import label_cell
from nnvalues.cube.store import CubeStore, model_key
from nnvalues.errors import StoreError

STATISTICS = ("probability", "mean")


def open_cube(path: Path | str, models: Iterable[str] | None = None,
              dimensions: Iterable[str] | None = None) -> xr.Dataset:
    """Every finished cell of the store (or the chosen ones) as one Dataset."""
    store = CubeStore.open(path)
    wanted_models = None if models is None else {model_key(m) for m in models}
    wanted_dims = None if dimensions is None else set(dimensions)
    per_model = []
    for key in store.models():
        if wanted_models is not None and key not in wanted_models:
            continue
        cells = [label_cell(store.open_cell(key, d)) for d in store.dimensions(key)
                 if wanted_dims is None or d in wanted_dims]
        if cells:
            per_model.append(xr.concat(cells, dim="dimension", data_vars="all",
                                       coords="different", compat="equals", join="outer"))
    if not per_model:
        raise StoreError(f"{store.path} holds no finished cells for this selection")
    if len(per_model) == 1:
        return per_model[0]
    return xr.concat(per_model, dim="model", data_vars="all", coords="different",
                     compat="equals", join="outer")


def probability(cube: xr.Dataset) -> xr.DataArray:
    """p = active units / N per layer, neuron, dimension and polarity (paper eq. 4)."""
    p = cube["active"] / cube["units"].where(cube["units"] > 0)
    return p.rename("probability")


def mean_activation(cube: xr.Dataset) -> xr.DataArray:
    """Mean act_fn output per real token."""
    return (cube["activation_sum"] / cube["tokens"].where(cube["tokens"] > 0)).rename("mean")


def statistic(cube: xr.Dataset, name: str = "probability") -> xr.DataArray:
    if name == "probability":
        return probability(cube)
    if name == "mean":
        return mean_activation(cube)
    from nnvalues.errors import UsageError

    raise UsageError(f"unknown statistic {name!r}; choose from {', '.join(STATISTICS)}")


def delta(cube: xr.Dataset, name: str = "probability") -> xr.DataArray:
    """delta = statistic(+) - statistic(-) (paper eq. 5)."""
    values = statistic(cube, name)
    return (values.sel(polarity="positive") - values.sel(polarity="negative")).rename("delta")


def count_selected(deltas: xr.DataArray, threshold: float) -> tuple[int, int]:
    """Neurons with delta >= t and with delta <= -t (the paper's rule)."""
    data = deltas.values
    return int(np.sum(data >= threshold)), int(np.sum(data <= -threshold))
