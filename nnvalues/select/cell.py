"""One measured cell (one model, one dimension) read from a store for neuron selection.

A store is keyed by model label; a model asked for by name must be the one measured there,
down to the weights' revision, or the neurons chosen would belong to another network.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import xarray as xr

from nnvalues.cube.store import CubeStore, model_key
from nnvalues.cube.view import open_cube
from nnvalues.errors import StoreError, UsageError
from nnvalues.fingerprint import hash_json
from nnvalues.taxonomy import DIMENSION_IDS
from nnvalues.taxonomy import dimension as lookup_dimension


def stored_models(store: CubeStore) -> dict[str, dict]:
    """Model label -> the settings its group holds (revision, counting rule, ...)."""
    models = {}
    for key in store.models():
        settings = store.model_settings(key) or {}
        models[str(settings.get("model", key))] = settings
    return models


def resolve_model(store: CubeStore, model: str | None, revision: str | None = None) -> str:
    """The label of the stored model to use; refuses a model the store did not measure."""
    models = stored_models(store)
    if not models:
        raise StoreError(f"{store.path} holds no measurements yet: run `nnvalues locate` first")
    if model is None:
        if len(models) > 1:
            raise UsageError(f"{store.path} holds several models ({', '.join(models)}): pick one with --model")
        model = next(iter(models))
    if model not in models:
        held = ", ".join(models)
        raise StoreError(
            f"{store.path} was measured with {held}, not {model}: run "
            f"`nnvalues locate --model {model} --store {store.path}` first, or pass another --store"
        )
    held_revision = str(models[model].get("model_revision", ""))
    if revision is not None and held_revision and held_revision != revision:
        raise StoreError(
            f"{store.path} measured {model} with other weights (revision {held_revision[:12]} "
            f"there, {revision[:12]} loaded now): measure this model into another --store"
        )
    return model


def stored_dimensions(store: CubeStore, model: str) -> list[str]:
    """The finished dimensions of `model`, in the taxonomy's order."""
    held = set(store.dimensions(model_key(model)))
    return [d for d in DIMENSION_IDS if d in held]


def resolve_dimension(store: CubeStore, model: str, dimension: str | None) -> str:
    """`dimension`, checked; by default the first one the store holds in taxonomy order."""
    held = stored_dimensions(store, model)
    if dimension is None:
        if not held:
            raise StoreError(f"{store.path} holds no finished dimension of {model}")
        return held[0]
    lookup_dimension(dimension)
    if dimension not in held:
        have = ", ".join(held) or "none"
        raise StoreError(
            f"{store.path} has no measurement of {model} on {dimension} (it has: {have}); run "
            f"`nnvalues locate --model {model} --dimensions {dimension}` first"
        )
    return dimension


def open_cell(path: Path | str, model: str | None = None, dimension: str | None = None,
              revision: str | None = None) -> xr.Dataset:
    """The cell of one model and dimension, without the model and dimension axes."""
    store = CubeStore.open(path)
    label = resolve_model(store, model, revision)
    name = resolve_dimension(store, label, dimension)
    cube = open_cube(store.path, models=[label], dimensions=[name])
    return cube.sel(model=label, dimension=name)


def cell_fingerprint(cell: xr.Dataset) -> str:
    """sha256 over the counts a selection reads, so a set can tell which cube it came from."""
    parts = {}
    for name in ("active", "activation_sum", "positive_only", "negative_only", "units", "pairs"):
        values = np.ascontiguousarray(cell[name].values)
        parts[name] = hashlib.sha256(values.tobytes()).hexdigest()
    for name in ("model_revision", "counting", "data_fingerprint", "created"):
        if name in cell.coords:
            parts[name] = str(cell[name].values)
    return hash_json(parts)
