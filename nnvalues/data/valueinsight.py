"""The shipped ValueInsight-style data set and how its items become paired prompt records.

Descriptions and situational questions live in `nnvalues/data/valueinsight/` as JSON Lines
(`<dimension>.descriptions.<polarity>.jsonl`, `<dimension>.questions.<part>.jsonl`).
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
from typing import Iterable

from nnvalues.data.records import PromptRecord, read_jsonl
from nnvalues.errors import UsageError
from nnvalues.fingerprint import hash_json
from nnvalues.taxonomy import DIMENSION_IDS, POLARITIES

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


@lru_cache(maxsize=4)
def load_dataset(directory: Path | None = None) -> DataSet:
    """Read a data set directory (the shipped one by default)."""
    directory = directory or data_directory()
    descriptions: list[Description] = []
    questions: list[Question] = []
    for path in sorted(directory.glob("*.jsonl")):
        for where, raw in read_jsonl(path):
            try:
                if ".descriptions." in path.name:
                    descriptions.append(Description(
                        raw["id"], raw["dimension"], raw["polarity"],
                        tuple(raw.get("atomic_values", ())), raw["text"]))
                else:
                    questions.append(Question(
                        raw["id"], raw["dimension"], raw["atomic_value"], raw["topic"],
                        raw["split"], raw["text"]))
            except (KeyError, TypeError) as exc:
                raise UsageError(f"{where}: missing field {exc}") from None
    return DataSet(tuple(descriptions), tuple(questions), DATA_NAME, DATA_VERSION)


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
        raise UsageError(f"--limit must be at least 1 (got {limit})")
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
