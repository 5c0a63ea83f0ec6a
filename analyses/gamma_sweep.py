"""Gamma sweep (paper Fig. 3): positive and negative edits of the selected neurons against random edits of the same size, per dimension, with 95% confidence bands; the unedited model as reference.

    python analyses/gamma_sweep.py [--results stores/study-smollm2.zarr] [--evidence evidence.csv]
        [--method paper] [--metric contrast]

Reads the results store's evidence table (or its CSV). Writes gamma_sweep.{png,svg}.
"""

from __future__ import annotations

import sys

import _path  # noqa: F401

from nnvalues.figures.effect_figures import sweep_figure
from nnvalues.figures.output import held, script_main


def main(argv: list[str] | None = None) -> int:
    return script_main("gamma_sweep", __doc__, argv, lambda args, sources: [sweep_figure(
        sources, "gamma", args.method, args.metric, **held(args, "gamma"))], results=True, edits=True)


if __name__ == "__main__":
    sys.exit(main())
