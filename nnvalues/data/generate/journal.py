"""The answers already paid for, so a stopped run continues where it was.

Every answer is appended to `journal.jsonl` in the output directory the moment it arrives,
keyed by the hash of the request that produced it (model, messages and sampling settings;
never the endpoint's key). A rerun looks requests up here first and only sends the rest.
Appends are flushed to disk one line at a time; a line torn by a kill is skipped on reading
and its request is simply sent again.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Answer:
    """What the endpoint said to one request, and what it cost."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def truncated(self) -> bool:
        """The model hit max_tokens, so the last item of a list is likely cut short."""
        return self.finish_reason == "length"


class Journal:
    """An append-only map from request key to answer, shared safely by worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.torn_lines = 0
        self._answers: dict[str, Answer] = {}
        self._lock = threading.Lock()
        self._needs_newline = False
        self._load()

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: str) -> Answer | None:
        return self._answers.get(key)

    def record(self, key: str, answer: Answer, meta: dict[str, Any]) -> None:
        """Append one answer durably; `meta` (stage, model) is for people reading the file."""
        line = json.dumps({"key": key, **meta, **asdict(answer)}, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                if self._needs_newline:  # never glue an answer onto a line torn by a kill
                    handle.write("\n")
                    self._needs_newline = False
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            self._answers[key] = answer

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                self._answers[raw["key"]] = Answer(
                    raw["text"], raw.get("finish_reason"),
                    int(raw.get("prompt_tokens", 0)), int(raw.get("completion_tokens", 0)))
            except (ValueError, KeyError, TypeError):
                self.torn_lines += 1
        self._needs_newline = bool(text) and not text.endswith("\n")
