"""What an evaluation run will do, counted before any model is loaded: the dry run prints
it, the progress bar counts it down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from nnvalues.cube.store import model_key
from nnvalues.errors import StoreError
from nnvalues.evaluate.grid import UNEDITED, Cell, Grid
from nnvalues.evaluate.likert import Instrument
from nnvalues.evaluate.questions import Item, fingerprint
from nnvalues.evaluate.references import references_path
from nnvalues.evaluate.store import ResultsStore


@dataclass
class Plan:
    cells: int = 0
    """Cells in the grid (edited and unedited)."""
    stored: int = 0
    todo: list[Cell] = field(default_factory=list)
    generations: int = 0
    """Answers generated for G-Eval (up to `max_new_tokens` each)."""
    max_new_tokens: int = 0
    references: int = 0
    """Reference answers generated once (up to `reference_tokens` each)."""
    reference_tokens: int = 0
    scored_questions: int = 0
    """Teacher-forced forwards: one per question and cell, both reference answers in it."""
    ratings: int = 0
    """Questionnaire items rated from one next-token distribution each."""
    judgements: int = 0
    """Prompts x runs sent to the judge at most (cached ones are not sent)."""
    runs: int = 1
    judge: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return self.generations + self.references + self.scored_questions + self.ratings + self.judgements

    def describe(self) -> str:
        per_request = ""
        if self.judge.get("mode") == "sampling":
            per_request = (f"; each asks for {self.judge['samples']} samples (sent as "
                           f"{self.judge['samples']} requests where the server allows no n > 1)")
        parts = [f"{self.cells} cells in the grid, {self.stored} already stored, {len(self.todo)} to run: "
                 f"{self.generations} generations of up to {self.max_new_tokens} tokens"]
        if self.references or self.scored_questions:
            parts.append(f"{self.references} reference answers of up to {self.reference_tokens} tokens, "
                         f"{self.scored_questions} teacher-forced question forwards")
        if self.ratings:
            parts.append(f"{self.ratings} questionnaire ratings (one forward position each, batched)")
        parts.append(f"{self.judgements} judge calls at most ({self.runs} run(s) each){per_request}")
        return ", ".join(parts)


def _check_stored(store: ResultsStore, key: str, cell: Cell, items: list[Item]) -> None:
    held = (store.cell_attrs(key, cell.name) or {}).get("questions_fingerprint")
    if held != fingerprint(items):
        raise StoreError(f"{store.path} holds {cell.name} answered on other questions (the data "
                         "set or --limit changed): use another --results")


def make_plan(grid: Grid, labels: Sequence[str], store: ResultsStore | None,
              questions: dict[tuple[str, str], list[Item]], metrics: Sequence[str], runs: int,
              quality: bool, max_new_tokens: int, reference_tokens: int,
              instruments: Sequence[Instrument], judge: dict[str, Any]) -> Plan:
    plan = Plan(max_new_tokens=max_new_tokens, reference_tokens=reference_tokens, runs=runs, judge=judge)
    criteria = 2 if quality else 1
    judged = "geval" in metrics
    scored = "contrast" in metrics or "fluency" in metrics
    items_rated = sum(len(i.items) for i in instruments) if "likert" in metrics else 0
    for label in labels:
        key = model_key(label)
        asked: set[tuple[str, str]] = set()  # unedited answers: once per model and question
        referenced: set[tuple[str, str]] = set()
        for cell in grid.cells(label):
            items = questions[(cell.set, cell.measured)]
            plan.cells += 1
            unedited = cell.condition.method == UNEDITED
            if store is not None and store.has_cell(key, cell.name):
                _check_stored(store, key, cell, items)
                plan.stored += 1
                if unedited:
                    asked.update((cell.set, i.id) for i in items)
                continue
            plan.todo.append(cell)
            if judged:
                fresh = [i for i in items if (cell.set, i.id) not in asked] if unedited else items
                if unedited:
                    asked.update((cell.set, i.id) for i in items)
                plan.generations += len(fresh)
                plan.judgements += len(items) * runs * criteria
            if scored:
                where = (cell.set, cell.measured)
                kept = store is not None and references_path(store.path, key, *where).is_file()
                if where not in referenced and not kept:
                    plan.references += 2 * len(items)
                referenced.add(where)
                plan.scored_questions += len(items)
            plan.ratings += items_rated
    return plan
