"""`nnvalues dataset show | stats | validate`: read, count and check a data set directory."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Optional

import typer

from nnvalues.cli.dataset_cmd import app
from nnvalues.cli.output import console, table
from nnvalues.data.summary import select_items, summarize
from nnvalues.data.text import word_count
from nnvalues.data.validate import validate_dataset
from nnvalues.data.valueinsight import SPLITS, Description, load_dataset
from nnvalues.taxonomy import DIMENSIONS, POLARITIES, TOPICS

DATA_HELP = "A data set directory in the shipped layout instead of the shipped set."


@app.command()
def show(
    dimension: Optional[str] = typer.Option(None, help="Only this dimension."),
    kind: Optional[str] = typer.Option(None, help="descriptions or questions (default: both)."),
    split: Optional[str] = typer.Option(None, help="Only questions of this split (locate, evaluate)."),
    polarity: Optional[str] = typer.Option(None, help="Only descriptions of this polarity."),
    limit: Optional[int] = typer.Option(None, help="Print at most this many items."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    data: Optional[Path] = typer.Option(None, help=DATA_HELP),
) -> None:
    """Print data set items with their labels."""
    items = select_items(load_dataset(data), dimension=dimension, kind=kind, split=split,
                         polarity=polarity, limit=limit)
    for item in items:
        if as_json:
            typer.echo(json.dumps(vars(item), ensure_ascii=False))
            continue
        labels = ([item.dimension, item.polarity, ",".join(item.atomic_values)]
                  if isinstance(item, Description)
                  else [item.dimension, item.atomic_value, item.topic, item.split])
        typer.echo(f"{item.id}  {'  '.join(l for l in labels if l)}  ({word_count(item.text)} words)")
        typer.echo(textwrap.fill(item.text, width=88, initial_indent="    ", subsequent_indent="    "))
        typer.echo("")
    if not items:
        typer.echo("no items match the selection")


@app.command()
def stats(data: Optional[Path] = typer.Option(None, help=DATA_HELP)) -> None:
    """Counts per dimension, polarity, split, atomic value and topic; text lengths in words."""
    dataset = load_dataset(data)
    summary = summarize(dataset)
    console.print(f"{summary.name} {summary.version}  fingerprint {summary.fingerprint[:16]}  "
                  f"{len(dataset.descriptions)} descriptions, {len(dataset.questions)} questions")
    dims = [d.id for d in DIMENSIONS]
    console.print(table("Items per dimension", ["dimension", *POLARITIES, *SPLITS],
                        [[d, *(summary.descriptions[d, p] for p in POLARITIES),
                          *(summary.questions[d, s] for s in SPLITS)] for d in dims]))
    console.print(table("Questions per atomic value", ["dimension", "atomic value", *SPLITS],
                        [[d.id, a.id, *(summary.atomic_values[d.id, a.id, s] for s in SPLITS)]
                         for d in DIMENSIONS for a in d.atomic_values]))
    console.print(table("Questions per topic (both splits)", ["topic", *dims],
                        [[t, *(summary.topics[d, t] for d in dims)] for t in TOPICS]))
    console.print(table("Words per text", ["kind", "dimension", "items", "min", "median", "max"],
                        [[kind, group, n.count, n.min, f"{n.median:g}", n.max]
                         for (kind, group), n in summary.lengths.items()]))


@app.command()
def validate(
    data: Optional[Path] = typer.Option(None, help=DATA_HELP),
    partial: bool = typer.Option(False, help="Skip minimum counts and coverage (a set still growing)."),
) -> None:
    """Check every rule of nnvalues/data/README.md; exit 1 with one line per violation."""
    dataset = load_dataset(data)
    violations = validate_dataset(dataset, require_minimums=not partial)
    for violation in violations:
        typer.echo(str(violation))
    items = len(dataset.descriptions) + len(dataset.questions)
    if violations:
        flagged = len({v.item_id for v in violations})
        typer.echo(f"{len(violations)} violation(s) in {flagged} item(s) of {items}")
        raise typer.Exit(code=1)
    typer.echo(f"OK: {dataset.name} {dataset.version}".rstrip() + f": {len(dataset.descriptions)} "
               f"descriptions and {len(dataset.questions)} questions pass every rule")
