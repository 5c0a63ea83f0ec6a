"""The rules every data set item must meet before it is used to find value neurons.

A prompt that names its value, or a question that leaks from the locate split into the
evaluate split, makes the measurement circular; `validate_dataset` finds such items and
says which rule each one breaks. The rules and their numbers are documented in
nnvalues/data/README.md.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Iterable

import numpy as np
from scipy import sparse

from nnvalues.data.text import sentences, word_count, words
from nnvalues.data.valueinsight import (
    DataSet,
    Item,
    Question,
    description_problems,
    question_problems,
)
from nnvalues.taxonomy import DIMENSION_IDS, DIMENSIONS, POLARITIES, TENDENCY_QUALIFIERS
from nnvalues.taxonomy import dimension as lookup_dimension


MIN_DESCRIPTION_WORDS = 50
MIN_QUESTION_WORDS = 60
QUESTION_ENDINGS = ("What do you think", "What would you do")
NEAR_DUPLICATE_JACCARD = 0.35
"""Word-trigram Jaccard at or above which two texts count as one item reworded.

Measured on the shipped questions: two distinct items never share more than 0.11 (the
formulaic "What would you do?" included); the same text with three words changed scores
about 0.78, with one sentence replaced 0.56 (median; 0.28 to 0.78), with its second half
rewritten 0.47. 0.35 flags the edits while leaving distinct items far below.
"""
MIN_DESCRIPTIONS = 40
"""Per dimension and polarity (the paper used 80)."""
MIN_QUESTIONS = {"locate": 300, "evaluate": 100}
"""Per dimension and split."""
MIN_TOPICS = 8
"""Distinct topics among a dimension's locate questions."""
FORBIDDEN_SUFFIXES = ("s", "es", "ly", "ness", "ity")

_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|yourselves)\b", re.IGNORECASE)
_FIRST_PERSON = re.compile(r"\b(?:I|(?i:my|myself))\b")
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")


@dataclass(frozen=True)
class Violation:
    """One broken rule: the item (or `dimension[:split]` for set-wide rules) and why."""

    item_id: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.item_id}: {self.rule}: {self.message}"


def validate_dataset(data: DataSet, *, require_minimums: bool = True) -> list[Violation]:
    """Every violation in `data`, in a stable order; an empty list means the set is clean.

    `require_minimums=False` checks a partial set (one being generated): the item rules,
    duplicates and split leakage still apply, the minimum counts and the coverage of every
    atomic value and topic (properties of a finished set) do not.
    """
    violations = _schema(data)
    for item in chain(data.descriptions, data.questions):
        if item.dimension in DIMENSION_IDS:
            violations.extend(_item_rules(item))
    violations.extend(_duplicates(data))
    if require_minimums:
        violations.extend(_coverage(data))
        violations.extend(_minimums(data))
    return violations


def _schema(data: DataSet) -> list[Violation]:
    found = [Violation(d.id, "schema", p) for d in data.descriptions for p in description_problems(d)]
    found += [Violation(q.id, "schema", p) for q in data.questions for p in question_problems(q)]
    counts = Counter(item.id for item in chain(data.descriptions, data.questions))
    found += [Violation(id, "schema", f"id used by {n} items") for id, n in sorted(counts.items()) if n > 1]
    return found


def _item_rules(item: Item) -> Iterable[Violation]:
    is_question = isinstance(item, Question)
    minimum = MIN_QUESTION_WORDS if is_question else MIN_DESCRIPTION_WORDS
    count = word_count(item.text)
    if count < minimum:
        yield Violation(item.id, "length", f"{count} words, fewer than {minimum}")
    yield from _second_person(item, is_question)
    if is_question:
        last = sentences(item.text)[-1] if item.text.strip() else ""
        if not last.startswith(QUESTION_ENDINGS) or not last.endswith("?"):
            yield Violation(item.id, "question_ending",
                            f"last sentence {_clip(last)!r} is not a question starting with "
                            + " or ".join(repr(e) for e in QUESTION_ENDINGS))
    for category, pattern in _forbidden_patterns(item.dimension, is_question):
        hits = sorted({m.group(0).lower() for m in pattern.finditer(item.text)})
        if hits:
            yield Violation(item.id, "forbidden_word",
                            f"{', '.join(repr(h) for h in hits)} ({category})")


def _second_person(item: Item, is_question: bool) -> Iterable[Violation]:
    """Addressed to the reader as 'you', never narrated as 'I' outside quoted speech."""
    parts = sentences(item.text)
    # A question's closing 'What would you do?' always says 'you': the scenario must too.
    scope = " ".join(parts[:-1]) if is_question else (parts[0] if parts else "")
    if not _SECOND_PERSON.search(scope):
        where = "the scenario before the closing question" if is_question else "the first sentence"
        yield Violation(item.id, "second_person", f"{where} does not address the reader as 'you'")
    narrated = _FIRST_PERSON.search(_QUOTED.sub(" ", item.text))
    if narrated:
        yield Violation(item.id, "second_person",
                        f"first person {narrated.group(0)!r} outside quotation marks")


@lru_cache(maxsize=None)
def _forbidden_patterns(dimension: str, is_question: bool) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The words a text of `dimension` must avoid, by category, as whole-word patterns."""
    names = [d.name for d in DIMENSIONS] + [b.name for d in DIMENSIONS for b in d.basic_values]
    groups = [(f"keyword of {dimension}", lookup_dimension(dimension).keywords),
              ("name of a value or dimension", tuple(dict.fromkeys(n.lower() for n in names)))]
    if is_question:
        groups.append(("tendency qualifier", TENDENCY_QUALIFIERS))
    return tuple((category, forbidden_pattern(terms)) for category, terms in groups)


def forbidden_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """Whole words, any case, with the endings in FORBIDDEN_SUFFIXES; a space or hyphen
    inside a term matches either ('broad-minded' also finds 'broad minded')."""
    alternatives = sorted({r"[\s-]+".join(map(re.escape, re.split(r"[\s-]+", t.strip())))
                           for t in terms}, key=len, reverse=True)
    suffixes = "|".join(FORBIDDEN_SUFFIXES)
    return re.compile(rf"\b(?:{'|'.join(alternatives)})(?:{suffixes})?\b", re.IGNORECASE)


def _duplicates(data: DataSet) -> list[Violation]:
    """Exact and near duplicates over the whole set: across files, kinds and dimensions.

    Each pair is reported once, on the item that comes later (descriptions, then questions,
    in the set's order), so items appended to a set are the ones flagged. A pair of
    questions from different splits is reported as split leakage instead, since that is
    the harm it does.
    """
    items: list[Item] = [*data.descriptions, *data.questions]
    found = []
    for i, j, score in near_duplicate_pairs([i.text for i in items], NEAR_DUPLICATE_JACCARD):
        first, second = items[i], items[j]
        same = score >= 1.0 and words(first.text) == words(second.text)
        what = "the same text as" if same else f"nearly the same text (Jaccard {score:.2f}) as"
        if (isinstance(first, Question) and isinstance(second, Question)
                and first.split != second.split):
            found.append(Violation(second.id, "split_leakage",
                                   f"{second.split} question has {what} {first.split} question {first.id}"))
        else:
            rule = "duplicate" if same else "near_duplicate"
            found.append(Violation(second.id, rule, f"{what} {first.id}"))
    return found


def near_duplicate_pairs(texts: list[str], threshold: float) -> list[tuple[int, int, float]]:
    """(i, j, jaccard) for i < j whose word-trigram sets overlap at least `threshold`.

    One sparse product gives every pair's shared trigram count at once, so two thousand
    texts take a fraction of a second instead of two million set intersections.
    """
    vocabulary: dict[tuple[str, ...], int] = {}
    rows, cols = [], []
    for row, text in enumerate(texts):
        for shingle in _shingles(words(text)):
            rows.append(row)
            cols.append(vocabulary.setdefault(shingle, len(vocabulary)))
    if not vocabulary:
        return []
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)),
                               shape=(len(texts), len(vocabulary)))
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    shared = sparse.triu(matrix @ matrix.T, k=1).tocoo()
    union = sizes[shared.row] + sizes[shared.col] - shared.data
    score = shared.data / np.maximum(union, 1)
    keep = score >= threshold
    pairs = zip(shared.row[keep].tolist(), shared.col[keep].tolist(), score[keep].tolist())
    return sorted((int(i), int(j), float(s)) for i, j, s in pairs)


def _shingles(tokens: list[str]) -> set[tuple[str, ...]]:
    if len(tokens) < 3:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[k:k + 3]) for k in range(len(tokens) - 2)}


def _coverage(data: DataSet) -> list[Violation]:
    found = []
    for dimension in DIMENSIONS:
        locate = [q for q in data.questions if q.dimension == dimension.id and q.split == "locate"]
        covered = {q.atomic_value for q in locate}
        for atomic in dimension.atomic_values:
            if atomic.id not in covered:
                found.append(Violation(f"{dimension.id}:locate", "coverage",
                                       f"no locate question for atomic value {atomic.id}"))
        topics = {q.topic for q in locate}
        if len(topics) < MIN_TOPICS:
            found.append(Violation(f"{dimension.id}:locate", "coverage",
                                   f"{len(topics)} topics, fewer than {MIN_TOPICS}"))
    return found


def _minimums(data: DataSet) -> list[Violation]:
    found = []
    descriptions = Counter((d.dimension, d.polarity) for d in data.descriptions)
    questions = Counter((q.dimension, q.split) for q in data.questions)
    for dimension in DIMENSION_IDS:
        for polarity in POLARITIES:
            n = descriptions[dimension, polarity]
            if n < MIN_DESCRIPTIONS:
                found.append(Violation(f"{dimension}:{polarity}", "minimum_count",
                                       f"{n} {polarity} descriptions, fewer than {MIN_DESCRIPTIONS}"))
        for split, minimum in MIN_QUESTIONS.items():
            n = questions[dimension, split]
            if n < minimum:
                found.append(Violation(f"{dimension}:{split}", "minimum_count",
                                       f"{n} {split} questions, fewer than {minimum}"))
    return found


def _clip(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[: size - 3] + "..."
