"""nnvalues: find, store and edit the MLP neurons that carry human values in language models.

The Python API mirrors the command line:

    import nnvalues
    summaries = nnvalues.locate("smollm2-135m", limit=10)
    cube = nnvalues.open_cube("stores/activations.zarr")
    nnvalues.delta(cube).sel(dimension="conservation")
    neurons = nnvalues.select_neurons(dimension="conservation", top_k=50)
    nnvalues.intervene("What would you do?", neuron_set=neurons, direction="positive", gamma=2.0)
"""

from nnvalues.cube.view import delta, mean_activation, open_cube, probability, statistic
from nnvalues.errors import NnvaluesError
from nnvalues.intervene import GenerationSettings, intervene
from nnvalues.locate import CellSummary, locate
from nnvalues.models.loading import LoadedModel, load_model
from nnvalues.select import NeuronSet, list_sets, load_set, select_neurons
from nnvalues.taxonomy import DIMENSION_IDS, DIMENSIONS, POLARITIES
from nnvalues.version import __version__

__all__ = [
    "CellSummary", "DIMENSIONS", "DIMENSION_IDS", "LoadedModel", "NnvaluesError", "POLARITIES",
    "__version__", "delta", "load_model", "locate", "mean_activation", "open_cube",
    "probability", "statistic",
    "GenerationSettings", "NeuronSet", "intervene", "list_sets", "load_set", "select_neurons",
]
