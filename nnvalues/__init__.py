"""nnvalues: find, store and edit the MLP neurons that carry human values in language models.

The Python API mirrors the command line:

    import nnvalues
    summaries = nnvalues.locate("smollm2-135m", limit=10)
    cube = nnvalues.open_cube("stores/activations.zarr")
    nnvalues.delta(cube).sel(dimension="conservation")
"""

from nnvalues.cube.view import delta, mean_activation, open_cube, probability, statistic
from nnvalues.errors import NnvaluesError
from nnvalues.locate import CellSummary, locate
from nnvalues.models.loading import LoadedModel, load_model
from nnvalues.taxonomy import DIMENSION_IDS, DIMENSIONS, POLARITIES
from nnvalues.version import __version__

__all__ = [
    "CellSummary", "DIMENSIONS", "DIMENSION_IDS", "LoadedModel", "NnvaluesError", "POLARITIES",
    "__version__", "delta", "load_model", "locate", "mean_activation", "open_cube",
    "probability", "statistic",
]
