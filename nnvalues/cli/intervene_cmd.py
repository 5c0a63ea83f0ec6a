"""`nnvalues intervene`: answers with and without the value-neuron edit, side by side."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from tqdm.auto import tqdm

from nnvalues.cli.output import console, table
from nnvalues.cli.remote_options import NDIF_HOST, REMOTE, REMOTE_DEADLINE, execution_from
from nnvalues.config import DTYPE_HELP
from nnvalues.intervene.api import (
    InterventionResult, check_store_model, choose_neuron_set, intervene as run_intervene,
)
from nnvalues.intervene.edits import PAPER_GAMMA, Edit, check_direction, check_gamma, check_rule
from nnvalues.intervene.generation import GenerationSettings
from nnvalues.intervene.questions import check_questions, read_questions
from nnvalues.errors import UsageError
from nnvalues.models.registry import DEFAULT_MODEL
from nnvalues.select.rules import rule_from_options
from nnvalues.taxonomy import dimension as lookup_dimension
from nnvalues.storage import atomic_write_text, check_output_file


def _print(result: InterventionResult) -> None:
    edit = result.edit
    console.print(f"{result.model} · {result.neuron_set.dimension} · {edit.direction} edit, "
                  f"gamma {edit.gamma:g} ({edit.rule}) · {result.neuron_set.describe()} · "
                  f"{edit.size} neurons edited")
    rows = [(layer, a, s) for layer, (a, s) in sorted(edit.per_layer().items())]
    console.print(table("per layer", ("layer", "amplified", "suppressed"), rows))
    edited = f"edited ({edit.direction}, gamma {edit.gamma:g})"
    if console.is_terminal:
        console.print(table("answers", ("question", "unedited", edited),
                            [(a.question, a.unedited, a.edited) for a in result.answers]))
        return
    for answer in result.answers:
        console.print(f"\nquestion: {answer.question}\n\nunedited:\n{answer.unedited}\n\n"
                      f"{edited}:\n{answer.edited}", markup=False, highlight=False)


def intervene(
    question: Optional[List[str]] = typer.Argument(None, help="Question(s) to ask."),
    questions: Optional[Path] = typer.Option(None, help="File of questions: one per line, or JSONL with a question field."),
    model: str = typer.Option(DEFAULT_MODEL, help="Embedded name, repo id, directory or .gguf file."),
    store: Optional[Path] = typer.Option(None, help="Store (default: stores/activations.zarr)."),
    dimension: Optional[str] = typer.Option(None, help="Dimension (default: the store's first)."),
    direction: str = typer.Option("positive", help="positive (toward the value) or negative (away)."),
    gamma: str = typer.Option(str(PAPER_GAMMA), metavar="FLOAT", help="Scaling factor gamma (>= 0)."),
    edit: str = typer.Option("multiply", help="multiply (paper eq. 6) or add (NPTI-style)."),
    top_k: Optional[int] = typer.Option(None, help="Edit the N largest and N most negative deltas."),
    threshold: Optional[float] = typer.Option(None, help="Edit |delta| >= T (default: 0.03, the paper's)."),
    fdr: Optional[float] = typer.Option(None, help="Edit neurons significant at false discovery rate Q."),
    test: str = typer.Option("mid-p", help="McNemar variant for --fdr: mid-p or exact."),
    random: bool = typer.Option(False, "--random", help="Edit a random control of the same size."),
    match_layers: bool = typer.Option(False, help="With --random: match the per-layer counts."),
    neuron_set: Optional[str] = typer.Option(None, help="A set saved with `nnvalues select --name`."),
    max_new_tokens: int = typer.Option(128, help="Tokens to generate per answer."),
    sample: bool = typer.Option(False, "--sample", help="Sample instead of greedy decoding."),
    temperature: float = typer.Option(1.0, help="Sampling temperature (with --sample)."),
    seed: int = typer.Option(0, help="Seed of the random control and of sampling."),
    batch_size: int = typer.Option(8, help="Questions generated together."),
    template_mode: str = typer.Option("auto", help="auto, chat or raw."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda (default: cuda when present)."),
    dtype: str = typer.Option("auto", help=DTYPE_HELP),
    json_: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    out: Optional[Path] = typer.Option(None, help="Also write the JSON result to this file."),
    quiet: bool = typer.Option(False, help="No progress bar."),
    remote: bool = REMOTE,
    ndif_host: Optional[str] = NDIF_HOST,
    remote_deadline: float = REMOTE_DEADLINE,
) -> None:
    """Answer questions plainly and with value neurons edited (paper eq. 6), side by side."""
    if question and questions:
        raise UsageError("give questions as arguments or with --questions, not both")
    asked = read_questions(questions) if questions else check_questions(question or [])
    if out is not None:
        check_output_file(out, "--out")
    settings = GenerationSettings(max_new_tokens=max_new_tokens, do_sample=sample, seed=seed,
                                  temperature=temperature, batch_size=batch_size)
    check_direction(direction)
    check_rule(edit)
    gamma_value = check_gamma(gamma)
    if dimension is not None:
        lookup_dimension(dimension)
    chosen_by_rule = any(v is not None for v in (threshold, top_k, fdr)) or random
    rule = rule_from_options(threshold, top_k, fdr, test, random, seed, match_layers) \
        if chosen_by_rule or neuron_set is None else None
    execution = execution_from(remote, ndif_host, remote_deadline).check()
    if neuron_set is None:
        check_store_model(store, model)
    loaded = execution.load(model, device=device, dtype=dtype)
    neurons = choose_neuron_set(loaded, store=store, dimension=dimension, neuron_set=neuron_set,
                                rule=rule)
    batches = 2 * ((len(asked) + batch_size - 1) // batch_size)
    progress = tqdm(total=2 * len(asked), unit="answer", disable=quiet or batches <= 2,
                    file=sys.stderr)
    try:
        result = run_intervene(loaded, asked, Edit.from_neurons(neurons, direction, gamma_value, edit),
                               settings=settings, template_mode=template_mode,
                               on_batch=progress.update, execution=execution)
    finally:
        progress.close()
    data = result.to_json()
    if out is not None:
        atomic_write_text(out, json.dumps(data, indent=1, ensure_ascii=False))
    if json_:
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    _print(result)
    if out is not None:
        console.print(f"wrote {out}")


COMMANDS = {"intervene": intervene}
