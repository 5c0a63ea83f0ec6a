"""PVQ40 and ValueBench rows as evaluation items, and the questions the evaluation asks.

value_orientation.csv gives every item twice: as a first-person statement and rephrased as
an advice-seeking question ("Should I ...?"). The question is what a model is asked when
an edit is evaluated; its answer is then judged for the dimension (appendix C and E).
PVQ40 is its own set; the ValueBench set holds the other inventories' items that
`schwartz.CONCORDANCE` places, so no item is in both.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nnvalues.data.external.schwartz import Hierarchy, concordance_index, normalise, read_hierarchy
from nnvalues.data.external.source import ExternalDataError, ValueBenchFiles, valuebench_files
from nnvalues.errors import UsageError
from nnvalues.taxonomy import DIMENSION_IDS, dimension as check_dimension

SETS: tuple[str, ...] = ("pvq40", "valuebench")
PVQ40 = "PVQ40"
PVQ40_SIZE = 40
COLUMNS = ("questionnaire", "item", "value", "agreement", "question")


@dataclass(frozen=True)
class EvalItem:
    """One questionnaire item placed in the Schwartz hierarchy."""

    id: str
    source: str
    """The set: "pvq40" or "valuebench"."""
    questionnaire: str
    construct: str
    """The inventory's own label for what the item measures ("Innovation", "Hedonism")."""
    text: str
    """The item as a first-person statement."""
    question: str
    """The item as an advice-seeking question: what the model is asked."""
    value: str
    """The Schwartz basic value (taxonomy id), or the value2def name where none is above it."""
    dimensions: tuple[str, ...]
    agreement: int | None
    """+1: agreeing with the item expresses `value`; -1: it expresses the opposite."""


@dataclass(frozen=True)
class EvalQuestion:
    """One question to put to the model when evaluating a dimension."""

    id: str
    set: str
    dimension: str
    text: str
    agreement: int | None


@dataclass(frozen=True)
class _Row:
    number: int
    """1-based position among the data rows of value_orientation.csv."""
    questionnaire: str
    item: str
    construct: str
    agreement: int | None
    question: str


def load_pvq40(source: Path | None = None, refresh: bool = False) -> list[EvalItem]:
    """The 40 PVQ40 portraits with their basic value and dimension(s), in questionnaire order."""
    rows, hierarchy = _parsed(valuebench_files(source, refresh))
    portraits = [r for r in rows if r.questionnaire == PVQ40]
    if len(portraits) != PVQ40_SIZE:
        raise ExternalDataError(f"value_orientation.csv has {len(portraits)} PVQ40 rows, not {PVQ40_SIZE}")
    items = []
    for number, row in enumerate(portraits, 1):
        place = hierarchy.place(row.construct)
        items.append(EvalItem(f"pvq40-{number:02d}", "pvq40", row.questionnaire, row.construct,
                              row.item, row.question, place.value, place.dimensions, row.agreement))
    return items


def load_valuebench(source: Path | None = None, refresh: bool = False) -> list[EvalItem]:
    """Items of the other ValueBench inventories that map to a Schwartz dimension."""
    rows, hierarchy = _parsed(valuebench_files(source, refresh))
    index = concordance_index()
    items = []
    for row in rows:
        entry = index.get((normalise(row.questionnaire), normalise(row.construct)))
        if row.questionnaire == PVQ40 or entry is None:
            continue
        place = hierarchy.place(entry.target)
        agreement = None if row.agreement is None else row.agreement * entry.sign
        items.append(EvalItem(f"valuebench-{row.number:04d}", "valuebench", row.questionnaire,
                              row.construct, row.item, row.question, place.value,
                              place.dimensions, agreement))
    return items


def check_set(name: str) -> str:
    if name not in SETS:
        raise UsageError(f"unknown evaluation set {name!r}; choose from {', '.join(SETS)}")
    return name


def load_set(name: str, source: Path | None = None, refresh: bool = False) -> list[EvalItem]:
    loader = load_pvq40 if check_set(name) == "pvq40" else load_valuebench
    return loader(source, refresh)


def evaluation_questions(set_name: str, dimension: str, source: Path | None = None,
                         limit: int | None = None) -> list[EvalQuestion]:
    """The questions of one set for one dimension, in file order, at most `limit` of them."""
    check_set(set_name)
    check_dimension(dimension)
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be at least 1, not {limit}")
    questions = [EvalQuestion(item.id, item.source, dimension, item.question, item.agreement)
                 for item in load_set(set_name, source) if dimension in item.dimensions]
    return questions[:limit]


def counts_by_dimension(items: list[EvalItem]) -> dict[str, int]:
    """Items per dimension; an item under two dimensions counts in both."""
    return {d: sum(d in item.dimensions for item in items) for d in DIMENSION_IDS}


def _parsed(files: ValueBenchFiles) -> tuple[tuple[_Row, ...], Hierarchy]:
    return _parse(files.orientation, files.definitions)


@lru_cache(maxsize=4)
def _parse(orientation: Path, definitions: Path) -> tuple[tuple[_Row, ...], Hierarchy]:
    """Both files, parsed once per process (their content is pinned by checksum)."""
    return _read_rows(orientation), read_hierarchy(definitions)


def _read_rows(path: Path) -> tuple[_Row, ...]:
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ExternalDataError(f"{path}: missing column(s) {', '.join(missing)}")
    return tuple(
        _Row(number, _clean(raw["questionnaire"]), _clean(raw["item"]), _clean(raw["value"]),
             _agreement(raw["agreement"]), _clean(raw["question"]))
        for number, raw in enumerate(reader, 1)
    )


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _agreement(text: str | None) -> int | None:
    try:
        value = int(float(text or ""))
    except ValueError:
        return None
    return value if value in (-1, 1) else None
