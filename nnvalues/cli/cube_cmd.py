"""`nnvalues cube`: see what a store holds and read slices of it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from nnvalues.cli.output import console, table
from nnvalues.config import default_store
from nnvalues.cube.slicing import check_export, export_table, slice_table, summarise_store
from nnvalues.cube.store import MODEL_SETTINGS, CubeStore
from nnvalues.errors import StoreError
from nnvalues.evaluate.store import ResultsStore
from nnvalues.storecheck import check_store
from nnvalues.zarrstore import ZarrStore
from nnvalues.cube.view import open_cube
from nnvalues.select.selection import PAPER_THRESHOLD
from nnvalues.select.rules import Threshold

app = typer.Typer(help="Inspect and slice activation cubes.", no_args_is_help=True)


def open_any_store(path: Path) -> ZarrStore:
    """A cube store or a results store, whichever `path` is."""
    try:
        return ResultsStore.open(path)
    except StoreError:
        return CubeStore.open(path)


@app.command()
def show(
    path: Optional[Path] = typer.Argument(None, help="Store (default: stores/activations.zarr)."),
    threshold: float = typer.Option(PAPER_THRESHOLD, help="|delta| for the neuron counts."),
) -> None:
    """What a store holds: models, their settings, and one line per measured dimension."""
    path = path or default_store()
    Threshold(threshold)  # refuses -1, nan, ... before anything is read
    store = CubeStore.open(path)
    for key in store.models():
        settings = store.model_settings(key) or {}
        console.print(table(f"model {settings.get('model', key)}", ("setting", "value"),
                            [(k, settings.get(k, "")) for k in ("model", *MODEL_SETTINGS)]))
    rows = summarise_store(open_cube(path), threshold)
    console.print(table(
        f"cells in {path}",
        ("model", "dimension", "prompts", "pairs", f"delta >= {threshold}", f"delta <= -{threshold}", "created"),
        [tuple(r.values()) for r in rows],
    ))


@app.command("slice")
def slice_(
    path: Optional[Path] = typer.Argument(None, help="Store (default: stores/activations.zarr)."),
    model: Optional[str] = typer.Option(None, help="Model label (needed when the store has several)."),
    dimension: Optional[str] = typer.Option(None, help="Dimension (needed when the store has several)."),
    layer: Optional[str] = typer.Option(None, help="Layers: 5, 3,7 or 10:15 (end excluded)."),
    neuron: Optional[str] = typer.Option(None, help="Neurons, same syntax."),
    top: Optional[int] = typer.Option(20, help="Keep the N neurons with the largest |delta| (0: all)."),
    out: Optional[Path] = typer.Option(None, help="Write the slice to a .csv, .json or .jsonl file."),
) -> None:
    """Per-neuron p(+), p(-), delta and mean activations of one model and dimension."""
    path = path or default_store()
    if out is not None:
        check_export(out)
    cube = open_cube(path, models=[model] if model else None)
    rows = slice_table(cube, model=model, dimension=dimension, layers=layer, neurons=neuron,
                       top=top or None)
    if out is not None:
        export_table(rows, out)
        console.print(f"wrote {len(rows)} rows to {out}")
        return
    console.print(table(f"{path}", list(rows.columns),
                        rows.itertuples(index=False, name=None)))


@app.command()
def check(
    path: Optional[Path] = typer.Argument(None, help="Cube or results store (default: stores/activations.zarr)."),
    repair: bool = typer.Option(False, "--repair", help="Remove the damaged cells (and stale staging folders)."),
) -> None:
    """Read every cell of a store (cube or results) and list the damaged ones; with --repair,
    remove them so that rerunning their command measures them again."""
    store = open_any_store(path or default_store())
    damaged = check_store(store, repair=repair)
    for damage in damaged:
        verb = "removed" if repair and damage.cell else "damaged"
        console.print(f"{verb}: {damage.name} ({damage.reason})", markup=False, highlight=False)
    if not damaged:
        console.print(f"{store.path}: every cell is readable")
    elif not repair:
        raise StoreError(f"{store.path} has {len(damaged)} damaged cell(s): rerun with --repair "
                         "to remove them")
