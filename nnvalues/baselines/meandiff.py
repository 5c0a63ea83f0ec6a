"""Mean difference: the per-token mean act_fn output under each polarity, read from the cube.

A neuron-level contrastive-activation baseline: score(polarity) = activation summed over
real tokens / real tokens, so score(+) - score(-) is the mean activation difference. The
activation cube already holds both sums, so this costs no forward pass; the score cell
records the fingerprint of the cube cell it was read from.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from nnvalues.baselines.store import ScoreStore, score_dataset
from nnvalues.cube.cells import CELL_COORDS, PROVENANCE_COORDS
from nnvalues.cube.store import CubeStore, model_key
from nnvalues.cube.view import mean_activation
from nnvalues.errors import StoreError
from nnvalues.select.cell import cell_fingerprint, open_cell, resolve_model
from nnvalues.version import __version__

NAME = "meandiff"
PARAMETERS = {"statistic": "mean act_fn output per real token", "source": "activation cube"}


def method_settings(cell: Any) -> dict[str, Any]:
    return {"method": NAME, "parameters": PARAMETERS, "target_rule": "none (activations only)",
            "target_tokens": 0, **{k: str(cell[k].values) for k in ("template", "template_mode",
                                                                   "template_sha256")}}


def score_from_cube(cube: Path, store: ScoreStore, model: str | None, dimension: str,
                    restart: bool = False) -> tuple[str, str]:
    """Write the meandiff cell of one dimension; returns (model label, status)."""
    label = resolve_model(CubeStore.open(cube), model)
    cell = open_cell(cube, label, dimension)
    key = model_key(label)
    store.ensure_model(key, CubeStore.open(cube).model_settings(key) or {})
    settings = method_settings(cell)
    store.ensure_method(key, NAME, settings)
    fingerprint = cell_fingerprint(cell)
    held = store.cell_attrs(key, f"{NAME}/{dimension}")
    if held is not None and held.get("cube_fingerprint") == fingerprint:
        return label, "already stored"
    if held is not None and not restart:
        raise StoreError(f"{store.path} holds {NAME} scores of {label} / {dimension} read from "
                         "another cube: pass --restart to replace them, or use another --store")
    means = mean_activation(cell).transpose("layer", "polarity", "neuron").values
    attrs = {**settings, "model": label, "dimension": dimension, "cube": str(cube),
             "cube_fingerprint": fingerprint, "package_version": __version__,
             "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             **{k: str(cell[k].values) for k in PROVENANCE_COORDS + CELL_COORDS
                if k in cell.coords and k not in ("package_version", "created")}}
    data = score_dataset(np.nan_to_num(means, nan=0.0), cell["prompts"].values,
                         np.zeros(2, dtype=np.int64), int(cell["pairs"]), attrs)
    store.write_cell(key, f"{NAME}/{dimension}", data)
    return label, "measured"
