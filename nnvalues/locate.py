"""`locate`: measure how often every MLP neuron is active under value and reversed prompts.

The run goes cell by cell (one model, one dimension) and returns the labelled cube. With a
store, each finished cell is written to it and the running totals are checkpointed after
every batch (locally) or every request (on NDIF, where one request carries several
batches), so an interrupted run resumes on the next identical call and ends with the same
cube as an uninterrupted one. Without a store nothing touches the disk.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import xarray as xr
from tqdm.auto import tqdm

from nnvalues.choices import CountingRule, Span, TemplateMode, check_choice
from nnvalues.cube.cells import cell_dataset, label_cell
from nnvalues.cube.store import CubeStore, model_key
from nnvalues.cube.view import combine, count_selected, delta
from nnvalues.data.records import PromptRecord, load_records
from nnvalues.data.valueinsight import load_dataset, paired_records
from nnvalues.errors import StoreError, UsageError
from nnvalues.execution import Execution
from nnvalues.fingerprint import hash_json
from nnvalues.memory import batch_collection, release_freed_memory
from nnvalues.models.loading import LoadedModel
from nnvalues.prompts.render import Renderer
from nnvalues.select.selection import PAPER_THRESHOLD
from nnvalues.stats.answers import DEFAULT_ANSWER_TOKENS, answering, check_span
from nnvalues.stats.batching import batch_units, make_units
from nnvalues.stats.sessions import summaries
from nnvalues.stats.tally import Tally
from nnvalues.taxonomy import dimension as lookup_dimension
from nnvalues.version import __version__


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
        raise UsageError(f"`limit` must be at least 1 (got {limit})")
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
    counting: CountingRule = "prompt",
    span: Span = "prompt",
    answer_tokens: int = DEFAULT_ANSWER_TOKENS,
    template_mode: TemplateMode = "auto",
    seed: int = 0,
    restart: bool = False,
    device: str | None = None,
    dtype: str = "auto",
    show_progress: bool = True,
    on_batch: Callable[[str, int], None] | None = None,
    on_cell: Callable[[CellSummary], None] | None = None,
    trace_options: dict[str, Any] | None = None,
    execution: Execution | str | None = None,
) -> xr.Dataset:
    """Measure how often every MLP neuron is active under value and reversed prompts.

    Args:
        model: an embedded name, repo id, directory or .gguf file, or a `LoadedModel`.
        dimensions: the dimensions to measure (default: all four).
        prompts: a JSONL file of prompt records instead of the shipped data set.
        limit: questions (pairs) per dimension.
        store: a store to write to and resume from; None keeps everything in memory.
        counting: "prompt" (the paper's eqs. 3-4) or "token" (LAPE/NPTI style).
        span: the tokens counted: "prompt" (the paper's), "answer" (the model's greedy
            answer of at most `answer_tokens` tokens, as the authors' code counts) or "all".
        execution: "local", "simulate" or "remote" (NDIF; `model` names a repo it hosts).
        on_cell: called with each cell's summary (status, counts, seconds).
    Returns:
        The labelled cube (model x dimension x layer x neuron x polarity) of what was asked.
    Example:
        cube = nv.locate("smollm2-135m", dimensions=["conservation"], limit=20)
        cube.nnv.delta().sel(dimension="conservation")
    """
    execution = Execution.of(execution).check()
    check_choice(counting, CountingRule, "counting rule")
    span_settings = check_span(span, answer_tokens)
    if batch_size < 2:
        raise UsageError("`batch_size` must be at least 2 (a pair is measured in one batch)")
    records, origin = select_records(Path(prompts) if prompts else None, dimensions, limit, seed)
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
    store_path = Path(store) if store is not None else None
    if store_path is not None:
        CubeStore.check_location(store_path)
    loaded = (model if isinstance(model, LoadedModel)
              else execution.load(model, device=device, dtype=dtype))
    renderer = Renderer(loaded.tokenizer, template_mode)
    settings = {**loaded.provenance(), "counting": counting, **span_settings, **renderer.settings()}
    cube_store = None
    if store_path is not None:
        cube_store = CubeStore.open_or_create(store_path)
        cube_store.ensure_model(model_key(loaded.name), settings)
    progress = tqdm(total=len(records), unit="prompt", disable=not show_progress, desc=loaded.name)
    if execution.serialised and execution.on_status is None and show_progress:
        execution = execution.with_status(
            lambda status, _detail: progress.set_postfix_str(f"NDIF {status.lower()}"))
    run = _Run(loaded, renderer, cube_store, settings, batch_size, restart, progress, on_batch,
               trace_options or {}, execution)
    cells = []
    try:
        for name, cell_records in by_dimension.items():
            cell = {**origin, "data_fingerprint": hash_json([r.to_json() for r in cell_records]),
                    "seed": seed, "batch_size": batch_size}
            started = time.perf_counter()
            with (cube_store.cell_lock(model_key(loaded.name), name) if cube_store is not None
                  else nullcontext()), batch_collection():  # one writer per cell
                data, status = run.measure(name, cell_records, cell)
            cells.append(label_cell(data))
            if on_cell is not None:
                on_cell(_summary(data, status, started))
    finally:
        progress.close()
    return combine(cells, "dimension")


@dataclass
class _Run:
    """What every cell of one `locate` call shares."""

    loaded: LoadedModel
    renderer: Renderer
    store: CubeStore | None
    settings: dict[str, Any]
    batch_size: int
    restart: bool
    progress: tqdm
    on_batch: Callable[[str, int], None] | None
    trace_options: dict[str, Any]
    execution: Execution

    def measure(self, name: str, records: list[PromptRecord],
                cell: dict[str, Any]) -> tuple[xr.Dataset, str]:
        """One cell's dataset (with its provenance as attributes) and how it was obtained:
        "measured", "resumed" or "already stored". The caller holds the cell's lock."""
        key = model_key(self.loaded.name)
        store = self.store
        if store is not None and (store.path / key / name).exists():
            problem = store.cell_damage(key, name)
            if problem is None:
                held = store.cell_attrs(key, name) or {}
                if held.get("data_fingerprint") != cell["data_fingerprint"]:
                    raise StoreError(
                        f"{store.path} already holds {self.loaded.name} / {name} measured on "
                        f"other prompts ({held.get('data_name')}); use another store"
                    )
                self.progress.update(len(records))
                return store.open_cell(key, name), "already stored"
            if not self.restart:
                raise StoreError(f"{store.path}: cell {key}/{name} is damaged ({problem}); "
                                 "pass `restart` (--restart) to measure it again")
            store.remove_cell(key, name)
        resume_key = {**self.settings, **cell, "package_version": __version__}
        tally, status = self._resume(key, name, resume_key)
        checkpoint = store.checkpoint_path(key, name) if store is not None else None

        units = make_units(records, [self.renderer.render(r) for r in records])
        self.progress.update(sum(len(u) for u in units[:tally.units_done]))
        groups = batch_units(units[tally.units_done:], self.batch_size)
        prepare = answering(self.loaded, self.settings["span"], self.settings["answer_tokens"],
                            self.execution)
        for summary, rows, count in summaries(self.loaded, groups, self.settings["counting"],
                                              self.trace_options, self.execution, prepare):
            tally.add(summary, rows, count)
            if checkpoint is not None:
                tally.save(checkpoint, resume_key)
            release_freed_memory()
            self.progress.update(rows.size)
            if self.on_batch is not None:
                self.on_batch(name, tally.units_done)

        attrs = {**self.settings, **cell, "dimension": name, "package_version": __version__,
                 "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        data = cell_dataset(tally, self.settings["counting"], attrs)
        if store is not None:
            store.write_cell(key, name, data)
        return data, status


    def _resume(self, key: str, name: str, resume_key: dict[str, Any]) -> tuple[Tally, str]:
        """The checkpointed totals of an unfinished run of the same command, or a fresh tally."""
        arch = self.loaded.architecture
        fresh = Tally(arch.n_layers, arch.n_neurons), "measured"
        if self.store is None or self.restart:
            return fresh
        checkpoint = self.store.checkpoint_path(key, name)
        if not checkpoint.exists():
            return fresh
        try:
            held_tally, held_meta = Tally.load(checkpoint)
        except Exception as exc:  # noqa: BLE001  (a torn or foreign file)
            raise StoreError(f"the checkpoint {checkpoint} is unreadable ({type(exc).__name__}); "
                             "pass `restart` (--restart) to measure the cell from the start") from None
        if held_meta == resume_key:
            return held_tally, "resumed"
        if {**held_meta, "batch_size": resume_key["batch_size"]} == resume_key:
            raise StoreError(
                f"an unfinished measurement of {self.loaded.name} / {name} used batch size "
                f"{held_meta.get('batch_size')} (float sums depend on it): rerun with that "
                "batch size (--batch-size) to resume, or pass `restart`"
            )
        raise StoreError(
            f"an unfinished measurement of {self.loaded.name} / {name} with other settings or "
            "prompts is in the store: rerun its command to finish it, or pass `restart`"
        )


def _summary(data: xr.Dataset, status: str, started: float) -> CellSummary:
    value, opposite = count_selected(delta(label_cell(data)), PAPER_THRESHOLD)
    return CellSummary(
        data.attrs["model"], data.attrs["dimension"], status, int(data["prompts"].sum()),
        int(data["pairs"]), value, opposite, time.perf_counter() - started,
    )
