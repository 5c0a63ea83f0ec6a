"""Writing figures (PNG and SVG, with a caption line) and tables (Markdown and CSV), and the
command line every `analyses/` script shares."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from nnvalues.errors import StoreError, UsageError  # noqa: E402
from nnvalues.storage import atomic_write_bytes, atomic_write_text  # noqa: E402

if TYPE_CHECKING:
    from nnvalues.figures.sources import Sources

DEFAULT_CUBE = Path("stores/activations.zarr")
DEFAULT_RESULTS = Path("stores/study-smollm2.zarr")
DEFAULT_OUT = Path("analyses/figures")
FORMATS = ("png", "svg")
STABLE_METADATA = {"png": {"Software": None}, "svg": {"Date": None}}


class Skip(Exception):
    """The store lacks what a figure or table needs; the message says what."""


@dataclass(frozen=True)
class Figure:
    """A drawn figure, its file name (no suffix) and its caption line."""

    name: str
    figure: plt.Figure
    caption: str


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    frame: pd.DataFrame
    caption: str


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "-" if not np.isfinite(value) else f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown(table: Table) -> str:
    frame = table.frame
    lines = [f"### {table.title}", "", f"_{table.caption}_", "",
             "| " + " | ".join(map(str, frame.columns)) + " |", "|---" * len(frame.columns) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def render(figure: Figure, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes, its caption line under the axes."""
    import io

    fig = figure.figure
    fig.text(0.0, -0.06, figure.caption, fontsize=7, ha="left", va="top", wrap=True, color="0.3")
    buffer = io.BytesIO()
    with plt.rc_context({"svg.hashsalt": figure.name}):  # the same figure, the same bytes
        fig.savefig(buffer, format=fmt, dpi=150, bbox_inches="tight", metadata=STABLE_METADATA[fmt])
    fig.texts.pop()
    return buffer.getvalue()


def save_figure(figure: Figure, out: Path) -> list[Path]:
    paths = []
    for fmt in FORMATS:
        path = out / f"{figure.name}.{fmt}"
        atomic_write_bytes(path, render(figure, fmt))
        paths.append(path)
    plt.close(figure.figure)
    return paths


def save_table(table: Table, out: Path) -> list[Path]:
    md, csv = out / f"{table.name}.md", out / f"{table.name}.csv"
    atomic_write_text(md, markdown(table))
    atomic_write_text(csv, table.frame.to_csv(index=False, float_format="%.6g"))
    return [md, csv]


def parser(doc: str, cube: bool = False, results: bool = False, edits: bool = False,
           rules: bool = False) -> argparse.ArgumentParser:
    """The arguments every script takes: the stores it reads and where it writes; with
    `edits`, which edits a figure of effects shows (see `held`); with `rules`, the paper's
    threshold and the FDR rate (see `rules_of`)."""
    found = argparse.ArgumentParser(description=doc.strip().split("\n\n")[0])
    if cube:
        found.add_argument("--cube", type=Path, default=DEFAULT_CUBE, help="activation cube store")
        found.add_argument("--model", default=None, help="model label, when the cube holds several")
    if results:
        found.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                           help="results store written by `nnvalues evaluate`")
        found.add_argument("--evidence", type=Path, default=None,
                           help="its evidence CSV (`nnvalues report --csv`), to skip recomputing it")
    if rules:
        found.add_argument("--threshold", type=float, default=0.03, help="the paper's rule: |delta| >= t")
        found.add_argument("--fdr", type=float, default=0.05, help="false discovery rate of the FDR rule")
    if edits:
        found.add_argument("--method", default="paper", help="selection method shown against its random control")
        found.add_argument("--metric", default=None, help="value metric (default: contrast, else G-Eval, else likert)")
        for axis, kind, text in (("gamma", float, "edit strength"), ("neurons", int, "neurons per role (0: all)"),
                                 ("threshold", float, "the paper's threshold")):
            found.add_argument(f"--{axis}", type=kind, default=None,
                               help=f"hold the {text} at this value (default: 2 / all / 0.03 if held, else the most common)")
    found.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the files")
    return found


def held(args: argparse.Namespace, sweep: str | None = None) -> dict[str, float | None]:
    """The axes a figure holds fixed, as `--gamma/--neurons/--threshold` gave them."""
    return {axis: getattr(args, axis) for axis in ("gamma", "neurons", "threshold") if axis != sweep}


def rules_of(args: argparse.Namespace) -> list[tuple[str, float]]:
    return [("threshold", args.threshold), ("fdr", args.fdr)]


def script_main(name: str, doc: str, argv: Sequence[str] | None,
                build: Callable[[argparse.Namespace, "Sources"], Sequence[Figure | Table]],
                extra: Callable[[argparse.ArgumentParser], None] | None = None, **flags: bool) -> int:
    """A script's whole life: parse its arguments, open its stores, build, write or skip."""
    from nnvalues.figures.sources import Sources

    options = parser(doc, **flags)
    if extra is not None:
        extra(options)
    args = options.parse_args(argv)
    sources = Sources(cube=getattr(args, "cube", None), results=getattr(args, "results", None),
                      evidence_csv=getattr(args, "evidence", None), model=getattr(args, "model", None))
    return run(name, lambda: build(args, sources), args.out)


def run(name: str, build: Callable[[], Sequence[Figure | Table]], out: Path) -> int:
    """Build and write; a store that lacks what is needed is one "skipped" line, exit 0."""
    try:
        made = build()
    except (Skip, StoreError) as reason:
        print(f"{name}: skipped ({reason})")
        return 0
    except UsageError as problem:
        print(f"{name}: {problem}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for item in made:
        paths = save_figure(item, out) if isinstance(item, Figure) else save_table(item, out)
        print(f"{name}: wrote {', '.join(str(p) for p in paths)}")
    return 0
