"""`evaluate`: measure a grid of edits - G-Eval on generated answers and/or judge-free
metrics (likelihood contrast, fluency, questionnaire self-ratings) - and keep everything.

Order of work, so that nothing finished is ever lost or done twice:
1. everything cheap is checked first: the grid, the questions, the results store's
   settings, and every neuron set (selected from the cube) - before a model is loaded;
2. per model, cell by cell (unedited baselines first): G-Eval answers are generated,
   checkpointed and judged through the cache; reference answers are generated once per
   set and dimension and kept; the edit is scored teacher-forced; the cell is written in
   one rename.
A rerun of the same command skips finished cells, reuses checkpointed answers, kept
references and cached judgements, and so continues where an interruption left off.
"""

from __future__ import annotations

from datetime import datetime, timezone
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

from tqdm.auto import tqdm

from nnvalues.config import default_store
from nnvalues.cube.store import CubeStore, model_key
from nnvalues.errors import StoreError, UsageError
from nnvalues.evaluate.cells import cell_dataset
from nnvalues.evaluate.context import RunContext, parse_metrics
from nnvalues.evaluate.grid import UNEDITED, Cell, Grid
from nnvalues.evaluate.judge_free import RatingMemo, likelihoods
from nnvalues.evaluate.judged import Memo, judged_part, stored_unedited
from nnvalues.evaluate.likert import Instrument, pvq40, valuebench
from nnvalues.evaluate.neurons import SelectionOptions, SetKey, grid_sets, keep_set, set_key, set_name
from nnvalues.evaluate.plan import Plan, make_plan
from nnvalues.evaluate.questions import fingerprint, load_questions
from nnvalues.evaluate.references import DEFAULT_REFERENCE_TOKENS
from nnvalues.evaluate.store import ResultsStore
from nnvalues.fingerprint import hash_json
from nnvalues.intervene.edits import build_edit, check_rule
from nnvalues.intervene.generation import GenerationSettings
from nnvalues.intervene.questions import ANSWER_TEMPLATE, render_questions
from nnvalues.judge.base import Judge
from nnvalues.judge.cache import JudgeCache
from nnvalues.judge.prompts import QUALITY_PROMPT, VALUE_PROMPT
from nnvalues.judge.runs import check_runs
from nnvalues.execution import Execution
from nnvalues.models.loading import LoadedModel, check_spec
from nnvalues.models.registry import EMBEDDED
from nnvalues.prompts.templates import TEMPLATES
from nnvalues.select import NeuronSet
from nnvalues.select.cell import resolve_model
from nnvalues.version import __version__

DEFAULT_RESULTS = Path("stores") / "evaluation.zarr"


@dataclass
class EvaluationSummary:
    results: Path
    plan: Plan
    cells_written: int = 0
    judgements: int = 0
    missing: dict[str, int] = field(default_factory=lambda: {"value": 0, "quality": 0})
    """Judgements (prompt x run) that gave no rating on the scale, per criterion."""
    cache_hits: int = 0


def expected_label(spec: str) -> str:
    """The label `load_model(spec)` will give, known before loading (for planning)."""
    path = Path(spec).expanduser()
    if spec in EMBEDDED:
        return spec
    if path.suffix == ".gguf":
        return path.stem
    if path.is_dir():
        return path.name
    return spec


NO_JUDGE = {"kind": "none"}


def run_settings(grid: Grid, judge: Judge | None, quality: bool, runs: int, limit: int | None,
                 settings: GenerationSettings, template_mode: str, edit_rule: str,
                 selection: SelectionOptions, metrics: Sequence[str] = ("geval",),
                 reference_tokens: int = DEFAULT_REFERENCE_TOKENS,
                 instruments: Sequence[Instrument] = ()) -> dict[str, Any]:
    """What decides the meaning of a number in the store; fixed by the store's first run."""
    generation = {k: v for k, v in settings.to_json().items() if k != "batch_size"}
    judged = "geval" in metrics
    return {
        "generation": generation, "template_mode": template_mode,
        "answer_template": hash_json(TEMPLATES[ANSWER_TEMPLATE]), "edit_rule": edit_rule,
        "selection": selection.to_json(), "questions_per_cell": limit or 0,
        "metrics": list(metrics),
        "judge": judge.identity if judged and judge is not None else NO_JUDGE,
        "runs": runs if judged else 0, "quality": quality and judged,
        "judge_prompts": hash_json([VALUE_PROMPT, QUALITY_PROMPT]) if judged else "",
        "references": ({"tokens": reference_tokens, "seed": selection.seed}
                       if "contrast" in metrics or "fluency" in metrics else {}),
        "instruments": {i.name: i.fingerprint() for i in instruments} if "likert" in metrics else {},
    }


def _instruments(metrics: Sequence[str], given: Sequence[Instrument] | None,
                 source: Path | None) -> tuple[Instrument, ...]:
    if "likert" not in metrics:
        return ()
    if given is not None:
        if not given:
            raise UsageError("the likert metric needs at least one questionnaire")
        return tuple(given)
    return (pvq40(source), valuebench(source))


def evaluate(
    grid: Grid,
    judge: Judge | None,
    *,
    cube: Path | str | None = None,
    results: Path | str | None = None,
    metrics: Sequence[str] = ("geval",),
    quality: bool = True,
    runs: int = 1,
    limit: int | None = 10,
    settings: GenerationSettings | None = None,
    template_mode: str = "auto",
    edit_rule: str = "multiply",
    selection: SelectionOptions | None = None,
    reference_tokens: int = DEFAULT_REFERENCE_TOKENS,
    instruments: Sequence[Instrument] | None = None,
    source: Path | None = None,
    device: str | None = None,
    dtype: str = "auto",
    dry_run: bool = False,
    show_progress: bool = True,
    on_cell: Callable[[Cell], None] | None = None,
    execution: Execution | str | None = None,
) -> EvaluationSummary:
    """Run (or, with `dry_run`, count) the grid's measurements into `results`.

    `metrics`: any of "geval" (needs `judge`), "contrast", "fluency", "likert"; with
    `judge=None` only the judge-free ones. `instruments` replaces PVQ40 and ValueBench
    (read from `source` or the verified download) for "likert". `execution` says where the
    edited model generates: "local" (default) or "remote" (NDIF; G-Eval only).
    """
    execution = Execution.of(execution).check()
    metrics = parse_metrics(metrics, judge)
    if execution.serialised and metrics != ("geval",):
        raise UsageError("the judge-free metrics (contrast, fluency, likert) run on a local model: "
                         "drop --remote, or use --metrics geval")
    settings = settings or GenerationSettings()
    selection = selection or SelectionOptions()
    if reference_tokens < 1:
        raise UsageError(f"`reference_tokens` must be at least 1 (got {reference_tokens})")
    cube_path = Path(cube) if cube is not None else default_store()
    results_path = Path(results) if results is not None else DEFAULT_RESULTS
    if judge is not None and "geval" in metrics:
        check_runs(judge, runs)
    check_rule(edit_rule)
    measured = {d for d in (*grid.dimensions, *grid.measure_dimensions)}
    questions = {(s, d): load_questions(s, d, limit, source) for s in grid.sets for d in measured}
    chosen_instruments = _instruments(metrics, instruments, source)
    run = run_settings(grid, judge, quality, runs, limit, settings, template_mode, edit_rule,
                       selection, metrics, reference_tokens, chosen_instruments)
    info = {"cube": str(cube_path), "judge_endpoint": _public_url(getattr(judge, "url", None)),
            "package_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    # Everything is checked before the results store is created or its settings recorded.
    store = ResultsStore.check_existing(results_path, run)
    cube_store = CubeStore.open(cube_path)
    labels = [resolve_model(cube_store, expected_label(check_spec(spec))) for spec in grid.models]
    neuron_sets = {label: grid_sets(cube_path, label, grid, selection) for label in labels}
    if store is None and not dry_run:
        store = ResultsStore.open_or_create(results_path, run, info)

    plan = make_plan(grid, labels, store, questions, metrics, runs, quality and "geval" in metrics,
                     settings.max_new_tokens, reference_tokens, chosen_instruments, run["judge"])
    summary = EvaluationSummary(results_path, plan)
    if dry_run or not plan.todo:
        return summary
    assert store is not None
    cache = JudgeCache(store.cache_dir) if "geval" in metrics else None
    progress = tqdm(total=plan.steps, unit="step", disable=not show_progress, desc="evaluate")
    context = RunContext(grid, judge, metrics, quality and "geval" in metrics, runs, settings,
                         template_mode, edit_rule, store, cache, questions, chosen_instruments,
                         reference_tokens, selection.seed, progress, summary, on_cell, execution)
    try:
        for spec, label in zip(grid.models, labels):
            todo = [c for c in plan.todo if c.model == label]
            if todo:
                _run_model(context, spec, label, todo, neuron_sets[label], device, dtype)
    finally:
        progress.close()
        if cache is not None:
            cache.flush()
            summary.cache_hits = cache.hits
    return summary


def _public_url(url: str | None) -> str | None:
    """The endpoint without any user:password part, fit to be recorded."""
    if url is None:
        return None
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.hostname or "" if parts.port is None
                                     else f"{parts.hostname}:{parts.port}"))


def _run_model(context: RunContext, spec: str, label: str, todo: list[Cell],
               sets: dict[SetKey, NeuronSet], device: str | None, dtype: str) -> None:
    loaded = context.execution.load(spec, device=device, dtype=dtype)
    if loaded.name != label:
        raise StoreError(f"model {spec} loads as {loaded.name}, but the cube holds {label}")
    key = model_key(label)
    for neuron_set in sets.values():
        if neuron_set.model_revision != loaded.revision:
            raise StoreError(f"the cube measured {label} with other weights (revision "
                             f"{neuron_set.model_revision[:12]} there, {loaded.revision[:12]} loaded)")
    _, renderer = render_questions(loaded.tokenizer, ["?"], context.template_mode)
    context.store.ensure_model(key, {**loaded.provenance(), **renderer.settings()})
    kept = {k: keep_set(context.store.path, set_name(key, k), s) for k, s in sets.items()}
    memo = stored_unedited(context.store, key) if context.judged else {}
    ratings = RatingMemo()
    for cell in todo:
        neuron_set = None
        if cell.condition.method != UNEDITED:
            neuron_set = kept[set_key(cell.dimension, cell.condition)]
        with context.store.cell_lock(key, cell.name):
            if not context.store.has_cell(key, cell.name):  # another run may have written it
                _run_cell(context, loaded, key, cell, neuron_set, memo, ratings)


def _run_cell(context: RunContext, loaded: LoadedModel, key: str, cell: Cell,
              neuron_set: NeuronSet | None, memo: Memo, ratings: RatingMemo) -> None:
    items = context.questions[(cell.set, cell.measured)]
    condition = cell.condition
    edit = None
    if neuron_set is not None:
        edit = build_edit(neuron_set, condition.direction, condition.gamma, context.edit_rule)
    context.progress.set_description(f"{cell.dimension} {condition.name}")
    judged = None
    if context.judged:
        judged = judged_part(context, loaded, key, cell, edit,
                             neuron_set.cube_fingerprint if neuron_set else None, items, memo)
    scores = None
    if context.likelihoods:
        scores = likelihoods(context, loaded, key, cell.set, cell.measured, items, edit)
    rated = None
    if context.likert:
        edit_key = (cell.dimension, condition) if neuron_set is not None else UNEDITED
        rated = ratings.ratings(context, loaded, edit_key, edit)
    attrs = {
        "model": cell.model, "set": cell.set, "dimension": cell.dimension,
        "measured_dimension": cell.measured, "method": condition.method,
        "direction": condition.direction, "gamma": condition.gamma, "neurons": condition.neurons,
        "threshold": condition.threshold, "control_of": condition.base, "seed": condition.seed,
        "selection": condition.selection if neuron_set else "",
        "neuron_set": neuron_set.name if neuron_set else "",
        "value_neurons": neuron_set.count("value") if neuron_set else 0,
        "opposite_neurons": neuron_set.count("opposite") if neuron_set else 0,
        "metrics": list(context.metrics),
        "questions_fingerprint": fingerprint(items), "package_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    context.store.write_cell(key, cell.name, cell_dataset(items, attrs, judged, scores, rated))
    context.summary.cells_written += 1
    if context.on_cell is not None:
        context.on_cell(cell)
