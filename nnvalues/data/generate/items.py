"""From parsed texts to data set items: stable ids, the split, duplicates and the rules.

Ids and splits come from a hash of the text, so the same answer always yields the same
item, whichever run or thread parses it. Duplicates are judged with the data checks' own
measure (word-trigram Jaccard, `nnvalues.data.validate`), against everything that already
exists, and the item rules are `validate_dataset`'s, so a generated item is kept exactly
when `nnvalues dataset validate` would accept it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from nnvalues.data.text import words
from nnvalues.data.validate import (
    NEAR_DUPLICATE_JACCARD, Item, Violation, near_duplicate_pairs, validate_dataset,
)
from nnvalues.data.valueinsight import DataSet, Description, Question


def item_id(dimension: str, kind: str, text: str) -> str:
    """`<dimension>-g<kind>-<hash>`: never collides with hand-written ids such as co-qa-001."""
    digest = hashlib.sha256(f"{dimension}\n{kind}\n{text}".encode("utf-8")).hexdigest()
    return f"{dimension}-g{kind}-{digest[:10]}"


def split_for(text: str, evaluate_fraction: float) -> str:
    """'evaluate' for a stable `evaluate_fraction` of texts, 'locate' for the rest."""
    bucket = int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "evaluate" if bucket < evaluate_fraction else "locate"


def drop_duplicates(
    candidates: Sequence[Item], existing: Sequence[tuple[str, str]]
) -> tuple[list[Item], list[tuple[Item, str, str]]]:
    """(kept, [(item, rule, message)]): a candidate is dropped when it repeats, exactly or
    nearly, an existing text or an earlier kept candidate."""
    texts = [text for _, text in existing] + [c.text for c in candidates]
    ids = [id for id, _ in existing] + [c.id for c in candidates]
    partners: dict[int, list[tuple[int, float]]] = {}
    for i, j, score in near_duplicate_pairs(texts, NEAR_DUPLICATE_JACCARD):
        partners.setdefault(j, []).append((i, score))
    alive = set(range(len(existing)))
    kept: list[Item] = []
    dropped: list[tuple[Item, str, str]] = []
    for offset, candidate in enumerate(candidates):
        index = len(existing) + offset
        match = next(((i, s) for i, s in partners.get(index, []) if i in alive), None)
        if match is None:
            alive.add(index)
            kept.append(candidate)
            continue
        i, score = match
        if words(texts[i]) == words(candidate.text):
            dropped.append((candidate, "duplicate", f"the same text as {ids[i]}"))
        else:
            dropped.append((candidate, "near_duplicate",
                            f"nearly the same text (Jaccard {score:.2f}) as {ids[i]}"))
    return kept, dropped


def check_new(existing: DataSet, new: Sequence[Item]) -> dict[str, list[Violation]]:
    """The violations of each new item when it joins `existing` (partial-set rules)."""
    merged = DataSet(
        existing.descriptions + tuple(i for i in new if isinstance(i, Description)),
        existing.questions + tuple(i for i in new if isinstance(i, Question)),
        existing.name, existing.version)
    new_ids = {i.id for i in new}
    found: dict[str, list[Violation]] = {}
    for violation in validate_dataset(merged, require_minimums=False):
        if violation.item_id in new_ids:
            found.setdefault(violation.item_id, []).append(violation)
    return found
