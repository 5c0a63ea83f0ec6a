"""Content fingerprints, so that a store can say exactly which inputs produced it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def hash_json(value: Any) -> str:
    """sha256 of a canonical JSON rendering (sorted keys, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_file(path: Path) -> str:
    """sha256 of a file's bytes, memoised next to the cache by size and mtime."""
    stat = path.stat()
    memo_key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    memo = _memo_path()
    known = _read_memo(memo)
    if memo_key in known:
        return known[memo_key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    known[memo_key] = digest.hexdigest()
    _write_memo(memo, known)
    return known[memo_key]


def hash_directory(path: Path) -> str:
    """sha256 over a model directory's files (names and content hashes, sorted)."""
    parts = {
        str(f.relative_to(path)): hash_file(f)
        for f in sorted(path.rglob("*"))
        if f.is_file() and not f.name.startswith(".")
    }
    return hash_json(parts)


def _memo_path() -> Path:
    from nnvalues.config import cache_dir

    return cache_dir() / "file-hashes.json"


def _read_memo(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_memo(path: Path, known: dict[str, str]) -> None:
    from nnvalues.storage import atomic_write_text

    try:
        atomic_write_text(path, json.dumps(known, indent=0))
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
