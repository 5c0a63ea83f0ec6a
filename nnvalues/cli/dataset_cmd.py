"""`nnvalues dataset`: look at the prompts exactly as a model receives them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from nnvalues.cli.output import parse_list
from nnvalues.locate import select_records
from nnvalues.models.loading import load_model
from nnvalues.models.registry import DEFAULT_MODEL
from nnvalues.prompts.render import Renderer

app = typer.Typer(help="Work with prompt data.", no_args_is_help=True)


@app.command()
def render(
    model: str = typer.Option(DEFAULT_MODEL, help="Model whose tokenizer and chat template to use."),
    prompts: Optional[Path] = typer.Option(None, help="JSONL prompt records instead of the shipped set."),
    dimensions: Optional[str] = typer.Option(None, help="Comma-separated dimensions (default: all)."),
    limit: Optional[int] = typer.Option(None, help="Questions (pairs) per dimension."),
    template_mode: str = typer.Option("auto", help="auto, chat or raw."),
    seed: int = typer.Option(0, help="Seed of the description draws."),
) -> None:
    """Print one JSON line per record: its id, the exact text and the exact input_ids."""
    records, _ = select_records(prompts, parse_list(dimensions), limit, seed)
    renderer = Renderer(load_model(model, device="cpu").tokenizer, template_mode)  # type: ignore[arg-type]
    for record in records:
        rendered = renderer.render(record)
        line = {"id": rendered.id, "dimension": record.dimension, "polarity": record.polarity,
                "pair": record.pair, "template_mode": renderer.mode, "text": rendered.text,
                "input_ids": list(rendered.input_ids)}
        typer.echo(json.dumps(line, ensure_ascii=False))
