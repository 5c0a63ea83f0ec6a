"""How much the four dimensions' neuron sets overlap: the Jaccard index of every pair of
dimensions' value neurons, for the paper's rule and for FDR (the CSV adds both roles).

    python analyses/neuron_overlap.py [--cube stores/activations.zarr] [--threshold 0.03] [--fdr 0.05]

Reads the activation cube. Writes neuron_overlap.{png,svg,md,csv}.
"""

from __future__ import annotations

import sys

import _path  # noqa: F401

from nnvalues.figures.neuron_figures import overlap_figure
from nnvalues.figures.output import rules_of, script_main


def main(argv: list[str] | None = None) -> int:
    return script_main("neuron_overlap", __doc__, argv, lambda args, sources: overlap_figure(sources, rules_of(args)),
                       cube=True, rules=True)


if __name__ == "__main__":
    sys.exit(main())
