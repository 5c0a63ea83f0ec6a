"""Open a store as one labelled cube and derive the statistics people slice.

Models with different layer or neuron counts share the cube: the smaller ones are padded
with NaN (their integer counts become floats there), so `.sel(model=...)` followed by
`.dropna("neuron", how="all")` gives a model back exactly.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import xarray as xr

from nnvalues.choices import Statistic, check_choice
from nnvalues.cube.cells import label_cell
from nnvalues.cube.store import CubeStore, model_key
from nnvalues.errors import StoreError, UsageError
from nnvalues.storecheck import unreadable_models
from nnvalues.zarrstore import StoreWarning


def open_cube(path: Path | str, models: Iterable[str] | None = None,
              dimensions: Iterable[str] | None = None) -> xr.Dataset:
    """Every finished cell of the store (or the chosen ones) as one Dataset."""
    store = CubeStore.open(path)
    wanted_models = None if models is None else {model_key(m) for m in models}
    wanted_dims = None if dimensions is None else set(dimensions)
    for key in unreadable_models(store):
        warnings.warn(f"{store.path}: skipping {key}, whose model group is damaged; see "
                      f"`nnvalues cube check {store.path}`", StoreWarning, stacklevel=2)
    per_model = []
    for key in store.models():
        if wanted_models is not None and key not in wanted_models:
            continue
        names = [d for d in store.dimensions(key) if wanted_dims is None or d in wanted_dims]
        cells = [label_cell(data) for _, data in store.readable_cells(key, names)]
        if cells:
            per_model.append(combine(cells, "dimension"))
    if not per_model:
        raise StoreError(_nothing_found(store, models))
    return combine(per_model, "model")


def combine(parts: list[xr.Dataset], axis: str) -> xr.Dataset:
    """Labelled cells (or per-model cubes) joined along `axis`; smaller models NaN-padded."""
    if len(parts) == 1:
        return parts[0]
    return xr.concat(parts, dim=axis, data_vars="all", coords="different", compat="equals",
                     join="outer")


def pick_cell(cube: xr.Dataset, model: str | None = None,
              dimension: str | None = None) -> xr.Dataset:
    """One model and dimension of a cube, without those axes; an axis of one label needs no
    name. A cell passed in (no model or dimension axis) comes back as it is."""
    for axis, value in (("model", model), ("dimension", dimension)):
        if axis not in cube.dims:
            continue
        labels = [str(v) for v in cube[axis].values]
        if value is None:
            if len(labels) > 1:
                raise UsageError(f"the cube holds several {axis}s ({', '.join(labels)}): "
                                 f"pick one with `{axis}`")
            value = labels[0]
        if value not in labels:
            raise UsageError(f"no {axis} {value!r} in the cube; it holds {', '.join(labels)}")
        cube = cube.sel({axis: value})
    # A model smaller than another in the same cube is padded with NaN: drop the padding.
    for axis in ("layer", "neuron"):
        cube = cube.dropna(axis, how="all", subset=["activation_sum"])
    return cube


def _nothing_found(store: CubeStore, models: Iterable[str] | None) -> str:
    """Why no cell matched, and what to do about it."""
    held = {key: store.dimensions(key) for key in store.models()}
    if models is not None and not {model_key(m) for m in models} & set(held):
        return (f"{store.path} holds no model {', '.join(models)}; it holds "
                f"{', '.join(held) or 'none yet'}")
    unfinished = store.unfinished()
    if unfinished:
        return (f"{store.path} holds no finished cells for this selection; unfinished: "
                f"{', '.join(unfinished)} (rerun its `nnvalues locate` command to finish it)")
    if not any(held.values()):
        return f"{store.path} holds no finished cells yet: run `nnvalues locate --store {store.path}`"
    return (f"{store.path} holds no finished cells for this selection; it holds "
            + "; ".join(f"{k}: {', '.join(v)}" for k, v in held.items() if v))


def probability(cube: xr.Dataset) -> xr.DataArray:
    """p = active units / N per layer, neuron, dimension and polarity (paper eq. 4)."""
    p = cube["active"] / cube["units"].where(cube["units"] > 0)
    return p.rename("probability")


def mean_activation(cube: xr.Dataset) -> xr.DataArray:
    """Mean act_fn output per real token."""
    return (cube["activation_sum"] / cube["tokens"].where(cube["tokens"] > 0)).rename("mean")


STATISTICS: dict[str, Callable[[xr.Dataset], xr.DataArray]] = {
    "probability": probability, "mean": mean_activation,
}


def statistic(cube: xr.Dataset, name: Statistic = "probability") -> xr.DataArray:
    return STATISTICS[check_choice(name, STATISTICS, "statistic")](cube)


def delta(cube: xr.Dataset, name: Statistic = "probability") -> xr.DataArray:
    """delta = statistic(+) - statistic(-) (paper eq. 5)."""
    values = statistic(cube, name)
    return (values.sel(polarity="positive") - values.sel(polarity="negative")).rename("delta")


def count_selected(deltas: xr.DataArray, threshold: float) -> tuple[int, int]:
    """Neurons with delta >= t and with delta <= -t (the paper's rule)."""
    data = deltas.values
    return int(np.sum(data >= threshold)), int(np.sum(data <= -threshold))
