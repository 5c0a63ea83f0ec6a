"""`nnvalues report`: the evidence of a results store - mean [95% CI] per method and
dimension, paired differences against the unedited model and the random control, and
significance after multiple-testing correction; `--csv` writes one row per cell x metric,
`--html` one self-contained page with the figures and the provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from nnvalues.cli.output import parse_list
from nnvalues.errors import UsageError
from nnvalues.evaluate.evidence import evidence_table
from nnvalues.evaluate.grid import SETS
from nnvalues.evaluate.report import METRIC_NAMES, tables, to_csv
from nnvalues.evaluate.runner import DEFAULT_RESULTS
from nnvalues.evaluate.statistics import CORRECTIONS, DEFAULT_RESAMPLES
from nnvalues.storage import atomic_write_text, check_output_file


def report(
    results: Path = typer.Argument(DEFAULT_RESULTS, help="Results store written by `nnvalues evaluate`."),
    metric: str = typer.Option("all", help="Metrics to show: all, or value, quality, contrast, fluency, likert-pvq40, likert-valuebench."),
    correction: str = typer.Option("holm", help="Multiple-testing correction over the table: holm or bh."),
    sets: Optional[str] = typer.Option(None, help="Only these evaluation sets, comma-separated."),
    resamples: int = typer.Option(DEFAULT_RESAMPLES, help="Bootstrap resamples (at least 2000)."),
    seed: int = typer.Option(0, help="Seed of the bootstrap and of Monte Carlo sign flips."),
    csv: Optional[Path] = typer.Option(None, help="Write the evidence table (one row per cell x metric) to this CSV file."),
    html: Optional[Path] = typer.Option(None, help="Write one self-contained HTML page (figures, tables, provenance) to this file."),
) -> None:
    """Print mean [95% CI] per method and dimension and the paired differences, with the
    tests that survive Holm or BH correction marked *."""
    # Every option is checked before the store is read.
    if correction not in CORRECTIONS:
        raise UsageError(f"unknown --correction {correction!r}; choose from {', '.join(CORRECTIONS)}")
    for name in (parse_list(metric) or []) if metric != "all" else []:
        if name not in METRIC_NAMES:
            raise UsageError(f"unknown --metric {name!r}; choose from all, {', '.join(METRIC_NAMES)}")
    for name in parse_list(sets) or []:
        if name not in SETS:
            raise UsageError(f"unknown --sets {name!r}; choose from {', '.join(SETS)}")
    if csv is not None:
        check_output_file(csv, "--csv")
    table = evidence_table(results, resamples=resamples, seed=seed)
    metrics = None if metric == "all" else parse_list(metric)
    if metrics is not None and not set(metrics) & set(table["metric"]):
        raise UsageError(f"{results} holds no {metric} scores; it holds {', '.join(sorted(set(table['metric'])))}")
    shown = tables(table, correction, parse_list(sets), metrics)
    if not shown:
        raise UsageError(f"{results} holds no edited cells for this selection")
    typer.echo("\n\n".join(shown))
    if csv is not None:
        atomic_write_text(csv, to_csv(table))
        typer.echo(f"\nwrote {len(table)} rows to {csv}")
    if html is not None:
        from nnvalues.figures.html_report import html_report

        atomic_write_text(html, html_report(results, table, shown))
        typer.echo(f"wrote {html}")


COMMANDS = {"report": report}
