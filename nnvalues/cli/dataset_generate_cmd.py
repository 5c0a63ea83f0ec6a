"""`nnvalues dataset generate` and `refine`: grow the data set with an OpenAI-compatible endpoint.

The endpoint comes from --base-url or OPENAI_BASE_URL and the key from OPENAI_API_KEY only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from nnvalues.cli.dataset_cmd import app
from nnvalues.cli.output import console, parse_list, table
from nnvalues.data.generate import DEFAULT_MODEL, Endpoint, GenerateOptions, RefineOptions, Report
from nnvalues.data.generate import generate as run_generate
from nnvalues.data.generate import refine as run_refine
from nnvalues.data.generate.report import CHARS_PER_TOKEN, WORDS_PER_TOKEN
from nnvalues.taxonomy import DIMENSION_IDS, TOPICS

SHOWN_VIOLATIONS = 30

_MODEL = typer.Option(DEFAULT_MODEL, help="Chat model name at the endpoint.")
_BASE_URL = typer.Option(None, help="OpenAI-compatible base URL (default: $OPENAI_BASE_URL, else OpenAI's). "
                                    "The key is read from $OPENAI_API_KEY only.")
_TIMEOUT = typer.Option(60.0, help="Seconds to wait for one answer.")
_RETRIES = typer.Option(2, help="Retries of a failed request (the openai client's back-off).")
_MAX_TOKENS = typer.Option(4096, help="Longest answer, in tokens.")
_TEMPERATURE = typer.Option(1.0, help="Sampling temperature.")
_SEED = typer.Option(0, help="Sampling seed sent with every request.")
_CONCURRENCY = typer.Option(4, help="Requests in flight at once.")
_DIMENSION = typer.Option(None, "--dimension", help="Dimension(s), repeat or comma-separate (default: all).")
_ATOMIC = typer.Option(None, help="Comma-separated atomic values (default: all of the dimensions').")
_TOPICS = typer.Option(None, help=f"Comma-separated topics (default: {','.join(TOPICS)}).")
_KEEP_INVALID = typer.Option(False, "--keep-invalid", help="Also write items that break a data rule (they are reported).")
_DRY_RUN = typer.Option(False, "--dry-run", help="Send nothing: print the requests and tokens a run would cost.")
_QUIET = typer.Option(False, "--quiet", help="No progress bar.")


@app.command("generate")
def generate(
    out: Path = typer.Option(..., help="Output directory (the shipped layout; resumable)."),
    dimension: Optional[list[str]] = _DIMENSION,
    stage: str = typer.Option("all", help="all, examples (stop to edit them), descriptions or questions."),
    descriptions: int = typer.Option(80, help="New descriptions per dimension and polarity (paper: 80)."),
    questions_per_pair: int = typer.Option(10, help="Questions per atomic value x topic (paper: 10)."),
    atomic_values: Optional[str] = _ATOMIC,
    topics: Optional[str] = _TOPICS,
    refine: bool = typer.Option(True, help="Refine every question with the paper's refine prompt."),
    part: str = typer.Option("g", help="Questions go to <dimension>.questions.<part>.jsonl."),
    evaluate_fraction: float = typer.Option(0.25, help="Share of new questions in the evaluate split."),
    reference: Optional[Path] = typer.Option(None, help="Data set to avoid repeating and to take question "
                                                        "examples from (default: the shipped set)."),
    no_reference: bool = typer.Option(False, "--no-reference", help="Use no reference data set."),
    keep_invalid: bool = _KEEP_INVALID,
    model: str = _MODEL,
    base_url: Optional[str] = _BASE_URL,
    timeout: float = _TIMEOUT,
    max_retries: int = _RETRIES,
    max_tokens: int = _MAX_TOKENS,
    temperature: float = _TEMPERATURE,
    seed: int = _SEED,
    concurrency: int = _CONCURRENCY,
    dry_run: bool = _DRY_RUN,
    quiet: bool = _QUIET,
) -> None:
    """Generate descriptions and situational questions with the paper's prompts (appendix A)."""
    options = GenerateOptions(
        out=out, dimensions=_dimensions(dimension), stage=stage, descriptions=descriptions,
        questions_per_pair=questions_per_pair, atomic_values=_tuple(atomic_values),
        topics=_tuple(topics) or TOPICS, refine=refine, part=part, evaluate_fraction=evaluate_fraction,
        reference=None if no_reference else _reference(reference), keep_invalid=keep_invalid,
        concurrency=concurrency)
    endpoint = Endpoint(model, base_url, timeout, max_retries, temperature, max_tokens, seed)
    report = run_generate(options, endpoint, dry_run=dry_run, progress=None if quiet else _bar)
    _print(report, endpoint)


@app.command("refine")
def refine(
    out: Path = typer.Option(..., help="Output directory for the refined questions (same ids)."),
    source: Optional[Path] = typer.Option(None, help="Data set whose questions to refine (default: the shipped set)."),
    dimension: Optional[list[str]] = _DIMENSION,
    atomic_values: Optional[str] = _ATOMIC,
    topics: Optional[str] = _TOPICS,
    limit: Optional[int] = typer.Option(None, help="Questions per dimension."),
    keep_invalid: bool = _KEEP_INVALID,
    model: str = _MODEL,
    base_url: Optional[str] = _BASE_URL,
    timeout: float = _TIMEOUT,
    max_retries: int = _RETRIES,
    max_tokens: int = _MAX_TOKENS,
    temperature: float = _TEMPERATURE,
    seed: int = _SEED,
    concurrency: int = _CONCURRENCY,
    dry_run: bool = _DRY_RUN,
    quiet: bool = _QUIET,
) -> None:
    """Refine situational questions to remove bias and tendency qualifiers (paper, appendix A)."""
    from nnvalues.data.valueinsight import data_directory

    options = RefineOptions(
        source=source or data_directory(), out=out, dimensions=_dimensions(dimension),
        atomic_values=_tuple(atomic_values), topics=_tuple(topics) or TOPICS, limit=limit,
        keep_invalid=keep_invalid, concurrency=concurrency)
    endpoint = Endpoint(model, base_url, timeout, max_retries, temperature, max_tokens, seed)
    report = run_refine(options, endpoint, dry_run=dry_run, progress=None if quiet else _bar)
    _print(report, endpoint)


def _dimensions(values: Optional[list[str]]) -> tuple[str, ...]:
    chosen = [d for value in values or () for d in parse_list(value) or ()]
    return tuple(chosen) or DIMENSION_IDS


def _tuple(text: Optional[str]) -> tuple[str, ...] | None:
    items = parse_list(text)
    return tuple(items) if items else None


def _reference(directory: Optional[Path]) -> Any:
    from nnvalues.data.valueinsight import load_dataset

    return load_dataset(directory)


def _bar(stage: str, total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=stage, unit="request", leave=False, disable=None)


def _print(report: Report, endpoint: Endpoint) -> None:
    if report.dry_run:
        _print_plan(report, endpoint)
    else:
        _print_outcome(report)
    for note in report.notes:
        console.print(f"note: {note}")


def _print_plan(report: Report, endpoint: Endpoint) -> None:
    rows = [(s.stage, s.requests, s.cached, s.to_send, s.prompt_tokens, s.completion_tokens,
             "estimate" if s.estimated else "exact") for s in report.stages.values()]
    columns = ("stage", "requests", "in journal", "to send", "prompt tokens~", "completion tokens~", "counts")
    console.print(table(f"dry run: {endpoint.model} at {endpoint.url} -> {report.out}", columns, rows))
    prompt = sum(s.prompt_tokens for s in report.stages.values())
    completion = sum(s.completion_tokens for s in report.stages.values())
    console.print(f"{report.to_send} request(s) to send, about {prompt} prompt and {completion} completion "
                  f"tokens ({CHARS_PER_TOKEN} characters or {WORDS_PER_TOKEN} words per token; "
                  "completion capped by --max-tokens)")


def _print_outcome(report: Report) -> None:
    rows = [(s.stage, s.requests, s.cached, s.to_send, s.answers_kept_aside, s.items, s.written,
             s.already_present, ", ".join(f"{k} {v}" for k, v in sorted(s.rejected.items())) or "-")
            for s in report.stages.values()]
    columns = ("stage", "requests", "from journal", "sent", "answers kept aside", "items", "written",
               "already present", "items set aside")
    console.print(table(f"generated into {report.out}", columns, rows))
    work = report.out / "generation"
    if any(s.answers_kept_aside or s.rejected for s in report.stages.values()):
        console.print(f"kept aside, with reasons: {work / 'rejects.jsonl'}")
    if report.violations:
        console.print(f"validate: {len(report.violations)} violation(s) in {report.out}:")
        for violation in report.violations[:SHOWN_VIOLATIONS]:
            console.print(f"  {violation}", markup=False, highlight=False)
        if len(report.violations) > SHOWN_VIOLATIONS:
            console.print(f"  ... all {len(report.violations)} in {work / 'violations.txt'}")
    else:
        console.print(f"validate: {report.out} passes the item rules")
