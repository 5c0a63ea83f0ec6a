"""One cell of the cube, the measurement of one model on one dimension, as an xarray Dataset.

Stored variables (p and the mean activation are derived, never stored):
  active          layer x neuron x polarity   units counted active (prompts or tokens)
  activation_sum  layer x neuron x polarity   act_fn output summed over real tokens
  positive_only   layer x neuron              pairs active with the positive description only
  negative_only   layer x neuron              pairs active with the reversed description only
  pair_mean_diff, pair_mean_diff_sq
                  layer x neuron              sum over pairs of the per-token mean activation
                                              difference d, and of d^2 (older cubes lack
                                              them; their paired test asks to remeasure)
  units           polarity                    N: prompts (prompt rule) or tokens (token rule)
  prompts, tokens polarity                    prompts and real tokens measured
  pairs           -                           paired questions measured (0 for unpaired data)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from nnvalues.stats.tally import Tally
from nnvalues.taxonomy import POLARITIES

PROVENANCE_COORDS = (
    "model_source", "model_revision", "model_type", "dtype", "counting", "span", "answer_tokens",
    "template", "template_mode", "template_sha256",
)
CELL_COORDS = ("data_name", "data_version", "data_fingerprint", "seed", "batch_size",
               "package_version", "created")


def cell_dataset(tally: Tally, counting: str, attrs: dict[str, Any]) -> xr.Dataset:
    """Turn a finished tally into a labelled cell; `attrs` is the provenance to keep."""
    units = tally.prompts if counting == "prompt" else tally.tokens
    layer_neuron_pol = ("layer", "neuron", "polarity")
    data = xr.Dataset(
        {
            "active": (layer_neuron_pol, tally.active.transpose(0, 2, 1).astype(np.int32)),
            "activation_sum": (layer_neuron_pol, tally.activation_sum.transpose(0, 2, 1)),
            "positive_only": (("layer", "neuron"), tally.positive_only.astype(np.int32)),
            "negative_only": (("layer", "neuron"), tally.negative_only.astype(np.int32)),
            "pair_mean_diff": (("layer", "neuron"), tally.pair_mean_diff),
            "pair_mean_diff_sq": (("layer", "neuron"), tally.pair_mean_diff_sq),
            "units": (("polarity",), units.astype(np.int64)),
            "prompts": (("polarity",), tally.prompts.astype(np.int64)),
            "tokens": (("polarity",), tally.tokens.astype(np.int64)),
            "pairs": ((), np.int64(tally.pairs)),
        },
        coords={
            "layer": np.arange(tally.n_layers),
            "neuron": np.arange(tally.n_neurons),
            "polarity": np.array(POLARITIES, dtype=object),  # variable-length strings: in the zarr v3 spec
        },
        attrs=attrs,
    )
    data["active"].attrs["description"] = f"units counted active ({counting} rule)"
    return data


def label_cell(data: xr.Dataset) -> xr.Dataset:
    """Add the model and dimension axes, and provenance as coordinates along them."""
    attrs = data.attrs
    model_coords = {k: ("model", [str(attrs.get(k, ""))]) for k in PROVENANCE_COORDS}
    cell_coords = {k: (("model", "dimension"), [[str(attrs.get(k, ""))]]) for k in CELL_COORDS}
    labelled = data.expand_dims(model=[attrs["model"]], dimension=[attrs["dimension"]])
    for name in ("units", "prompts", "tokens", "pairs"):
        labelled[name] = labelled[name].transpose("model", "dimension", ...)
    labelled = labelled.assign_coords({**model_coords, **cell_coords})
    labelled.attrs = {}
    return labelled
