"""Crash-safe file writes: readers see the old content or the new one, never a torn file."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from nnvalues.errors import UsageError

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data`; a new file gets the mode the umask gives (not 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        mode = 0o666 & ~current_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_output_file(path: Path, option: str) -> Path:
    """Refuse an output path that is a folder, or lies under a file, before any work."""
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder: give a file path")
    blocker = next((p for p in path.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise UsageError(f"{option} {path}: {blocker} is a file, not a folder")
    return path


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
