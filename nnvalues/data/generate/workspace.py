"""The output directory of a generation run and the files it keeps there.

Data files use the shipped layout (`<dimension>.descriptions.<polarity>.jsonl`,
`<dimension>.questions.<part>.jsonl`), so the directory loads with `load_dataset(dir)`.
Everything else lives under `generation/`, out of the data loader's way:

- `journal.jsonl`: every answer paid for, keyed by request hash (resuming);
- `examples.jsonl`: one value/antonym example pair per atomic value, the paper's manual
  refinement point: edit it by hand, and the next run rephrases the edited examples;
- `rejects.jsonl`: answers and items kept aside, each with the reason;
- `violations.txt`: what `validate_dataset` says about the directory after the run.

Data files only ever grow, by an atomic rewrite that keeps every existing line as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nnvalues.data.records import read_jsonl
from nnvalues.data.validate import Item
from nnvalues.data.valueinsight import DataSet, Description, load_dataset
from nnvalues.errors import UsageError
from nnvalues.fingerprint import hash_json
from nnvalues.storage import atomic_write_text

WORK_DIR = "generation"


class Workspace:
    def __init__(self, out: Path) -> None:
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out}: exists and is not a directory")
        self.out = out
        self.work = out / WORK_DIR
        self.journal_path = self.work / "journal.jsonl"
        self.examples_path = self.work / "examples.jsonl"
        self.rejects_path = self.work / "rejects.jsonl"
        self.violations_path = self.work / "violations.txt"

    def dataset(self) -> DataSet:
        """What the directory holds now (an empty set before the first items are written)."""
        if not self.out.is_dir() or not any(self.out.glob("*.jsonl")):
            return DataSet((), (), f"dir:{self.out.name}", "")
        return load_dataset(self.out)

    def path_for(self, item: Item, part: str) -> Path:
        if isinstance(item, Description):
            return self.out / f"{item.dimension}.descriptions.{item.polarity}.jsonl"
        return self.out / f"{item.dimension}.questions.{part}.jsonl"

    def append(self, items: Iterable[tuple[Item, str]]) -> None:
        """Add (item, part) lines to their files; existing lines are kept byte for byte."""
        grouped: dict[Path, list[str]] = {}
        for item, part in items:
            grouped.setdefault(self.path_for(item, part), []).append(
                json.dumps(item_json(item), ensure_ascii=False))
        for path, lines in grouped.items():
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            if old and not old.endswith("\n"):
                old += "\n"
            atomic_write_text(path, old + "".join(line + "\n" for line in lines))


def item_json(item: Item) -> dict[str, Any]:
    """The shipped files' fields, in their order."""
    if isinstance(item, Description):
        return {"id": item.id, "dimension": item.dimension, "polarity": item.polarity,
                "atomic_values": list(item.atomic_values), "text": item.text}
    return {"id": item.id, "dimension": item.dimension, "atomic_value": item.atomic_value,
            "topic": item.topic, "split": item.split, "text": item.text}


class ExampleBook:
    """The value/antonym example pair of each (dimension, atomic value), editable by hand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}
        if path.exists():
            for where, raw in read_jsonl(path):
                fields = ("dimension", "atomic_value", "positive", "negative")
                if not isinstance(raw, dict) or not all(
                        isinstance(raw.get(f), str) and raw[f].strip() for f in fields):
                    raise UsageError(f"{where}: an example needs non-empty {', '.join(fields)}")
                self._pairs[raw["dimension"], raw["atomic_value"]] = (raw["positive"], raw["negative"])

    def get(self, dimension: str, atomic_value: str) -> tuple[str, str] | None:
        return self._pairs.get((dimension, atomic_value))

    def set(self, dimension: str, atomic_value: str, positive: str, negative: str) -> None:
        self._pairs[dimension, atomic_value] = (positive, negative)

    def save(self) -> None:
        lines = [json.dumps({"dimension": d, "atomic_value": a, "positive": p, "negative": n},
                            ensure_ascii=False) for (d, a), (p, n) in self._pairs.items()]
        atomic_write_text(self.path, "".join(line + "\n" for line in lines))


class RejectLog:
    """Answers and items kept aside, with why; the same rejection is recorded once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, dict[str, Any]] = {}
        if path.exists():
            for _, raw in read_jsonl(path):
                if isinstance(raw, dict) and "id" in raw:
                    self._entries[raw["id"]] = raw

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, stage: str, reason: str, detail: str, text: str, **context: Any) -> None:
        entry = {"stage": stage, "reason": reason, "detail": detail, **context, "text": text}
        entry_id = hash_json(entry)[:16]
        self._entries.setdefault(entry_id, {"id": entry_id, **entry})

    def save(self) -> None:
        lines = [json.dumps(e, ensure_ascii=False) for e in self._entries.values()]
        atomic_write_text(self.path, "".join(line + "\n" for line in lines))
