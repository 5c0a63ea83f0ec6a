"""`nnvalues cube`: see what a store holds and read slices of it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from nnvalues.cli.output import console, table
from nnvalues.config import default_store
from nnvalues.cube.slicing import export_table, slice_table, summarise_store
from nnvalues.cube.store import MODEL_SETTINGS, CubeStore
from nnvalues.cube.view import open_cube
from nnvalues.select.selection import PAPER_THRESHOLD

app = typer.Typer(help="Inspect and slice activation cubes.", no_args_is_help=True)


@app.command()
def show(
    path: Optional[Path] = typer.Argument(None, help="Store [default: stores/activations.zarr]."),
    threshold: float = typer.Option(PAPER_THRESHOLD, help="|delta| for the neuron counts."),
) -> None:
    """What a store holds: models, their settings, and one line per measured dimension."""
    path = path or default_store()
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
    path: Optional[Path] = typer.Argument(None, help="Store [default: stores/activations.zarr]."),
    model: Optional[str] = typer.Option(None, help="Model label (needed when the store has several)."),
    dimension: Optional[str] = typer.Option(None, help="Dimension (needed when the store has several)."),
    layer: Optional[str] = typer.Option(None, help="Layers: 5, 3,7 or 10:15 (end excluded)."),
    neuron: Optional[str] = typer.Option(None, help="Neurons, same syntax."),
    top: Optional[int] = typer.Option(20, help="Keep the N neurons with the largest |delta| (0: all)."),
    out: Optional[Path] = typer.Option(None, help="Write the slice to a .csv, .json or .jsonl file."),
) -> None:
    """Per-neuron p(+), p(-), delta and mean activations of one model and dimension."""
    path = path or default_store()
    cube = open_cube(path, models=[model] if model else None)
    rows = slice_table(cube, model=model, dimension=dimension, layers=layer, neurons=neuron,
                       top=top or None)
    if out is not None:
        export_table(rows, out)
        console.print(f"wrote {len(rows)} rows to {out}")
        return
    console.print(table(f"{path}", list(rows.columns),
                        rows.itertuples(index=False, name=None)))
