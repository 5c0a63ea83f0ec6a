"""The PVQ40 profile of Schwartz's ten basic values (mean self-rating, centred on the model's
mean) for the unedited model and for positive and negative edits of each dimension, on the
values' circular arrangement (polar plot).

    python analyses/pvq40_profile.py [--results stores/study-smollm2.zarr] [--method paper] [--gamma 2]

Reads the PVQ40 item ratings of the results store's cells (`--metrics likert`). Writes
pvq40_profile.{png,svg}.
"""

from __future__ import annotations

import sys

import _path  # noqa: F401

from nnvalues.figures.output import script_main
from nnvalues.figures.pvq_profile import profile_figure


def main(argv: list[str] | None = None) -> int:
    def options(found) -> None:
        found.add_argument("--method", default="paper", help="selection method of the edits shown")
        found.add_argument("--gamma", type=float, default=None, help="edit strength (default: 2 if held)")
    return script_main("pvq40_profile", __doc__, argv, lambda args, sources: [profile_figure(
        sources, args.method, args.gamma)], options, results=True)


if __name__ == "__main__":
    sys.exit(main())
