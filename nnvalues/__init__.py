"""nnvalues: find, store and edit the MLP neurons that carry human values in language models.

    import nnvalues as nv
    model = nv.load_model("smollm2-135m")
    cube = nv.locate(model, dimensions=["conservation"], limit=20)     # in memory
    cube.nnv.delta().sel(dimension="conservation")
    neurons = nv.select(cube, dimension="conservation", rule=nv.FDR(0.05))
    edit = nv.Edit.from_neurons(neurons, direction="positive", gamma=2.0)
    with model.envoy.trace(prompt):                                    # your own trace
        edit.apply(model)
        logits = model.envoy.lm_head.output.save()
    with edit.applied(model):                                          # plain HF calls
        out = model.hf_model.generate(**inputs)
"""

from nnvalues.cube import accessor as _accessor  # noqa: F401  (registers cube.nnv)
from nnvalues.cube.view import delta, mean_activation, open_cube, probability, statistic
from nnvalues.errors import NnvaluesError, StoreError, UsageError
from nnvalues.execution import Execution
from nnvalues.intervene import Edit, GenerationSettings, intervene
from nnvalues.locate import CellSummary, locate
from nnvalues.models.loading import LoadedModel, load_model
from nnvalues.select import (
    FDR, NeuronSet, RandomLike, Rule, Threshold, TopK, list_sets, load_set, select,
)
from nnvalues.taxonomy import DIMENSION_IDS, DIMENSIONS, POLARITIES
from nnvalues.version import __version__

__all__ = [
    "CellSummary", "DIMENSIONS", "DIMENSION_IDS", "Edit", "Execution", "FDR", "GenerationSettings",
    "LoadedModel", "NeuronSet", "NnvaluesError", "POLARITIES", "RandomLike", "Rule", "StoreError",
    "Threshold", "TopK", "UsageError", "__version__", "delta", "intervene", "list_sets",
    "load_model", "load_set", "locate", "mean_activation", "open_cube", "probability", "select",
    "statistic",
]
