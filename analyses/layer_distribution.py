"""Where the selected neurons sit: count per layer and dimension for the paper's rule and for
FDR, each against its chance level under within-pair label flips (paper Fig. 4 and beyond).

    python analyses/layer_distribution.py [--cube stores/activations.zarr] [--threshold 0.03] [--fdr 0.05]

Reads the activation cube. Writes layer_distribution.{png,svg} and the counts
(layer_distribution.{md,csv}, layer_distribution_totals.{md,csv}).
"""

from __future__ import annotations

import sys

import _path  # noqa: F401

from nnvalues.figures.neuron_figures import layer_figure
from nnvalues.figures.output import rules_of, script_main


def main(argv: list[str] | None = None) -> int:
    return script_main("layer_distribution", __doc__, argv, lambda args, sources: layer_figure(sources, rules_of(args)),
                       cube=True, rules=True)


if __name__ == "__main__":
    sys.exit(main())
