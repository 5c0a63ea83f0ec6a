"""The prompt record: one value description paired with one situational question.

A prompts file is JSON Lines, one record per line:

    {"id": "q17:positive", "dimension": "conservation", "polarity": "positive",
     "description": "You ...", "question": "Your neighbour ... What would you do?",
     "pair": "q17"}

`id`, `dimension`, `polarity`, `description` and `question` are required. `pair` is
optional: two records with the same `pair` (one positive, one negative, same dimension)
are measured as a pair, which enables the paired statistics. Any other field is kept in
`extra` and ignored by the measurement.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from nnvalues.errors import UsageError
from nnvalues.taxonomy import DIMENSION_IDS, POLARITIES

REQUIRED = ("id", "dimension", "polarity", "description", "question")


@dataclass(frozen=True)
class PromptRecord:
    id: str
    dimension: str
    polarity: str
    description: str
    question: str
    pair: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        if data["pair"] is None:
            del data["pair"]
        return {**data, **extra}


def parse_record(raw: Any, where: str) -> PromptRecord:
    """Validate one decoded JSON object; `where` names the file and line in errors."""
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: a record must be a JSON object")
    missing = [name for name in REQUIRED if not isinstance(raw.get(name), str) or not raw[name].strip()]
    if missing:
        raise UsageError(f"{where}: missing or empty field(s) {', '.join(missing)}")
    if raw["dimension"] not in DIMENSION_IDS:
        raise UsageError(
            f"{where}: unknown dimension {raw['dimension']!r}; choose from {', '.join(DIMENSION_IDS)}"
        )
    if raw["polarity"] not in POLARITIES:
        raise UsageError(
            f"{where}: unknown polarity {raw['polarity']!r}; choose from {', '.join(POLARITIES)}"
        )
    pair = raw.get("pair")
    if pair is not None and not isinstance(pair, str):
        raise UsageError(f"{where}: field pair must be a string")
    extra = {k: v for k, v in raw.items() if k not in (*REQUIRED, "pair")}
    return PromptRecord(
        raw["id"], raw["dimension"], raw["polarity"], raw["description"], raw["question"],
        pair, extra,
    )


def read_jsonl(path: Path) -> list[tuple[str, Any]]:
    """Decode a JSON Lines file into (location, object) pairs, blank lines skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read ({exc})") from None
    decoded = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            decoded.append((where, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not valid JSON ({exc.msg})") from None
    return decoded


def load_records(path: Path) -> list[PromptRecord]:
    """Read and check a user prompts file: fields, unique ids and well-formed pairs."""
    records = [parse_record(raw, where) for where, raw in read_jsonl(path)]
    if not records:
        raise UsageError(f"{path}: holds no records")
    check_records(records, str(path))
    return records


def check_records(records: Iterable[PromptRecord], origin: str) -> None:
    seen: set[str] = set()
    pairs: dict[str, list[PromptRecord]] = {}
    for record in records:
        if record.id in seen:
            raise UsageError(f"{origin}: duplicate record id {record.id!r}")
        seen.add(record.id)
        if record.pair is not None:
            pairs.setdefault(record.pair, []).append(record)
    for key, members in pairs.items():
        polarities = sorted(m.polarity for m in members)
        if polarities != ["negative", "positive"] or members[0].dimension != members[1].dimension:
            raise UsageError(
                f"{origin}: pair {key!r} must hold exactly one positive and one negative "
                "record of the same dimension"
            )
