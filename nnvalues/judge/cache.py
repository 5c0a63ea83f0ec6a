"""Judgements already made, so that a rerun never asks (or pays) twice.

A judgement is keyed by sha256 of the judge's identity, the full prompt (which holds the
judged text) and the run's seed. Entries live in 256 JSON shards under one folder, each
rewritten atomically when it changes (merged with what is on disk, so two processes
sharing a cache lose nothing but a race). Writes are batched: `put` marks a shard dirty,
`flush` (called at least every `flush_every` puts or `flush_seconds`, and always at the
end of a run, also when it fails) writes the dirty shards.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from nnvalues.fingerprint import hash_json
from nnvalues.judge.scoring import Score
from nnvalues.storage import atomic_write_text

CACHE_FORMAT = 1


class JudgeCache:
    def __init__(self, directory: Path | None, flush_every: int = 32, flush_seconds: float = 2.0):
        """`directory` None keeps the cache in memory only (one process, one run)."""
        self.directory = Path(directory) if directory is not None else None
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self._shards: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._puts = 0
        self._last_flush = time.monotonic()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(identity: dict[str, Any], prompt: str, seed: int) -> str:
        return hash_json({"format": CACHE_FORMAT, "judge": identity, "prompt": prompt, "seed": seed})

    def get(self, key: str) -> Score | None:
        raw = self._shard(key[:2]).get(key)
        if raw is None:
            self.misses += 1
            return None
        self.hits += 1
        return Score.from_json(raw)

    def put(self, key: str, score: Score) -> None:
        self._shard(key[:2])[key] = score.to_json()
        self._dirty.add(key[:2])
        self._puts += 1
        if self._puts >= self.flush_every or time.monotonic() - self._last_flush > self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        if self.directory is not None:
            for name in sorted(self._dirty):
                on_disk = self._read(name)
                merged = {**on_disk, **self._shards[name]}
                self._shards[name] = merged
                atomic_write_text(self._path(name), json.dumps(merged, separators=(",", ":")))
        self._dirty.clear()
        self._puts = 0
        self._last_flush = time.monotonic()

    def __len__(self) -> int:
        if self.directory is not None and self.directory.is_dir():
            for path in self.directory.glob("*.json"):
                self._shard(path.stem)
        return sum(len(s) for s in self._shards.values())

    def _shard(self, name: str) -> dict[str, Any]:
        if name not in self._shards:
            self._shards[name] = self._read(name)
        return self._shards[name]

    def _path(self, name: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{name}.json"

    def _read(self, name: str) -> dict[str, Any]:
        if self.directory is None:
            return {}
        try:
            data = json.loads(self._path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # a missing or unreadable shard only costs asking again
        return data if isinstance(data, dict) else {}
