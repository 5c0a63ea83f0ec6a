"""`score`: run one baseline on the prompts `locate` measures and store its score cube.

The run mirrors `locate`: the same records (`select_records`), rendering, unit order and
batches, one cell per model, method and dimension; running sums are checkpointed after
every batch, so an interrupted run resumes on the next identical command and ends with
the same scores. Targets are computed per batch from the recorded target rule. On NDIF
(or its simulation) a request of `batches_per_request` batches is one nnsight session and
the checkpoint follows each request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from nnvalues.baselines import meandiff
from nnvalues.baselines.atp import AttributionPatching
from nnvalues.baselines.batches import ScoringBatch, scoring_batch
from nnvalues.baselines.cgvst import Cgvst
from nnvalues.baselines.lpip import Lpip
from nnvalues.baselines.method import ScoringMethod
from nnvalues.baselines.qrnca import Qrnca
from nnvalues.baselines.store import ScoreStore, ScoreTally, score_dataset
from nnvalues.baselines.targets import TargetRule
from nnvalues.baselines.traced import score_request
from nnvalues.config import default_store
from nnvalues.cube.store import model_key
from nnvalues.data.records import PromptRecord
from nnvalues.errors import StoreError, UsageError
from nnvalues.execution import Execution
from nnvalues.fingerprint import hash_json
from nnvalues.locate import select_records
from nnvalues.memory import batch_collection, release_freed_memory
from nnvalues.models.loading import LoadedModel
from nnvalues.prompts.render import Renderer
from nnvalues.stats.batching import Unit, batch_units, make_units
from nnvalues.version import __version__

METHODS: dict[str, str] = {
    "lpip": Lpip.description, "qrnca": Qrnca.description, "cgvst": Cgvst.description,
    "meandiff": "per-token mean activation difference between polarities, from the cube",
    "atp": AttributionPatching.description,
}
DEFAULT_SCORE_STORE = "baselines.zarr"


@dataclass(frozen=True)
class ScoreSummary:
    model: str
    method: str
    dimension: str
    status: str
    """"measured", "resumed" or "already stored"."""
    prompts: int
    seconds: float


def make_method(name: str, steps: int = 16, significant_tokens: int = 4) -> ScoringMethod:
    """The scoring method called `name` with its parameters (meandiff reads the cube instead)."""
    if name == "lpip":
        return Lpip()
    if name == "qrnca":
        return Qrnca(steps=steps)
    if name == "cgvst":
        return Cgvst(tokens=significant_tokens)
    if name == "atp":
        return AttributionPatching()
    raise UsageError(f"unknown baseline {name!r}; choose from {', '.join(METHODS)}")


def default_score_store() -> Path:
    return default_store().parent / DEFAULT_SCORE_STORE


def score(
    model: str | LoadedModel = "smollm2-135m",
    *,
    method: str,
    dimensions: Sequence[str] | None = None,
    prompts: Path | str | None = None,
    limit: int | None = None,
    batch_size: int = 8,
    store: Path | str | None = None,
    cube: Path | str | None = None,
    targets: TargetRule = TargetRule(),
    steps: int = 16,
    significant_tokens: int = 4,
    template_mode: str = "auto",
    seed: int = 0,
    restart: bool = False,
    device: str | None = None,
    dtype: str = "auto",
    show_progress: bool = True,
    on_batch: Callable[[str, int], None] | None = None,
    execution: Execution | str | None = None,
) -> list[ScoreSummary]:
    """Score every neuron with one baseline, per dimension; returns one summary per dimension.

    `meandiff` reads the activation cube at `cube` (default: the default store) and loads no
    model; the others run `model` on the records `locate` would measure with the same
    `dimensions`, `prompts`, `limit` and `seed`. `execution` "simulate" or "remote" (NDIF;
    `model` names a repo it hosts) runs the gradient methods (atp, cgvst, qrnca) in nnsight
    sessions of `batches_per_request` batches where the model is; lpip runs locally only.
    """
    execution = Execution.of(execution).check()
    store_path = Path(store) if store else default_score_store()
    ScoreStore.check_location(store_path)
    if method == "meandiff":
        return _meandiff(Path(cube) if cube else default_store(), store_path, model, dimensions,
                         restart)
    scorer = make_method(method, steps, significant_tokens)
    if execution.serialised and not scorer.traced:
        traced = ", ".join(n for n in METHODS if n != "meandiff" and make_method(n).traced)
        raise UsageError(f"{method} runs on a local model only ({traced} run on NDIF): "
                         "drop --remote/--ndif-host")
    if batch_size < 2:
        raise UsageError("`batch_size` must be at least 2 (a pair is scored in one batch)")
    records, origin = select_records(Path(prompts) if prompts else None, dimensions, limit, seed)
    targets.check(records)
    if scorer.needs_pairs and any(r.pair is None for r in records):
        raise UsageError(f"{method} compares the two prompts of a pair: every record needs a pair")
    loaded = (model if isinstance(model, LoadedModel)
              else execution.load(model, device=device, dtype=dtype))
    renderer = Renderer(loaded.tokenizer, template_mode)  # type: ignore[arg-type]
    provenance = loaded.provenance()
    settings = {"method": method, "parameters": scorer.parameters(), **targets.settings(),
                **renderer.settings()}
    score_store = ScoreStore.open_or_create(store_path)
    key = model_key(loaded.name)
    score_store.ensure_model(key, provenance)
    score_store.ensure_method(key, method, settings)
    by_dimension: dict[str, list[PromptRecord]] = {}
    for record in records:
        by_dimension.setdefault(record.dimension, []).append(record)
    progress = tqdm(total=len(records), unit="prompt", disable=not show_progress,
                    desc=f"{method} {loaded.name}")
    if execution.serialised and execution.on_status is None and show_progress:
        execution = execution.with_status(
            lambda status, _detail: progress.set_postfix_str(f"NDIF {status.lower()}"))
    try:
        with batch_collection():
            return [_score_cell(loaded, renderer, score_store, key, scorer, targets, name,
                                cell_records, {**provenance, **settings, **origin, "seed": seed},
                                batch_size, restart, progress, on_batch, execution)
                    for name, cell_records in by_dimension.items()]
    finally:
        progress.close()


def _meandiff(cube: Path, store: Path, model: str | LoadedModel, dimensions: Sequence[str] | None,
              restart: bool) -> list[ScoreSummary]:
    if not dimensions:
        raise UsageError("meandiff needs --dimensions (the cube's dimensions to read)")
    label = model.name if isinstance(model, LoadedModel) else model
    score_store = ScoreStore.open_or_create(store)
    summaries = []
    for dimension in dimensions:
        started = time.perf_counter()
        found, status = meandiff.score_from_cube(cube, score_store, label, dimension, restart)
        data = score_store.open_scores(found, meandiff.NAME, dimension)
        summaries.append(ScoreSummary(found, meandiff.NAME, dimension, status,
                                      int(data["prompts"].sum()), time.perf_counter() - started))
    return summaries


def _score_cell(loaded: LoadedModel, renderer: Renderer, store: ScoreStore, key: str,
                scorer: ScoringMethod, rule: TargetRule, name: str, records: list[PromptRecord],
                settings: dict[str, Any], batch_size: int, restart: bool, progress: tqdm,
                on_batch: Callable[[str, int], None] | None, execution: Execution) -> ScoreSummary:
    started = time.perf_counter()
    cell_key = f"{scorer.name}/{name}"
    fingerprint = hash_json([r.to_json() for r in records])
    held = store.cell_attrs(key, cell_key)
    if held is not None:
        if held.get("data_fingerprint") != fingerprint:
            raise StoreError(f"{store.path} already holds {scorer.name} scores of {loaded.name} / "
                             f"{name} on other prompts; use another --store")
        progress.update(len(records))
        return ScoreSummary(loaded.name, scorer.name, name, "already stored", len(records), 0.0)
    checkpoint = store.checkpoint_path(key, cell_key)
    resume_key = {**settings, "data_fingerprint": fingerprint, "package_version": __version__}
    n = loaded.architecture
    tally, status = ScoreTally(n.n_layers, n.n_neurons), "measured"
    if checkpoint.exists() and not restart:
        held_tally, held_meta = ScoreTally.load(checkpoint)
        if held_meta != resume_key:
            raise StoreError(f"an unfinished {scorer.name} run on {loaded.name} / {name} with other "
                             "settings or prompts is in the store: rerun its command, or pass --restart")
        tally, status = held_tally, "resumed"
    rendered = [renderer.render(r) for r in records]
    by_id = {r.id: r for r in records}
    units = make_units(records, rendered)
    progress.update(sum(len(u) for u in units[:tally.units_done]))
    for request in _requests(units[tally.units_done:], batch_size, execution):
        sums, aux, whole = _score_request(loaded, scorer, rule, request, by_id, execution)
        tally.add(sums, aux, whole.batch, whole.target_lengths, sum(len(g) for g in request))
        tally.save(checkpoint, resume_key)
        release_freed_memory()
        progress.update(whole.batch.size)
        if on_batch is not None:
            on_batch(name, tally.units_done)
    seconds = time.perf_counter() - started
    attrs = {**settings, "data_fingerprint": fingerprint, "dimension": name,
             "package_version": __version__, "seconds": round(seconds, 3),
             "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    store.write_cell(key, cell_key, score_dataset(scorer.finalise(tally), tally.prompts,
                                                  tally.targets, tally.pairs, attrs))
    return ScoreSummary(loaded.name, scorer.name, name, status, int(tally.prompts.sum()), seconds)


def _requests(units: list[Unit], batch_size: int, execution: Execution) -> list[list[list[Unit]]]:
    """Batches grouped as they are sent: one per request here, `batches_per_request`
    per NDIF request (one session each)."""
    groups = batch_units(units, batch_size)
    step = execution.batches_per_request if execution.serialised else 1
    return [groups[start:start + step] for start in range(0, len(groups), step)]


def _score_request(loaded: LoadedModel, scorer: ScoringMethod, rule: TargetRule,
                   request: list[list[Unit]], by_id: dict[str, PromptRecord],
                   execution: Execution) -> tuple[Any, Any, ScoringBatch]:
    """The request's summed scores and counts, and all its rows as one batch (for counting)."""
    units = [unit for group in request for unit in group]
    # Simulation loads the weights here (and cannot generate in nnsight's simulation).
    generation = execution if execution.mode == "remote" else None
    targets = _targets(loaded, rule, units, by_id, scorer.value_answer, generation)
    pad_id = loaded.tokenizer.pad_token_id
    batches = [scoring_batch(group, targets, pad_id, loaded.device) for group in request]
    if not execution.serialised:
        return (*scorer.score_batch(loaded, batches[0]), batches[0])
    sums, aux = score_request(loaded, scorer, batches, **execution.trace_options(loaded))
    return sums, aux, scoring_batch(units, targets, pad_id)


def _targets(loaded: LoadedModel, rule: TargetRule, group: list[Unit],
             by_id: dict[str, PromptRecord], value_answer: bool,
             execution: Execution | None = None) -> dict[str, tuple[int, ...]]:
    """Target ids by prompt id; with `value_answer`, a pair's reversed prompt takes the value
    prompt's target."""
    borrowed = {unit[1].prompt.id: unit[0].prompt.id for unit in group
                if value_answer and len(unit) == 2}
    wanted = [row for unit in group for row in unit if row.prompt.id not in borrowed]
    found = rule.targets(loaded, [by_id[r.prompt.id] for r in wanted], [r.prompt for r in wanted],
                         execution)
    targets = {row.prompt.id: ids for row, ids in zip(wanted, found)}
    return {**targets, **{own: targets[source] for own, source in borrowed.items()}}
