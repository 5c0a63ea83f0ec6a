"""What the data generator is asked to do, checked before any request is sent."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from nnvalues.data.valueinsight import DataSet, load_dataset
from nnvalues.errors import UsageError
from nnvalues.taxonomy import DIMENSION_IDS, TOPICS, AtomicValue, BasicValue, Dimension
from nnvalues.taxonomy import dimension as lookup_dimension

STAGE_CHOICES = ("all", "examples", "descriptions", "questions")
DESCRIPTION_WORDS = 70
"""Expected length of one description (the templates ask for at least 50 words)."""
QUESTION_WORDS = 130
"""Expected length of one question (the template asks for at least 100 words)."""
REFINE_WORDS = 160
"""Expected length of a refine answer: a few drawbacks and the revised question."""

@dataclass(frozen=True)
class GenerateOptions:
    out: Path
    dimensions: tuple[str, ...] = DIMENSION_IDS
    stage: str = "all"
    descriptions: int = 80
    """New descriptions per dimension and polarity, spread over its atomic values (paper: 80)."""
    questions_per_pair: int = 10
    """Questions asked for per atomic value x topic (paper: 10)."""
    atomic_values: tuple[str, ...] | None = None
    topics: tuple[str, ...] = TOPICS
    refine: bool = True
    part: str = "g"
    """Questions go to `<dimension>.questions.<part>.jsonl`."""
    evaluate_fraction: float = 0.25
    """Share of new questions put in the held-out evaluate split (the shipped set: 100/400)."""
    reference: DataSet | None = field(default_factory=lambda: load_dataset())
    """Existing items that new ones must not repeat and that question examples come from
    (the shipped set unless given; None for none)."""
    keep_invalid: bool = False
    """Write items that break a data rule too (they are reported) instead of keeping them aside."""
    concurrency: int = 4


@dataclass(frozen=True)
class RefineOptions:
    source: Path
    out: Path
    dimensions: tuple[str, ...] = DIMENSION_IDS
    atomic_values: tuple[str, ...] | None = None
    topics: tuple[str, ...] = TOPICS
    limit: int | None = None
    """Questions per dimension (in id order)."""
    keep_invalid: bool = False
    concurrency: int = 4


@dataclass(frozen=True)
class Target:
    dimension: Dimension
    basic: BasicValue
    atomic: AtomicValue

    @property
    def context(self) -> dict[str, str]:
        return {"dimension": self.dimension.id, "atomic_value": self.atomic.id}


def targets_of(dimensions: Sequence[str], atomic_values: Sequence[str] | None) -> list[Target]:
    if not dimensions:
        raise UsageError("no dimension selected")
    chosen = [lookup_dimension(d) for d in dict.fromkeys(dimensions)]
    targets = [Target(d, b, a) for d in chosen for b in d.basic_values for a in b.atomic_values]
    if atomic_values is not None:
        known = {t.atomic.id for t in targets}
        unknown = [a for a in atomic_values if a not in known]
        if unknown:
            raise UsageError(f"unknown atomic value(s) {', '.join(unknown)} for "
                             f"{', '.join(d.id for d in chosen)}; choose from {', '.join(sorted(known))}")
        targets = [t for t in targets if t.atomic.id in set(atomic_values)]
    return targets


def check_topics(topics: Sequence[str]) -> tuple[str, ...]:
    unknown = [t for t in topics if t not in TOPICS]
    if unknown or not topics:
        raise UsageError(f"unknown topic(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(TOPICS)}")
    return tuple(dict.fromkeys(topics))


def check_count(name: str, value: int) -> None:
    if value < 1:
        raise UsageError(f"{name} must be at least 1 (got {value})")


def check_generate_options(options: GenerateOptions) -> None:
    if options.stage not in STAGE_CHOICES:
        raise UsageError(f"unknown stage {options.stage!r}; choose from {', '.join(STAGE_CHOICES)}")
    check_count("--descriptions", options.descriptions)
    check_count("--questions-per-pair", options.questions_per_pair)
    check_count("--concurrency", options.concurrency)
    check_topics(options.topics)
    if not 0.0 <= options.evaluate_fraction <= 1.0:
        raise UsageError(f"`evaluate_fraction` must be between 0 and 1 (got {options.evaluate_fraction})")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", options.part):
        raise UsageError(f"`part` must be letters, digits, '-' or '_' (got {options.part!r})")
