"""`nnvalues report`: the paper's tables (methods x dimensions, mean ± sd) from a results store."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from nnvalues.cli.output import parse_list
from nnvalues.errors import UsageError
from nnvalues.evaluate.report import METRICS, paper_tables, summarise, to_csv, to_markdown
from nnvalues.evaluate.runner import DEFAULT_RESULTS
from nnvalues.storage import atomic_write_text

FORMATS = ("markdown", "csv", "both")


def report(
    results: Path = typer.Argument(DEFAULT_RESULTS, help="Results store written by `nnvalues evaluate`."),
    metric: str = typer.Option("value", help="value (G-Eval alignment), quality, or all."),
    format: str = typer.Option("markdown", help="markdown, csv or both."),
    spread: str = typer.Option("auto", help="sd over runs, over questions, or auto (runs when > 1)."),
    sets: Optional[str] = typer.Option(None, help="Only these evaluation sets, comma-separated."),
    csv: Optional[Path] = typer.Option(None, help="Also write the tables as CSV to this file."),
) -> None:
    """Print the paper's tables: methods as rows (unedited baseline first), the four
    dimensions as columns, one table per set, direction, gamma and neuron count."""
    if format not in FORMATS:
        raise UsageError(f"unknown format {format!r}; choose from {', '.join(FORMATS)}")
    metrics = list(METRICS) if metric == "all" else [metric]
    frame = summarise(results)
    tables = [t for m in metrics for t in paper_tables(frame, m, spread, parse_list(sets))]
    if not tables:
        raise UsageError(f"{results} holds no cells for this selection")
    if format in ("markdown", "both"):
        typer.echo("\n\n".join(to_markdown(title, table) for title, table in tables))
    if format in ("csv", "both"):
        if format == "both":
            typer.echo("")
        typer.echo(to_csv(tables), nl=False)
    if csv is not None:
        atomic_write_text(csv, to_csv(tables))


COMMANDS = {"report": report}
