"""Threshold sweep (paper Fig. 6): for each threshold of the paper's rule, the value effect
against the fluency cost (both as changes against the unedited model, with 95% intervals),
per dimension; random controls of the same size in grey.

    python analyses/threshold_tradeoff.py [--results stores/study-smollm2.zarr] [--evidence evidence.csv]

Reads the results store's evidence table (or its CSV); needs the fluency metric and a
threshold axis. Writes threshold_tradeoff.{png,svg}.
"""

from __future__ import annotations

import sys

import _path  # noqa: F401

from nnvalues.figures.effect_figures import tradeoff_figure
from nnvalues.figures.output import held, script_main


def main(argv: list[str] | None = None) -> int:
    return script_main("threshold_tradeoff", __doc__, argv, lambda args, sources: [tradeoff_figure(
        sources, args.method, args.metric, **held(args, "threshold"))], results=True, edits=True)


if __name__ == "__main__":
    sys.exit(main())
