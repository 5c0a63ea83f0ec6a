"""The shipped ValueInsight-style data set and how its items become paired prompt records.

Descriptions and situational questions live in `nnvalues/data/valueinsight/` as JSON Lines
(`<dimension>.descriptions.<polarity>.jsonl`, `<dimension>.questions.<part>.jsonl`);
nnvalues/data/README.md documents the fields and the rules `nnvalues dataset validate` checks.
Every question of a dimension is measured twice, once after a positive and once after a
reversed description of that dimension, drawn with a seed, so the two polarities differ
only in the description.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Union

from nnvalues.data.records import PromptRecord, read_jsonl
from nnvalues.errors import UsageError
from nnvalues.fingerprint import hash_json
from nnvalues.taxonomy import DIMENSION_IDS, POLARITIES, TOPICS
from nnvalues.taxonomy import dimension as lookup_dimension

DATA_NAME = "valueinsight-nnvalues"
DATA_VERSION = "1.0"
SPLITS = ("locate", "evaluate")


@dataclass(frozen=True)
class Description:
    id: str
    dimension: str
    polarity: str
    atomic_values: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Question:
    id: str
    dimension: str
    atomic_value: str
    topic: str
    split: str
    text: str


Item = Union[Description, Question]


@dataclass(frozen=True)
class DataSet:
    descriptions: tuple[Description, ...]
    questions: tuple[Question, ...]
    name: str
    version: str

    @property
    def fingerprint(self) -> str:
        return hash_json([[vars(d) for d in self.descriptions], [vars(q) for q in self.questions]])

    def descriptions_for(self, dimension: str, polarity: str) -> list[Description]:
        return [d for d in self.descriptions if d.dimension == dimension and d.polarity == polarity]

    def questions_for(self, dimension: str, split: str) -> list[Question]:
        return [q for q in self.questions if q.dimension == dimension and q.split == split]


def data_directory() -> Path:
    return Path(str(resources.files("nnvalues.data").joinpath("valueinsight")))


def description_problems(item: Description) -> list[str]:
    """What makes a description unusable: unknown labels or empty text (empty when fine)."""
    problems = _dimension_problems(item.id, item.dimension, item.text)
    if item.polarity not in POLARITIES:
        problems.append(f"unknown polarity {item.polarity!r}; choose from {', '.join(POLARITIES)}")
    problems.extend(_atomic_problems(item.dimension, item.atomic_values))
    return problems


def question_problems(item: Question) -> list[str]:
    """What makes a question unusable: unknown labels or empty text (empty when fine)."""
    problems = _dimension_problems(item.id, item.dimension, item.text)
    problems.extend(_atomic_problems(item.dimension, (item.atomic_value,)))
    if item.topic not in TOPICS:
        problems.append(f"unknown topic {item.topic!r}; choose from {', '.join(TOPICS)}")
    if item.split not in SPLITS:
        problems.append(f"unknown split {item.split!r}; choose from {', '.join(SPLITS)}")
    return problems


def _dimension_problems(id: str, dimension: str, text: str) -> list[str]:
    problems = []
    if not id.strip():
        problems.append("empty id")
    if not text.strip():
        problems.append("empty text")
    if dimension not in DIMENSION_IDS:
        problems.append(f"unknown dimension {dimension!r}; choose from {', '.join(DIMENSION_IDS)}")
    return problems


def _atomic_problems(dimension: str, atomic_values: tuple[str, ...]) -> list[str]:
    if dimension not in DIMENSION_IDS:
        return []  # already reported; atomic values are only known within a dimension
    known = {a.id for a in lookup_dimension(dimension).atomic_values}
    return [f"unknown atomic value {a!r} for {dimension}; choose from {', '.join(sorted(known))}"
            for a in atomic_values if a not in known]


def load_dataset(directory: Path | None = None) -> DataSet:
    """Read a data set directory in the shipped layout (the shipped set by default).

    Every problem is a UsageError naming the file and line, so a hand-edited or generated
    directory can be fixed from the message alone.
    """
    if directory is None:
        return _shipped()
    directory = Path(directory)
    if directory.resolve() == data_directory().resolve():
        return _shipped()
    return read_dataset(directory, f"dir:{directory.name}", "")


@lru_cache(maxsize=1)
def _shipped() -> DataSet:
    return read_dataset(data_directory(), DATA_NAME, DATA_VERSION)


def read_dataset(directory: Path, name: str, version: str) -> DataSet:
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such data directory")
    paths = sorted(directory.glob("*.jsonl"))
    if not paths:
        raise UsageError(f"{directory}: holds no data files (<dimension>.descriptions.<polarity>.jsonl, "
                         "<dimension>.questions.<part>.jsonl)")
    descriptions: list[Description] = []
    questions: list[Question] = []
    first_seen: dict[str, str] = {}
    for path in paths:
        dimension, kind, part = _file_role(path)
        for where, raw in read_jsonl(path):
            item = _parse_item(raw, kind, where)
            if item.dimension != dimension and item.dimension in DIMENSION_IDS:
                raise UsageError(f"{where}: dimension {item.dimension!r} in a file of {dimension!r}")
            if isinstance(item, Description) and item.polarity != part and item.polarity in POLARITIES:
                raise UsageError(f"{where}: polarity {item.polarity!r} in a file of {part!r} descriptions")
            problems = (description_problems(item) if isinstance(item, Description)
                        else question_problems(item))
            if problems:
                raise UsageError(f"{where}: {problems[0]}")
            if item.id in first_seen:
                raise UsageError(f"{where}: duplicate id {item.id!r} (first at {first_seen[item.id]})")
            first_seen[item.id] = where
            if isinstance(item, Description):
                descriptions.append(item)
            else:
                questions.append(item)
    return DataSet(tuple(descriptions), tuple(questions), name, version)


def _file_role(path: Path) -> tuple[str, str, str]:
    """(dimension, kind, part) from a name like `conservation.descriptions.positive.jsonl`."""
    parts = path.name.split(".")
    if len(parts) != 4 or parts[1] not in ("descriptions", "questions"):
        raise UsageError(f"{path}: unexpected file name; use <dimension>.descriptions.<polarity>.jsonl "
                         "or <dimension>.questions.<part>.jsonl")
    dimension, kind, part, _ = parts
    if dimension not in DIMENSION_IDS:
        raise UsageError(f"{path}: unknown dimension {dimension!r} in the file name; "
                         f"choose from {', '.join(DIMENSION_IDS)}")
    if kind == "descriptions" and part not in POLARITIES:
        raise UsageError(f"{path}: unknown polarity {part!r} in the file name; "
                         f"choose from {', '.join(POLARITIES)}")
    return dimension, kind, part


_DESCRIPTION_FIELDS = ("id", "dimension", "polarity", "text")
_QUESTION_FIELDS = ("id", "dimension", "atomic_value", "topic", "split", "text")


def _parse_item(raw: Any, kind: str, where: str) -> Description | Question:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: a record must be a JSON object")
    fields = _DESCRIPTION_FIELDS if kind == "descriptions" else _QUESTION_FIELDS
    missing = [f for f in fields if not isinstance(raw.get(f), str)]
    if missing:
        raise UsageError(f"{where}: missing or non-string field(s) {', '.join(missing)}")
    unknown = sorted(set(raw) - set(fields) - {"atomic_values"})
    if unknown:
        raise UsageError(f"{where}: unknown field(s) {', '.join(unknown)}")
    if kind == "questions":
        if "atomic_values" in raw:
            raise UsageError(f"{where}: unknown field(s) atomic_values (questions have atomic_value)")
        return Question(*(raw[f] for f in fields))
    atomic = raw.get("atomic_values", [])
    if not isinstance(atomic, list) or not all(isinstance(a, str) for a in atomic):
        raise UsageError(f"{where}: field atomic_values must be a list of strings")
    return Description(raw["id"], raw["dimension"], raw["polarity"], tuple(atomic), raw["text"])


def paired_records(
    data: DataSet,
    dimensions: Iterable[str] = DIMENSION_IDS,
    *,
    split: str = "locate",
    limit: int | None = None,
    seed: int = 0,
) -> list[PromptRecord]:
    """Two records per question, positive then negative, with seeded description draws.

    `limit` keeps that many questions per dimension, taken in a seeded order so that a
    small run still spreads over the dimension's atomic values and topics.
    """
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if limit is not None and limit < 1:
        raise UsageError(f"`limit` must be at least 1 (got {limit})")
    records: list[PromptRecord] = []
    for dimension in dimensions:
        questions = sorted(data.questions_for(dimension, split), key=lambda q: q.id)
        random.Random(f"{seed}:{dimension}:order").shuffle(questions)
        pools = {p: sorted(data.descriptions_for(dimension, p), key=lambda d: d.id) for p in POLARITIES}
        if not questions or not all(pools.values()):
            raise UsageError(f"the data set has no {split} questions or descriptions for {dimension}")
        for question in questions[:limit]:
            draw = random.Random(f"{seed}:{question.id}")
            for polarity in POLARITIES:
                description = pools[polarity][draw.randrange(len(pools[polarity]))]
                records.append(PromptRecord(
                    f"{question.id}:{polarity}", dimension, polarity, description.text,
                    question.text, pair=question.id,
                    extra={"question_id": question.id, "description_id": description.id},
                ))
    return records
