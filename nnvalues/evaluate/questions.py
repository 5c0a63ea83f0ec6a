"""The questions an evaluation asks, per set and dimension.

"heldout" is the shipped ValueInsight data set's evaluate split (never used to locate
neurons); "pvq40" and "valuebench" are the published items rephrased as questions
(`nnvalues.data.external`), downloaded once and verified, or read from `source`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nnvalues.data.external import evaluation_questions
from nnvalues.data.valueinsight import load_dataset
from nnvalues.errors import UsageError
from nnvalues.fingerprint import hash_json


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    agreement: int | None = None
    """External items: +1 when agreeing expresses the dimension's value, -1 its opposite."""


def load_questions(set_name: str, dimension: str, limit: int | None,
                   source: Path | None = None) -> list[Item]:
    """The first `limit` questions of `set_name` for `dimension`."""
    if limit is not None and limit < 1:
        raise UsageError(f"`limit` must be at least 1 (got {limit})")
    if set_name == "heldout":
        questions = load_dataset().questions_for(dimension, "evaluate")
        items = [Item(q.id, q.text) for q in questions][:limit]
    else:
        items = [Item(q.id, q.text, q.agreement)
                 for q in evaluation_questions(set_name, dimension, source=source, limit=limit)]
    if not items:
        raise UsageError(f"the {set_name} set holds no questions for {dimension}")
    return items


def fingerprint(items: list[Item]) -> str:
    return hash_json([[i.id, i.text] for i in items])
