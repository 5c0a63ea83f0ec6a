"""`locate`: measure how often every MLP neuron is active under value and reversed prompts.

The run goes cell by cell (one model, one dimension). After every batch (locally) or every
request (on NDIF, where one request carries several batches) the running totals are
checkpointed, so an interrupted run resumes on the next identical command and ends with the
same cube as an uninterrupted one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from tqdm.auto import tqdm

from nnvalues.config import default_store
from nnvalues.cube.cells import cell_dataset
from nnvalues.cube.store import CubeStore, model_key
from nnvalues.cube.view import count_selected, delta
from nnvalues.data.records import PromptRecord, load_records
from nnvalues.data.valueinsight import load_dataset, paired_records
from nnvalues.errors import StoreError, UsageError
from nnvalues.execution import Execution
from nnvalues.fingerprint import hash_json
from nnvalues.memory import release_freed_memory
from nnvalues.models.loading import LoadedModel
from nnvalues.prompts.render import Renderer
from nnvalues.remote.reduction import reduce_request
from nnvalues.stats.batching import Batch, Unit, batch_units, collate, make_units
from nnvalues.stats.counting import COUNTING_RULES, reduce_batch
from nnvalues.stats.tally import Tally
from nnvalues.taxonomy import dimension as lookup_dimension
from nnvalues.version import __version__

PAPER_THRESHOLD = 0.03


@dataclass(frozen=True)
class CellSummary:
    model: str
    dimension: str
    status: str
    """"measured", "resumed" or "already stored"."""
    prompts: int
    pairs: int
    value_neurons: int
    """Neurons with delta >= 0.03 (the paper's rule)."""
    opposite_neurons: int
    seconds: float


def select_records(prompts: Path | None, dimensions: Sequence[str] | None, limit: int | None,
                   seed: int) -> tuple[list[PromptRecord], dict[str, str]]:
    """The records to measure and a description of where they came from."""
    if dimensions is not None:
        for name in dimensions:
            lookup_dimension(name)
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1 (got {limit})")
    if prompts is None:
        data = load_dataset()
        chosen = list(dimensions) if dimensions else sorted({q.dimension for q in data.questions})
        records = paired_records(data, chosen, limit=limit, seed=seed)
        origin = {"data_name": data.name, "data_version": data.version,
                  "data_set_fingerprint": data.fingerprint}
    else:
        records = load_records(Path(prompts))
        if dimensions:
            records = [r for r in records if r.dimension in dimensions]
        if limit is not None:
            records = _limit_units(records, limit)
        origin = {"data_name": f"file:{Path(prompts).name}", "data_version": "",
                  "data_set_fingerprint": hash_json([r.to_json() for r in records])}
    if not records:
        raise UsageError("the selection holds no prompts: check --dimensions and --prompts")
    return records, origin


def _limit_units(records: list[PromptRecord], limit: int) -> list[PromptRecord]:
    """Keep the first `limit` questions (pairs or single records) of each dimension."""
    seen: dict[str, list[str]] = {}
    kept = []
    for record in records:
        unit = record.pair or record.id
        units = seen.setdefault(record.dimension, [])
        if unit not in units:
            if len(units) >= limit:
                continue
            units.append(unit)
        kept.append(record)
    return kept


def locate(
    model: str | LoadedModel = "smollm2-135m",
    *,
    dimensions: Sequence[str] | None = None,
    prompts: Path | str | None = None,
    limit: int | None = None,
    batch_size: int = 8,
    store: Path | str | None = None,
    counting: str = "prompt",
    template_mode: str = "auto",
    seed: int = 0,
    restart: bool = False,
    device: str | None = None,
    dtype: str = "auto",
    show_progress: bool = True,
    on_batch: Callable[[str, int], None] | None = None,
    trace_options: dict[str, Any] | None = None,
    execution: Execution | str | None = None,
) -> list[CellSummary]:
    """Measure activation statistics into a store; returns one summary per dimension.

    `execution` says where the traces run ("local", "simulate", "remote" or an
    `Execution`); remotely, several batches go in one request and `model` names a repo
    NDIF hosts. `trace_options` pass through to local traces. Everything cheap (options,
    NDIF host and key, prompts, the store) is checked before the model is loaded.
    """
    execution = Execution.of(execution).check()
    if counting not in COUNTING_RULES:
        raise UsageError(f"unknown counting rule {counting!r}; choose from {', '.join(COUNTING_RULES)}")
    if batch_size < 2:
        raise UsageError("--batch-size must be at least 2 (a pair is measured in one batch)")
    records, origin = select_records(Path(prompts) if prompts else None, dimensions, limit, seed)
    store_path = Path(store) if store else default_store()
    if store_path.exists() and any(store_path.iterdir()):
        CubeStore.open(store_path)
    loaded = (model if isinstance(model, LoadedModel)
              else execution.load(model, device=device, dtype=dtype))
    renderer = Renderer(loaded.tokenizer, template_mode)  # type: ignore[arg-type]
    settings = {**loaded.provenance(), "counting": counting, **renderer.settings()}
    cube_store = CubeStore.open_or_create(store_path)
    key = model_key(loaded.name)
    cube_store.ensure_model(key, settings)

    by_dimension: dict[str, list[PromptRecord]] = {}
    for record in records:
        by_dimension.setdefault(record.dimension, []).append(record)
    for name, cell_records in by_dimension.items():
        counts = {p: sum(r.polarity == p for r in cell_records) for p in ("positive", "negative")}
        if not all(counts.values()):
            raise UsageError(
                f"{name} has {counts['positive']} positive and {counts['negative']} negative "
                "prompts: p needs N > 0 for both polarities"
            )
    progress = tqdm(total=len(records), unit="prompt", disable=not show_progress, desc=loaded.name)
    if execution.serialised and execution.on_status is None and show_progress:
        execution = execution.with_status(
            lambda status, _detail: progress.set_postfix_str(f"NDIF {status.lower()}"))
    summaries = []
    try:
        for name, cell_records in by_dimension.items():
            cell = {**origin, "data_fingerprint": hash_json([r.to_json() for r in cell_records]),
                    "seed": seed}
            summaries.append(_measure_cell(
                loaded, renderer, cube_store, key, name, cell_records, settings, cell,
                batch_size, restart, progress, on_batch, trace_options or {}, execution,
            ))
    finally:
        progress.close()
    return summaries


def _measure_cell(loaded: LoadedModel, renderer: Renderer, store: CubeStore, key: str,
                  name: str, records: list[PromptRecord], settings: dict[str, Any],
                  cell: dict[str, Any], batch_size: int, restart: bool, progress: tqdm,
                  on_batch: Callable[[str, int], None] | None,
                  trace_options: dict[str, Any], execution: Execution) -> CellSummary:
    started = time.perf_counter()
    held = store.cell_attrs(key, name)
    if held is not None:
        if held.get("data_fingerprint") != cell["data_fingerprint"]:
            raise StoreError(
                f"{store.path} already holds {loaded.name} / {name} measured on other prompts "
                f"({held.get('data_name')}); use another --store"
            )
        progress.update(len(records))
        return _summary(store, key, name, "already stored", started)

    checkpoint = store.checkpoint_path(key, name)
    resume_key = {**settings, **cell, "package_version": __version__}
    tally, status = Tally(loaded.architecture.n_layers, loaded.architecture.n_neurons), "measured"
    if checkpoint.exists() and not restart:
        held_tally, held_meta = Tally.load(checkpoint)
        if held_meta != resume_key:
            raise StoreError(
                f"an unfinished measurement of {loaded.name} / {name} with other settings or "
                "prompts is in the store: rerun its command to finish it, or pass --restart"
            )
        tally, status = held_tally, "resumed"

    prompts = [renderer.render(r) for r in records]
    units = make_units(records, prompts)
    remaining = units[tally.units_done:]
    progress.update(sum(len(u) for u in units[:tally.units_done]))
    groups = batch_units(remaining, batch_size)
    for summary, rows, count in _reductions(loaded, groups, settings["counting"], trace_options,
                                            execution):
        tally.add(summary, rows, count)
        tally.save(checkpoint, resume_key)
        release_freed_memory()
        progress.update(rows.size)
        if on_batch is not None:
            on_batch(name, tally.units_done)

    attrs = {**settings, **cell, "dimension": name, "package_version": __version__,
             "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    store.write_cell(key, name, cell_dataset(tally, settings["counting"], attrs))
    return _summary(store, key, name, status, started)


def _reductions(loaded: LoadedModel, groups: list[list[Unit]], rule: str,
                trace_options: dict[str, Any], execution: Execution,
                ) -> Iterator[tuple[Any, Batch, int]]:
    """Summaries with the rows and units they cover: per batch here, per request remotely."""
    pad_id = loaded.tokenizer.pad_token_id
    if execution.serialised:
        # Several batches per request, and no prefix cache to ship with them.
        step = execution.batches_per_request
        for start in range(0, len(groups), step):
            request = groups[start:start + step]
            batches = [collate(group, pad_id, loaded.device) for group in request]
            summary = reduce_request(loaded.envoy, loaded.architecture, batches, rule,
                                     **execution.trace_options(loaded))
            units = [unit for group in request for unit in group]
            # All the request's rows as one batch: what the tally counts besides the summary.
            yield summary, collate(units, pad_id), len(units)
        return
    # Remote-style trace options keep one self-contained request per batch, without a cache.
    share_prefix = loaded.architecture.prefix_cache and "remote" not in trace_options
    for group in groups:
        batch = collate(group, pad_id, loaded.device, share_prefix=share_prefix)
        summary = reduce_batch(loaded.envoy, loaded.architecture, batch, rule, **trace_options)
        yield summary, batch, len(group)


def _summary(store: CubeStore, key: str, name: str, status: str, started: float) -> CellSummary:
    data = store.open_cell(key, name)
    from nnvalues.cube.cells import label_cell

    deltas = delta(label_cell(data))
    value, opposite = count_selected(deltas, PAPER_THRESHOLD)
    return CellSummary(
        data.attrs["model"], name, status, int(data["prompts"].sum()), int(data["pairs"]),
        value, opposite, time.perf_counter() - started,
    )
