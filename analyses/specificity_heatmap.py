"""The 4 x 4 specificity matrix: the effect of editing one dimension's neurons (rows) on
every dimension's measure (columns), against the unedited model, per direction; cells
marked * where the Holm-adjusted test passes.

    python analyses/specificity_heatmap.py [--results stores/study-smollm2.zarr] [--evidence evidence.csv]
        [--method paper] [--metric contrast]

Reads the results store's evidence table (or its CSV); needs edits measured on other
dimensions (`nnvalues evaluate --measure-dimensions all`). Writes specificity_heatmap.{png,svg}.
"""

from __future__ import annotations

import sys

import _path  # noqa: F401

from nnvalues.figures.effect_figures import specificity_figure
from nnvalues.figures.output import held, script_main


def main(argv: list[str] | None = None) -> int:
    return script_main("specificity_heatmap", __doc__, argv, lambda args, sources: [specificity_figure(
        sources, args.method, args.metric, **held(args))], results=True, edits=True)


if __name__ == "__main__":
    sys.exit(main())
