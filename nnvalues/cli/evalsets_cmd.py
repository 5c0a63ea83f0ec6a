"""`nnvalues dataset external`: the PVQ40 and ValueBench evaluation sets, fetched and mapped."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer

from nnvalues.cli.dataset_cmd import app
from nnvalues.cli.output import console, table
from nnvalues.data.external import (
    SETS,
    EvalItem,
    check_set,
    counts_by_dimension,
    load_set,
    valuebench_files,
)
from nnvalues.data.external.source import COMMIT, REPOSITORY
from nnvalues.errors import UsageError
from nnvalues.taxonomy import DIMENSION_IDS, dimension as check_dimension


@app.command("external")
def external(
    set_name: str = typer.Option("pvq40", "--set", help=f"Evaluation set: {' or '.join(SETS)}."),
    source: Optional[Path] = typer.Option(
        None, help="Folder with value_orientation.csv and value_data.xlsx (offline use)."),
    dimension: Optional[str] = typer.Option(None, help="Print the items of this dimension."),
    limit: Optional[int] = typer.Option(None, help="Print at most N items."),
    fetch: bool = typer.Option(False, "--fetch", help="Download the files again even if cached."),
) -> None:
    """Without --dimension or --limit: items per dimension. With them: one JSON line per item."""
    check_set(set_name)
    if dimension is not None:
        check_dimension(dimension)
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}")
    files = valuebench_files(source, refresh=fetch)
    items = load_set(set_name, source)
    if dimension is None and limit is None:
        _print_counts(set_name, items, files.directory)
        return
    chosen = [item for item in items if dimension is None or dimension in item.dimensions]
    for item in chosen[:limit]:
        typer.echo(json.dumps(asdict(item), ensure_ascii=False))


def _print_counts(set_name: str, items: list[EvalItem], directory: Path) -> None:
    totals = counts_by_dimension(items)
    rows = []
    for dim in DIMENSION_IDS:
        values = Counter(item.value for item in items if dim in item.dimensions)
        rows.append((dim, totals[dim], ", ".join(f"{v} {n}" for v, n in sorted(values.items()))))
    console.print(table(f"{set_name}: {len(items)} items (ValueBench, {REPOSITORY} "
                        f"{COMMIT[:12]}, MIT)", ("dimension", "items", "values"), rows))
    console.print(f"files: {directory}")
