"""How many neurons pass the paper's threshold, against how many would pass by chance when
the polarity labels are flipped at random within pairs (expected count and 95% band), for
a range of thresholds.

    python analyses/chance_counts.py [--cube stores/activations.zarr] [--thresholds 0.01,0.03,0.1]

Reads the activation cube. Writes chance_counts.{png,svg,md,csv}.
"""

from __future__ import annotations

import sys

import _path  # noqa: F401

from nnvalues.figures.neuron_figures import THRESHOLDS, chance_figure
from nnvalues.figures.output import script_main


def main(argv: list[str] | None = None) -> int:
    def thresholds(options) -> None:
        options.add_argument("--thresholds", default=",".join(map(str, THRESHOLDS)),
                             help="comma-separated thresholds on |delta|")

    def build(args, sources):
        return chance_figure(sources, tuple(float(t) for t in args.thresholds.split(",")))
    return script_main("chance_counts", __doc__, argv, build, thresholds, cube=True)


if __name__ == "__main__":
    sys.exit(main())
