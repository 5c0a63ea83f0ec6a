"""Crash-safe file writes: readers see the old content or the new one, never a torn file."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def replace_directory(staged: Path, final: Path) -> None:
    """Move a fully written directory into place; an older one is removed only afterwards."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        retired = final.with_name(f".{final.name}.retired")
        shutil.rmtree(retired, ignore_errors=True)
        os.replace(final, retired)
        os.replace(staged, final)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staged, final)


def save_checkpoint(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Running totals and the settings they belong to, as one atomically written .npz."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, meta=np.array(json.dumps(meta, sort_keys=True)))
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files if name != "meta"}
        meta = json.loads(str(data["meta"]))
    return arrays, meta
