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
from nnvalues.figures.output import parser, run
from nnvalues.figures.sources import Sources


def main(argv: list[str] | None = None) -> int:
    options = parser(__doc__, cube=True)
    options.add_argument("--threshold", type=float, default=0.03, help="the paper's rule: |delta| >= t")
    options.add_argument("--fdr", type=float, default=0.05, help="false discovery rate of the FDR rule")
    args = options.parse_args(argv)
    sources = Sources(cube=args.cube, model=args.model)
    rules = [("threshold", args.threshold), ("fdr", args.fdr)]
    return run("layer_distribution", lambda: layer_figure(sources, rules), args.out)


if __name__ == "__main__":
    sys.exit(main())
