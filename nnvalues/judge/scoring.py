"""Turning what a judge said into a score, without ever inventing a number.

Two routes, as in G-Eval (paper eq. 7):
- a probability table over the ratings (from logprobs or a local model's next token):
  score = sum p(s) * s / sum p(s), and the mass sum p(s) before renormalising is kept,
  since a low mass means the judge mostly wanted to say something other than a rating;
- sampled answers: each is parsed; one that does not give a rating on the scale counts
  as missing (never as 0), and the score is the mean of the others.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Sequence

from nnvalues.judge.prompts import RATINGS


@dataclass(frozen=True)
class Score:
    """One judgement of one prompt (one run)."""

    value: float | None
    """Expected rating, or the mean of parsed samples; None when nothing was on the scale."""
    mass: float | None
    """Probability on the valid ratings before renormalising; for samples, the share parsed."""
    distribution: tuple[float, ...] | None = None
    """p(rating) renormalised, in the order of the ratings (for samples: share of each)."""
    samples: tuple[float | None, ...] = ()
    missing: int = 0
    """Sampled answers that gave no rating on the scale (1 for a table with no mass)."""
    answer: str = ""
    """What the judge said: its most likely token, or its first sampled answer."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Score":
        dist = data.get("distribution")
        return cls(data.get("value"), data.get("mass"),
                   tuple(dist) if dist is not None else None,
                   tuple(data.get("samples", ())), int(data.get("missing", 0)),
                   str(data.get("answer", "")))


def from_probabilities(probabilities: Mapping[int, float], ratings: Sequence[int] = RATINGS,
                       answer: str = "") -> Score:
    """Score from unnormalised probabilities per rating (missing ratings count as 0)."""
    masses = [max(0.0, float(probabilities.get(r, 0.0))) for r in ratings]
    total = sum(masses)
    if not total > 0 or not math.isfinite(total):
        return Score(None, 0.0, None, missing=1, answer=answer)
    dist = tuple(m / total for m in masses)
    value = sum(p * r for p, r in zip(dist, ratings))
    return Score(value, min(total, 1.0), dist, answer=answer)


def rating_of_token(token: str, ratings: Sequence[int] = RATINGS) -> int | None:
    """The rating a single token stands for ("4", " 4", "4\\n"), or None."""
    text = token.strip()
    return int(text) if text.isdigit() and int(text) in ratings else None


def from_top_logprobs(entries: Iterable[tuple[str, float]], ratings: Sequence[int] = RATINGS,
                      answer: str = "") -> Score:
    """Score from (token, logprob) pairs of the first answer position; "4" and " 4" add up."""
    table: dict[int, float] = {}
    for token, logprob in entries:
        rating = rating_of_token(token, ratings)
        if rating is not None and logprob is not None and math.isfinite(logprob):
            table[rating] = table.get(rating, 0.0) + math.exp(logprob)
    return from_probabilities(table, ratings, answer)


_SCALE_MENTION = re.compile(r"\(?\b1\s*(?:-|–|to)\s*5\b\)?", re.I)
_DENOMINATOR = re.compile(r"(?:/|\bout\s+of\b)\s*5\b", re.I)
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)?")
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_WORD = re.compile(r"\b(one|two|three|four|five)\b", re.I)


def parse_rating(text: str | None, ratings: Sequence[int] = RATINGS) -> float | None:
    """The rating a free-text answer gives, or None when it gives none on the scale.

    Mentions of the scale itself ("1-5", "out of 5") are ignored; the first number left is
    the rating. A number off the scale (0, 7, -1 for gibberish) is missing, not clipped.
    """
    if not text:
        return None
    cleaned = _DENOMINATOR.sub(" ", _SCALE_MENTION.sub(" ", text))
    match = _NUMBER.search(cleaned)
    if match is None:
        word = _WORD.search(cleaned)
        number = float(_WORDS[word.group(1).lower()]) if word else None
    else:
        number = float(match.group(0).replace(",", "."))
    if number is None or not min(ratings) <= number <= max(ratings):
        return None
    return number


def from_samples(answers: Sequence[str], ratings: Sequence[int] = RATINGS) -> Score:
    """Score from sampled answers: the mean of those that parse; the others are missing."""
    parsed = tuple(parse_rating(a, ratings) for a in answers)
    valid = [p for p in parsed if p is not None]
    first = answers[0] if answers else ""
    if not valid:
        return Score(None, 0.0, None, parsed, len(parsed), first)
    counts = [sum(1 for v in valid if round(v) == r) for r in ratings]
    dist = tuple(c / len(valid) for c in counts)
    return Score(sum(valid) / len(valid), len(valid) / len(parsed), dist, parsed,
                 len(parsed) - len(valid), first)
