"""`nnvalues locate`: measure activation statistics into a store."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from nnvalues.cli.output import console, parse_list, table
from nnvalues.cli.remote_options import (
    BATCHES_PER_REQUEST, NDIF_HOST, REMOTE, REMOTE_DEADLINE, execution_from,
)
from nnvalues.config import DTYPE_HELP, default_store
from nnvalues.locate import CellSummary, locate as run_locate
from nnvalues.select.selection import PAPER_THRESHOLD
from nnvalues.models.registry import DEFAULT_MODEL


def locate(
    model: str = typer.Option(DEFAULT_MODEL, help="Embedded name, repo id, directory or .gguf file."),
    dimensions: Optional[str] = typer.Option(None, help="Comma-separated dimensions (default: all)."),
    prompts: Optional[Path] = typer.Option(None, help="JSONL prompt records instead of the shipped set."),
    limit: Optional[int] = typer.Option(None, help="Questions (pairs) per dimension."),
    batch_size: int = typer.Option(8, help="Prompts per forward pass."),
    store: Optional[Path] = typer.Option(None, help="Store directory (default: stores/activations.zarr)."),
    counting: str = typer.Option("prompt", help="prompt (paper eq. 3-4) or token (LAPE/NPTI)."),
    span: str = typer.Option("prompt", help="Tokens counted: prompt (paper eq. 3), answer (the model's greedy answer, as the authors' code) or all."),
    answer_tokens: int = typer.Option(32, help="With --span answer/all: the answer's token budget."),
    template_mode: str = typer.Option("auto", help="auto, chat or raw."),
    seed: int = typer.Option(0, help="Seed of the description draws and question order."),
    restart: bool = typer.Option(False, help="Discard an unfinished measurement instead of resuming."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda (default: cuda when present)."),
    dtype: str = typer.Option("auto", help=DTYPE_HELP),
    quiet: bool = typer.Option(False, help="No progress bar."),
    remote: bool = REMOTE,
    ndif_host: Optional[str] = NDIF_HOST,
    batches_per_request: int = BATCHES_PER_REQUEST,
    remote_deadline: float = REMOTE_DEADLINE,
) -> None:
    """Measure, for every MLP neuron, how often it is active under value and reversed prompts."""
    target = store or default_store()
    execution = execution_from(remote, ndif_host, remote_deadline, batches_per_request)
    summaries: list[CellSummary] = []
    run_locate(
        model, dimensions=parse_list(dimensions), prompts=prompts, limit=limit,
        batch_size=batch_size, store=target, counting=counting, span=span,  # type: ignore[arg-type]
        answer_tokens=answer_tokens, template_mode=template_mode,
        seed=seed, restart=restart, device=device, dtype=dtype, show_progress=not quiet,
        execution=execution, on_cell=summaries.append,
    )
    rows = [(s.dimension, s.status, s.prompts, s.pairs, s.value_neurons, s.opposite_neurons,
             f"{s.seconds:.1f}") for s in summaries]
    columns = ("dimension", "status", "prompts", "pairs", f"delta >= {PAPER_THRESHOLD}",
               f"delta <= -{PAPER_THRESHOLD}", "seconds")
    console.print(table(f"{summaries[0].model} -> {target}", columns, rows))
    if execution.serialised:
        console.print(f"{execution.describe()}: {execution.meter.describe()}")
