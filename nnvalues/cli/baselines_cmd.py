"""`nnvalues baselines score`: score every neuron with a baseline method into a score store;
`nnvalues select --method M` turns the scores into a neuron set (see `selected_by_method`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from nnvalues.baselines import METHODS, TARGET_RULES, Baseline, TargetRule, default_score_store
from nnvalues.baselines import score as run_score
from nnvalues.cli.output import console, parse_list, table
from nnvalues.cli.remote_options import (
    BATCHES_PER_REQUEST, NDIF_HOST, REMOTE, REMOTE_DEADLINE, execution_from,
)
from nnvalues.errors import UsageError
from nnvalues.models.registry import DEFAULT_MODEL

app = typer.Typer(help="Neuron-finding baselines (LPIP, QRNCA, CGVST, mean difference, "
                       "attribution patching) scored into a score store.", no_args_is_help=True)


@app.command("score")
def score(
    method: str = typer.Option(..., help=f"One of {', '.join(METHODS)}."),
    model: str = typer.Option(DEFAULT_MODEL, help="Embedded name, repo id, directory or .gguf file."),
    dimensions: Optional[str] = typer.Option(None, help="Comma-separated dimensions (default: all)."),
    prompts: Optional[Path] = typer.Option(None, help="JSONL prompt records instead of the shipped set."),
    limit: Optional[int] = typer.Option(None, help="Questions (pairs) per dimension."),
    batch_size: int = typer.Option(8, help="Prompts per batch (LPIP: larger batches share more work)."),
    store: Optional[Path] = typer.Option(None, help="Score store [default: stores/baselines.zarr]."),
    cube: Optional[Path] = typer.Option(None, help="Activation store meandiff reads [default: stores/activations.zarr]."),
    targets: str = typer.Option("greedy", help=f"Target tokens: {', '.join(TARGET_RULES)}."),
    target_tokens: int = typer.Option(8, help="Target tokens per prompt."),
    steps: int = typer.Option(16, help="QRNCA: integrated-gradient steps."),
    significant_tokens: int = typer.Option(4, help="CGVST: positions kept per prompt."),
    template_mode: str = typer.Option("auto", help="auto, chat or raw."),
    seed: int = typer.Option(0, help="Seed of the description draws and question order (as locate)."),
    restart: bool = typer.Option(False, help="Discard an unfinished run instead of resuming."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda [default: cuda when present]."),
    dtype: str = typer.Option("auto", help="auto, float32, bfloat16, ..."),
    quiet: bool = typer.Option(False, help="No progress bar."),
    remote: bool = REMOTE,
    ndif_host: Optional[str] = NDIF_HOST,
    batches_per_request: int = BATCHES_PER_REQUEST,
    remote_deadline: float = REMOTE_DEADLINE,
) -> None:
    """Score every neuron with one baseline on the prompts `locate` measures (atp, cgvst and
    qrnca also on NDIF)."""
    target = store or default_score_store()
    execution = execution_from(remote, ndif_host, remote_deadline, batches_per_request)
    summaries = run_score(
        model, method=method, dimensions=parse_list(dimensions), prompts=prompts, limit=limit,
        batch_size=batch_size, store=target, cube=cube, targets=TargetRule(targets, target_tokens),
        steps=steps, significant_tokens=significant_tokens, template_mode=template_mode, seed=seed,
        restart=restart, device=device, dtype=dtype, show_progress=not quiet, execution=execution)
    rows = [(s.dimension, s.status, s.prompts, f"{s.seconds:.1f}",
             f"{s.seconds / s.prompts:.2f}" if s.prompts and s.seconds else "") for s in summaries]
    console.print(table(f"{method}: {summaries[0].model} -> {target}",
                        ("dimension", "status", "prompts", "seconds", "seconds/prompt"), rows))
    if execution.serialised:
        console.print(f"{execution.describe()}: {execution.meter.describe()}")


def baseline_rule(method: str, scores: Optional[Path], per_role: Optional[int],
                  random: bool) -> Baseline:
    """`nnvalues select --method M`: the baseline's rule, sized like the ValueLocate set."""
    if random:
        raise UsageError("--random is a control of the paper's rule: drop --method")
    return Baseline(method, str(scores or default_score_store()), per_role)
