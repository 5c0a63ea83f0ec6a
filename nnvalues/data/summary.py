"""Views of a data set: what it holds (counts, lengths) and a filtered list of its items.

`nnvalues dataset stats` and `show` print these; a notebook can use them directly.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from nnvalues.data.text import word_count
from nnvalues.data.valueinsight import SPLITS, DataSet, Item
from nnvalues.errors import UsageError
from nnvalues.taxonomy import check_polarity
from nnvalues.taxonomy import dimension as lookup_dimension

KINDS = ("descriptions", "questions")


@dataclass(frozen=True)
class Lengths:
    """Word counts of one group of texts."""

    count: int
    min: int
    median: float
    max: int


@dataclass(frozen=True)
class DataSummary:
    name: str
    version: str
    fingerprint: str
    descriptions: Counter[tuple[str, str]]
    """(dimension, polarity) -> descriptions."""
    questions: Counter[tuple[str, str]]
    """(dimension, split) -> questions."""
    atomic_values: Counter[tuple[str, str, str]]
    """(dimension, atomic value, split) -> questions."""
    topics: Counter[tuple[str, str]]
    """(dimension, topic) -> questions, both splits."""
    lengths: dict[tuple[str, str], Lengths]
    """(kind, dimension or "all") -> word counts."""


def summarize(data: DataSet) -> DataSummary:
    groups: dict[tuple[str, str], list[int]] = {}
    for kind, items in (("descriptions", data.descriptions), ("questions", data.questions)):
        for item in items:
            n = word_count(item.text)
            groups.setdefault((kind, item.dimension), []).append(n)
            groups.setdefault((kind, "all"), []).append(n)
    return DataSummary(
        name=data.name,
        version=data.version,
        fingerprint=data.fingerprint,
        descriptions=Counter((d.dimension, d.polarity) for d in data.descriptions),
        questions=Counter((q.dimension, q.split) for q in data.questions),
        atomic_values=Counter((q.dimension, q.atomic_value, q.split) for q in data.questions),
        topics=Counter((q.dimension, q.topic) for q in data.questions),
        lengths={key: Lengths(len(v), min(v), statistics.median(v), max(v))
                 for key, v in sorted(groups.items())},
    )


def select_items(
    data: DataSet,
    *,
    dimension: str | None = None,
    kind: str | None = None,
    split: str | None = None,
    polarity: str | None = None,
    limit: int | None = None,
) -> list[Item]:
    """Items in file order, filtered. A split selects questions only, a polarity
    descriptions only; asking for both, or for a kind that contradicts them, is an error."""
    if dimension is not None:
        lookup_dimension(dimension)
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    if split is not None and split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if polarity is not None:
        check_polarity(polarity)
    if limit is not None and limit < 1:
        raise UsageError(f"`limit` must be at least 1 (got {limit})")
    if split is not None and (polarity is not None or kind == "descriptions"):
        raise UsageError("--split selects questions; descriptions have a polarity instead")
    if polarity is not None and kind == "questions":
        raise UsageError("--polarity selects descriptions; questions have a split instead")
    kind = kind or ("questions" if split else "descriptions" if polarity else None)
    items: list[Item] = []
    if kind in (None, "descriptions"):
        items += [d for d in data.descriptions
                  if dimension in (None, d.dimension) and polarity in (None, d.polarity)]
    if kind in (None, "questions"):
        items += [q for q in data.questions
                  if dimension in (None, q.dimension) and split in (None, q.split)]
    return items[:limit]
