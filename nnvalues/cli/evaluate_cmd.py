"""`nnvalues evaluate`: a grid of edits measured by G-Eval and/or judge-free metrics, kept in a results store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from nnvalues.cli.output import console, parse_list
from nnvalues.cli.remote_options import NDIF_HOST, REMOTE, REMOTE_DEADLINE, execution_from
from nnvalues.config import DTYPE_HELP
from nnvalues.evaluate.context import METRIC_CHOICES
from nnvalues.evaluate.grid import Grid, parse_dimensions, parse_gammas, parse_neurons, parse_numbers
from nnvalues.evaluate.neurons import SelectionOptions
from nnvalues.evaluate.references import DEFAULT_REFERENCE_TOKENS
from nnvalues.evaluate.runner import DEFAULT_RESULTS, evaluate as run_evaluate
from nnvalues.intervene.generation import GenerationSettings
from nnvalues.judge.spec import make_judge
from nnvalues.models.registry import DEFAULT_MODEL
from nnvalues.select import DEFAULT_FDR, PAPER_THRESHOLD
from nnvalues.taxonomy import DIMENSION_IDS


DRY_RUN_KEY = "dry-run-sends-no-request"


def _items(text: str) -> list[str]:
    """Comma-separated values; an empty string is an empty axis (refused by the grid)."""
    return parse_list(text) or []


def evaluate(
    models: str = typer.Option(DEFAULT_MODEL, help="Models to edit, comma-separated."),
    methods: str = typer.Option("paper", help="Neuron selections: paper, top-k, fdr, and random (a control of each)."),
    dimensions: str = typer.Option(",".join(DIMENSION_IDS), help="Dimensions to edit, comma-separated."),
    measure_dimensions: str = typer.Option("", help="Also measure each edit on these dimensions (all: the 4 x 4 specificity matrix)."),
    metrics: str = typer.Option("geval", help=f"Comma-separated: {', '.join(METRIC_CHOICES)}."),
    directions: str = typer.Option("positive", help="positive (toward the value), negative, or both."),
    gammas: str = typer.Option("2.0", help="Scaling factors gamma, comma-separated."),
    neurons: str = typer.Option("all", help="Neurons per role to edit: all, or counts such as 10,50."),
    thresholds: str = typer.Option(str(PAPER_THRESHOLD), "--thresholds", "--threshold", help="paper method: |delta| >= T, one or more (a grid axis)."),
    seeds: int = typer.Option(5, help="Independent seeds of every random control."),
    sets: str = typer.Option("heldout", help="Evaluation sets: heldout, pvq40, valuebench."),
    limit: int = typer.Option(10, help="Questions per set and dimension."),
    store: Optional[Path] = typer.Option(None, help="Activation cube (default: stores/activations.zarr)."),
    results: Path = typer.Option(DEFAULT_RESULTS, help="Results store (created or continued)."),
    judge: str = typer.Option("openai:gpt-4o", help="openai:<model> (OpenAI or a compatible server), local:<model>, or none (judge-free metrics only)."),
    judge_mode: str = typer.Option("logprobs", help="Remote judges: logprobs (one call) or sampling."),
    judge_base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL, else OpenAI); the key is read from $OPENAI_API_KEY only."),
    judge_samples: int = typer.Option(20, help="Sampling mode: answers per judgement."),
    judge_temperature: float = typer.Option(2.0, help="Sampling mode: temperature (G-Eval uses 2)."),
    judge_runs: int = typer.Option(1, help="Independent judge runs averaged per answer (the paper: 10)."),
    judge_concurrency: int = typer.Option(4, help="Remote judges: requests in flight."),
    judge_batch: bool = typer.Option(False, "--judge-batch", help="Send judgements through OpenAI's Batch API (OpenAI only)."),
    judge_batch_size: int = typer.Option(8, help="Local judge: prompts scored together."),
    quality: bool = typer.Option(True, "--quality/--no-quality", help="Also judge text quality (fluency, grammar)."),
    max_new_tokens: int = typer.Option(128, help="Tokens to generate per answer."),
    reference_tokens: int = typer.Option(DEFAULT_REFERENCE_TOKENS, help="contrast, fluency: token budget of each reference answer."),
    batch_size: int = typer.Option(16, help="Questions generated together."),
    sample: bool = typer.Option(False, "--sample", help="Sample answers instead of greedy decoding."),
    temperature: float = typer.Option(1.0, help="Answer sampling temperature (with --sample)."),
    seed: int = typer.Option(0, help="Seed of sampling, of reference descriptions and of the first random control."),
    template_mode: str = typer.Option("auto", help="auto, chat or raw."),
    edit: str = typer.Option("multiply", help="multiply (paper eq. 6) or add (NPTI-style)."),
    top_k: int = typer.Option(50, help="top-k method with --neurons all: k per role."),
    fdr: float = typer.Option(DEFAULT_FDR, help="fdr method: false discovery rate q."),
    test: str = typer.Option("mid-p", help="fdr method: McNemar variant, mid-p or exact."),
    match_layers: bool = typer.Option(True, "--match-layers/--any-layers", help="random method: as many neurons per layer as the reference set."),
    scores: Optional[Path] = typer.Option(None, help="Baseline methods (lpip, qrnca, cgvst, meandiff, atp): the score store of `nnvalues baselines score` [default: stores/baselines.zarr]."),
    source: Optional[Path] = typer.Option(None, help="Folder with the ValueBench files (pvq40, valuebench) instead of the download."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda (default: cuda when present)."),
    dtype: str = typer.Option("auto", help=DTYPE_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only print the plan's cost (generations, forwards, judge calls)."),
    quiet: bool = typer.Option(False, help="No progress bar."),
    remote: bool = REMOTE,
    ndif_host: Optional[str] = NDIF_HOST,
    remote_deadline: float = REMOTE_DEADLINE,
) -> None:
    """Edit and measure (G-Eval and/or judge-free metrics) over a grid of methods x dimensions
    x directions x gammas x neuron counts x thresholds; rerun the same command to resume."""
    grid = Grid(models=tuple(_items(models)), methods=tuple(_items(methods)),
                dimensions=tuple(_items(dimensions)), directions=tuple(_items(directions)),
                gammas=parse_gammas(_items(gammas)), neurons=parse_neurons(_items(neurons)),
                sets=tuple(_items(sets)),
                thresholds=parse_numbers(_items(thresholds), "a threshold", "0.03"), seeds=seeds,
                measure_dimensions=parse_dimensions(_items(measure_dimensions)))
    settings = GenerationSettings(max_new_tokens=max_new_tokens, do_sample=sample, seed=seed,
                                  temperature=temperature, batch_size=batch_size)
    selection = SelectionOptions(top_k=top_k, fdr=fdr, test=test, seed=seed, match_layers=match_layers,
                                 scores=str(scores) if scores else "")
    chosen = None
    if judge.strip().lower() != "none":
        chosen = make_judge(judge, mode=judge_mode, base_url=judge_base_url, samples=judge_samples,
                            api_key=DRY_RUN_KEY if dry_run else None,  # a dry run sends nothing
                            temperature=judge_temperature, concurrency=judge_concurrency,
                            use_batch=judge_batch, batch_dir=Path(results) / "judge_batches",
                            batch_size=judge_batch_size, template_mode="auto", device=device,
                            dtype=dtype)
    summary = run_evaluate(grid, chosen, cube=store, results=results, quality=quality,
                           metrics=tuple(_items(metrics)), reference_tokens=reference_tokens,
                           runs=judge_runs, limit=limit, settings=settings,
                           template_mode=template_mode, edit_rule=edit, selection=selection,
                           source=source, device=device, dtype=dtype, dry_run=dry_run,
                           show_progress=not quiet,
                           execution=execution_from(remote, ndif_host, remote_deadline))
    plan = summary.plan
    if dry_run:
        console.print(f"dry run: {plan.describe()}")
        return
    console.print(f"{summary.cells_written} cells written to {results} ({plan.stored} were already "
                  f"there); {summary.judgements} judgements, {summary.cache_hits} from the cache")
    for criterion, count in summary.missing.items():
        if count:
            print(f"warning: {count} {criterion} judgement(s) gave no rating on the 1-5 scale; "
                  "they are stored as missing (NaN) and left out of the means", file=sys.stderr)
    console.print(f"tables: nnvalues report {results}")


COMMANDS = {"evaluate": evaluate}
