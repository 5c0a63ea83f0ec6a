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
from nnvalues.figures.output import held, parser, run
from nnvalues.figures.sources import Sources


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__, results=True, edits=True).parse_args(argv)
    sources = Sources(results=args.results, evidence_csv=args.evidence)
    return run("edit_tables", lambda: edit_tables(sources, args.metric, **held(args)), args.out)


if __name__ == "__main__":
    sys.exit(main())
