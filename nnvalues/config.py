"""Where nnvalues keeps things and how it uses the machine, overridable by environment."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from nnvalues.errors import UsageError

CACHE_ENV = "NNVALUES_CACHE_DIR"
THREADS_ENV = "NNVALUES_THREADS"
STORE_ENV = "NNVALUES_STORE"
DTYPE_ENV = "NNVALUES_DTYPE"
"""What `--dtype auto` means on the CPU (float32 or bfloat16); unset, the processor decides."""
DTYPE_HELP = ("auto (bfloat16 on a GPU and on CPUs that multiply it natively, else float32), "
              "float32, bfloat16, float16")
DEFAULT_STORE = Path("stores") / "activations.zarr"


def cache_dir() -> Path:
    """User cache (dense model copies, downloads); `NNVALUES_CACHE_DIR` overrides it."""
    if env := os.environ.get(CACHE_ENV):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nnvalues"


def default_store() -> Path:
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


def default_threads() -> int:
    """One thread on small machines, where a second one mostly adds contention."""
    if env := os.environ.get(THREADS_ENV):
        return max(1, int(env))
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(cores // 2, 8)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str) -> str:
    """`device` if torch can use it here, else a one-line error naming the fix."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise UsageError(f"unknown --device {device!r}: use cpu or cuda (cuda:1 for a second GPU)") from None
    if parsed.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"--device {device} is not supported: use cpu or cuda")
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(f"--device {device}: torch sees no CUDA GPU here; use --device cpu")
        if parsed.index is not None and parsed.index >= count:
            raise UsageError(f"--device {device}: torch sees {count} CUDA GPU(s) (cuda:0..cuda:{count - 1})")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {device}: MPS is not available here; use --device cpu")
    return device


def configure_torch(device: str) -> None:
    """Set thread counts for CPU work; GPU work leaves torch's defaults alone."""
    if device == "cpu":
        torch.set_num_threads(default_threads())
