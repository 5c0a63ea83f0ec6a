"""`evaluate`: generate answers over a grid of edits, judge them, and keep everything.

Order of work, so that nothing finished is ever lost or done twice:
1. everything cheap is checked first: the grid, the questions, the results store's
   settings, and every neuron set (selected from the cube) - before a model is loaded;
2. per model, cell by cell (unedited baseline first): answers are generated, written to a
   checkpoint, judged through the cache, and the cell is written in one rename.
A rerun of the same command skips finished cells, reuses checkpointed answers and cached
judgements, and so continues where an interruption or a failing judge left off.
Unedited answers are generated once per model and question, and shared by every cell and
dimension that asks that question.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from tqdm.auto import tqdm

from nnvalues.config import default_store
from nnvalues.cube.store import CubeStore, model_key
from nnvalues.errors import StoreError
from nnvalues.evaluate.cells import cell_dataset
from nnvalues.evaluate.grid import UNEDITED, Cell, Grid
from nnvalues.evaluate.neurons import SelectionOptions, choose_set, keep_set, set_name
from nnvalues.evaluate.questions import Item, fingerprint, load_questions
from nnvalues.evaluate.store import ResultsStore
from nnvalues.fingerprint import hash_json
from nnvalues.intervene.edits import build_edit, check_rule
from nnvalues.intervene.generation import GenerationSettings, generate
from nnvalues.intervene.questions import ANSWER_TEMPLATE, render_questions
from nnvalues.judge.base import Judge
from nnvalues.judge.cache import JudgeCache
from nnvalues.judge.prompts import QUALITY_PROMPT, VALUE_PROMPT, quality_prompt, value_prompt
from nnvalues.judge.runs import Rating, check_runs, judge_prompts
from nnvalues.execution import Execution
from nnvalues.models.loading import LoadedModel
from nnvalues.models.registry import EMBEDDED
from nnvalues.prompts.templates import TEMPLATES
from nnvalues.select import NeuronSet
from nnvalues.select.cell import resolve_model
from nnvalues.version import __version__

DEFAULT_RESULTS = Path("stores") / "evaluation.zarr"


@dataclass
class Plan:
    """What a run will do: the dry run prints it, the progress bar counts it down."""

    cells: int = 0
    """Cells in the grid (edited and unedited)."""
    stored: int = 0
    todo: list[Cell] = field(default_factory=list)
    generations: int = 0
    max_new_tokens: int = 0
    judgements: int = 0
    """Prompts x runs sent to the judge at most (cached ones are not sent)."""
    runs: int = 1
    judge: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        per_request = ""
        if self.judge.get("mode") == "sampling":
            per_request = (f"; each asks for {self.judge['samples']} samples (sent as "
                           f"{self.judge['samples']} requests where the server allows no n > 1)")
        return (f"{self.cells} cells in the grid, {self.stored} already stored, {len(self.todo)} to run: "
                f"{self.generations} generations of up to {self.max_new_tokens} tokens, "
                f"{self.judgements} judge calls at most ({self.runs} run(s) each){per_request}")


@dataclass
class EvaluationSummary:
    results: Path
    plan: Plan
    cells_written: int = 0
    judgements: int = 0
    missing: dict[str, int] = field(default_factory=lambda: {"value": 0, "quality": 0})
    """Judgements (prompt x run) that gave no rating on the scale, per criterion."""
    cache_hits: int = 0


@dataclass(frozen=True)
class _Context:
    """What every cell of one run shares."""

    grid: Grid
    judge: Judge
    quality: bool
    runs: int
    settings: GenerationSettings
    template_mode: str
    edit_rule: str
    store: ResultsStore
    cache: JudgeCache
    questions: dict[tuple[str, str], list[Item]]
    progress: Any
    summary: EvaluationSummary
    on_cell: Callable[[Cell], None] | None
    execution: Execution


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


def run_settings(grid: Grid, judge: Judge, quality: bool, runs: int, limit: int | None,
                 settings: GenerationSettings, template_mode: str, edit_rule: str,
                 selection: SelectionOptions) -> dict[str, Any]:
    """What decides the meaning of a number in the store; fixed by the store's first run."""
    generation = {k: v for k, v in settings.to_json().items() if k != "batch_size"}
    return {
        "generation": generation, "template_mode": template_mode,
        "answer_template": hash_json(TEMPLATES[ANSWER_TEMPLATE]), "edit_rule": edit_rule,
        "selection": selection.to_json(), "questions_per_cell": limit or 0,
        "judge": judge.identity, "runs": runs, "quality": quality,
        "judge_prompts": hash_json([VALUE_PROMPT, QUALITY_PROMPT]),
    }


def evaluate(
    grid: Grid,
    judge: Judge,
    *,
    cube: Path | str | None = None,
    results: Path | str | None = None,
    quality: bool = True,
    runs: int = 1,
    limit: int | None = 10,
    settings: GenerationSettings | None = None,
    template_mode: str = "auto",
    edit_rule: str = "multiply",
    selection: SelectionOptions | None = None,
    source: Path | None = None,
    device: str | None = None,
    dtype: str = "auto",
    dry_run: bool = False,
    show_progress: bool = True,
    on_cell: Callable[[Cell], None] | None = None,
    execution: Execution | str | None = None,
) -> EvaluationSummary:
    """Run (or, with `dry_run`, count) the grid's generations and judgements into `results`.

    `execution` says where the edited model generates: "local" (default) or "remote" (NDIF).
    """
    execution = Execution.of(execution).check()
    settings = settings or GenerationSettings()
    selection = selection or SelectionOptions()
    cube_path = Path(cube) if cube is not None else default_store()
    results_path = Path(results) if results is not None else DEFAULT_RESULTS
    check_runs(judge, runs)
    check_rule(edit_rule)
    questions = {(s, d): load_questions(s, d, limit, source) for s in grid.sets for d in grid.dimensions}
    run = run_settings(grid, judge, quality, runs, limit, settings, template_mode, edit_rule, selection)
    info = {"cube": str(cube_path), "judge_endpoint": _public_url(getattr(judge, "url", None)),
            "package_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if dry_run:
        store = ResultsStore.open(results_path) if _exists(results_path) else None
        if store is not None:
            store.check_settings(run)
    else:
        store = ResultsStore.open_or_create(results_path, run, info)
    cube_store = CubeStore.open(cube_path)
    labels = [resolve_model(cube_store, expected_label(spec)) for spec in grid.models]
    neuron_sets = {label: _neuron_sets(cube_path, label, grid, selection) for label in labels}

    plan = _plan(grid, labels, store, questions, runs, quality, settings, judge)
    summary = EvaluationSummary(results_path, plan)
    if dry_run or not plan.todo:
        return summary
    assert store is not None
    cache = JudgeCache(store.cache_dir)
    steps = plan.generations + plan.judgements
    progress = tqdm(total=steps, unit="step", disable=not show_progress, desc="evaluate")
    context = _Context(grid, judge, quality, runs, settings, template_mode, edit_rule, store, cache,
                       questions, progress, summary, on_cell, execution)
    try:
        for spec, label in zip(grid.models, labels):
            todo = [c for c in plan.todo if c.model == label]
            if todo:
                _run_model(context, spec, label, todo, neuron_sets[label], device, dtype)
    finally:
        progress.close()
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


def _exists(path: Path) -> bool:
    return path.exists() and any(path.iterdir())


def _neuron_sets(cube: Path, label: str, grid: Grid,
                 selection: SelectionOptions) -> dict[tuple[str, str, int], NeuronSet]:
    return {(d, m, n): choose_set(cube, label, None, d, m, n, selection)
            for d in grid.dimensions for m in grid.methods for n in grid.neurons}


def _plan(grid: Grid, labels: list[str], store: ResultsStore | None,
          questions: dict[tuple[str, str], list[Item]], runs: int, quality: bool,
          settings: GenerationSettings, judge: Judge) -> Plan:
    plan = Plan(max_new_tokens=settings.max_new_tokens, runs=runs, judge=judge.identity)
    criteria = 2 if quality else 1
    for label in labels:
        key = model_key(label)
        asked: set[tuple[str, str]] = set()  # unedited answers: once per model and question
        for cell in grid.cells(label):
            items = questions[(cell.set, cell.dimension)]
            plan.cells += 1
            if store is not None and store.has_cell(key, cell.name):
                _check_stored(store, key, cell, items)
                plan.stored += 1
                if cell.condition.method == UNEDITED:
                    asked.update((cell.set, i.id) for i in items)
                continue
            plan.todo.append(cell)
            if cell.condition.method == UNEDITED:
                fresh = [i for i in items if (cell.set, i.id) not in asked]
                asked.update((cell.set, i.id) for i in items)
                plan.generations += len(fresh)
            else:
                plan.generations += len(items)
            plan.judgements += len(items) * runs * criteria
    return plan


def _check_stored(store: ResultsStore, key: str, cell: Cell, items: list[Item]) -> None:
    held = store.cell_attrs(key, cell.name).get("questions_fingerprint")
    if held != fingerprint(items):
        raise StoreError(f"{store.path} holds {cell.name} answered on other questions (the data "
                         "set or --limit changed): use another --results")


def _run_model(context: _Context, spec: str, label: str, todo: list[Cell],
               sets: dict[tuple[str, str, int], NeuronSet], device: str | None, dtype: str) -> None:
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
    kept = {k: keep_set(context.store.path, set_name(key, *k), s) for k, s in sets.items()}
    memo = _stored_unedited(context.store, key)
    for cell in todo:
        neuron_set = None
        if cell.condition.method != UNEDITED:
            neuron_set = kept[(cell.dimension, cell.condition.method, cell.condition.neurons)]
        _run_cell(context, loaded, key, cell, neuron_set, memo)


def _stored_unedited(store: ResultsStore, key: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Unedited answers already in the store, by (set, question id)."""
    memo: dict[tuple[str, str], dict[str, Any]] = {}
    for name in store.cells(key):
        attrs = store.cell_attrs(key, name)
        if attrs.get("method") != UNEDITED:
            continue
        data = store.read_cell(key, name)
        for qid, text, tokens in zip(data["question"].values, data["answer"].values,
                                     data["answer_tokens"].values):
            memo[(attrs["set"], str(qid))] = {"text": str(text), "tokens": int(tokens)}
    return memo


def _answers(context: _Context, loaded: LoadedModel, key: str, cell: Cell,
             neuron_set: NeuronSet | None, items: list[Item],
             memo: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """The cell's answers: from its checkpoint, the unedited memo, or generated now."""
    store, settings = context.store, context.settings
    cell_fp = hash_json({"cell": cell.name, "questions": fingerprint(items),
                         "generation": settings.to_json(), "model": loaded.revision,
                         "neurons": neuron_set.cube_fingerprint if neuron_set else None})
    unedited = neuron_set is None
    held = store.read_checkpoint(key, cell.name, cell_fp)
    if held is not None and len(held) == len(items):
        context.progress.update(len(items))
        if unedited:
            memo.update({(cell.set, item.id): answer for item, answer in zip(items, held)})
        return held
    answers: list[dict[str, Any] | None] = [memo.get((cell.set, i.id)) if unedited else None for i in items]
    missing = [n for n, a in enumerate(answers) if a is None]
    if missing:
        context.progress.set_description(f"{cell.dimension} {cell.condition.name}: generating")
        prompts, _ = render_questions(loaded.tokenizer, [items[n].text for n in missing],
                                      context.template_mode)
        edit = None
        if neuron_set is not None:
            condition = cell.condition
            edit = build_edit(neuron_set, condition.direction, condition.gamma, context.edit_rule)
        generated = generate(loaded, [p.input_ids for p in prompts], edit, settings,
                             on_batch=context.progress.update, execution=context.execution)
        for n, answer in zip(missing, generated):
            answers[n] = {"text": answer.text, "tokens": len(answer.token_ids)}
    done = [a for a in answers if a is not None]
    if unedited:
        for item, answer in zip(items, done):
            memo[(cell.set, item.id)] = answer
    store.write_checkpoint(key, cell.name, cell_fp, done)
    return done


def _judge(context: _Context, prompts: list[str], criterion: str) -> list[Rating]:
    ratings = judge_prompts(context.judge, prompts, runs=context.runs, cache=context.cache,
                            on_done=context.progress.update)
    context.summary.judgements += len(prompts) * context.runs
    context.summary.missing[criterion] += sum(r.missing_runs + context.runs - len(r.scores)
                                              for r in ratings)
    return ratings


def _run_cell(context: _Context, loaded: LoadedModel, key: str, cell: Cell,
              neuron_set: NeuronSet | None, memo: dict[tuple[str, str], dict[str, Any]]) -> None:
    items = context.questions[(cell.set, cell.dimension)]
    answers = _answers(context, loaded, key, cell, neuron_set, items, memo)
    context.progress.set_description(f"{cell.dimension} {cell.condition.name}: judging")
    value = _judge(context, [value_prompt(cell.dimension, i.text, a["text"])
                             for i, a in zip(items, answers)], "value")
    quality = None
    if context.quality:
        quality = _judge(context, [quality_prompt(a["text"]) for a in answers], "quality")
    condition = cell.condition
    attrs = {
        "model": cell.model, "set": cell.set, "dimension": cell.dimension,
        "method": condition.method, "direction": condition.direction, "gamma": condition.gamma,
        "neurons": condition.neurons, "neuron_set": neuron_set.name if neuron_set else "",
        "value_neurons": neuron_set.count("value") if neuron_set else 0,
        "opposite_neurons": neuron_set.count("opposite") if neuron_set else 0,
        "questions_fingerprint": fingerprint(items), "package_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    context.store.write_cell(key, cell.name, cell_dataset(items, answers, context.runs, value,
                                                          quality, attrs))
    context.summary.cells_written += 1
    if context.on_cell is not None:
        context.on_cell(cell)
