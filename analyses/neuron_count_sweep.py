"""Value effect against the number of edited neurons (paper Fig. 5): the selection method against random neurons of the same count, per dimension, with 95% confidence bands.

    python analyses/neuron_count_sweep.py [--results stores/study-smollm2.zarr] [--evidence evidence.csv]
        [--method paper] [--metric contrast]

Reads the results store's evidence table (or its CSV). Writes neuron_count_sweep.{png,svg}.
"""

from __future__ import annotations

import sys

import _path  # noqa: F401

from nnvalues.figures.effect_figures import sweep_figure
from nnvalues.figures.output import held, script_main


def main(argv: list[str] | None = None) -> int:
    return script_main("neuron_count_sweep", __doc__, argv, lambda args, sources: [sweep_figure(
        sources, "neurons", args.method, args.metric, **held(args, "neurons"))], results=True, edits=True)


if __name__ == "__main__":
    sys.exit(main())
