"""`cube.nnv`: the cube's statistics and selections, reached from any cube Dataset.

Registered on import of nnvalues, so every cube (from `nnvalues.locate`, `open_cube`, or
a slice of either) carries it:

    cube.nnv.delta().sel(dimension="conservation")
    cube.nnv.select(dimension="conservation", rule=nv.FDR(0.05))
    cube.nnv.per_layer(dimension="conservation")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from nnvalues.choices import Statistic
from nnvalues.cube.view import delta, mean_activation, pick_cell, probability
from nnvalues.select.selection import ROLES

if TYPE_CHECKING:
    from nnvalues.select.neuron_set import NeuronSet
    from nnvalues.select.rules import Rule


@xr.register_dataset_accessor("nnv")
class CubeAccessor:
    """Domain methods of an activation cube (model x dimension x layer x neuron x polarity)."""

    def __init__(self, cube: xr.Dataset):
        self._cube = cube

    def probability(self) -> xr.DataArray:
        """p = active units / N (paper eq. 4)."""
        return probability(self._cube)

    def mean_activation(self) -> xr.DataArray:
        """Mean act_fn output per real token."""
        return mean_activation(self._cube)

    def delta(self, statistic: Statistic = "probability") -> xr.DataArray:
        """p(+) - p(-) (paper eq. 5), or the difference of mean activations."""
        return delta(self._cube, statistic)

    def cell(self, model: str | None = None, dimension: str | None = None) -> xr.Dataset:
        """One model and dimension, without those axes (an axis of one label needs no name)."""
        return pick_cell(self._cube, model, dimension)

    def select(self, dimension: str | None = None, rule: "Rule | None" = None,
               model: str | None = None) -> "NeuronSet":
        """The neuron set `rule` (default: the paper's threshold) chooses in one cell."""
        from nnvalues.select.rules import Threshold
        from nnvalues.select.selecting import select

        return select(self._cube, dimension=dimension, rule=rule or Threshold(), model=model)

    def per_layer(self, dimension: str | None = None, rule: "Rule | None" = None,
                  model: str | None = None) -> xr.DataArray:
        """Chosen neurons per layer and role (value, opposite) in one cell."""
        chosen = self.select(dimension, rule, model).selection
        n_layers = self.cell(model, dimension).sizes["layer"]
        counts = np.stack([np.bincount(chosen.layer[chosen.role == role], minlength=n_layers)
                           for role in ROLES], axis=1)
        return xr.DataArray(counts, dims=("layer", "role"),
                            coords={"layer": np.arange(n_layers), "role": list(ROLES)},
                            name="neurons")
