"""Tables 1 and 4 of the paper: positive and negative edits, every method the store holds as
rows (with the unedited model the paper omits and each method's random control), the
dimensions as columns, each cell mean [95% CI].

    python analyses/edit_tables.py [--results stores/study-smollm2.zarr] [--evidence evidence.csv]
        [--metric contrast] [--gamma 2]

Reads the results store's evidence table (or its CSV). Writes
table1_positive_edits.{md,csv} and table4_negative_edits.{md,csv}.
"""

from __future__ import annotations

import sys

import _path  # noqa: F401

from nnvalues.figures.effect_figures import edit_tables
from nnvalues.figures.output import held, script_main


def main(argv: list[str] | None = None) -> int:
    return script_main("edit_tables", __doc__, argv, lambda args, sources: edit_tables(
        sources, args.metric, **held(args)), results=True, edits=True)


if __name__ == "__main__":
    sys.exit(main())
