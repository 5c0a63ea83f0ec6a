"""Which floating-point type a model runs in when the user says `--dtype auto`.

On a GPU that is bfloat16. On a CPU it is bfloat16 only where the processor multiplies it
natively (x86 AVX-512 BF16 or AMX, Arm BF16): there a matmul runs 2.5-4x faster than in
float32. Elsewhere torch emulates bfloat16 through float32, which is slower than float32
itself, so auto stays with float32. What the flags promise is confirmed once per machine by
a timed matmul probe whose verdict is cached; `NNVALUES_DTYPE` overrides the choice.
Whatever the model's dtype, the reductions nnvalues computes accumulate in float32.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from nnvalues.config import DTYPE_ENV, cache_dir
from nnvalues.errors import ModelError
from nnvalues.storage import atomic_write_text

DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
PROBE_SIZE = 512
PROBE_MIN_SPEEDUP = 1.5
"""bfloat16 must multiply at least this much faster than float32 to be chosen."""
PROBE_FORMAT = 1


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """The torch dtype for `dtype` ("auto" or a name) on `device`."""
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16
        return _dtype_named(os.environ.get(DTYPE_ENV) or cpu_auto_dtype(), DTYPE_ENV)
    return _dtype_named(dtype, "--dtype")


def _dtype_named(name: str, where: str) -> torch.dtype:
    resolved = getattr(torch, name, None) if name in DTYPE_CHOICES[1:] else None
    if resolved is None:
        raise ModelError(f"unknown dtype {name!r} in {where}; use "
                         f"{', '.join(DTYPE_CHOICES if where == '--dtype' else DTYPE_CHOICES[1:])}")
    return resolved


def native_bf16_flags() -> bool | None:
    """What the processor's flags say about native bfloat16 dot products (None: unknown)."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i386", "i686"):
        capabilities = _torch_capabilities()
        if capabilities:
            return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))
        flags = _cpuinfo_words("flags")
        return None if flags is None else bool({"avx512_bf16", "amx_bf16"} & flags)
    if machine in ("aarch64", "arm64"):
        features = _cpuinfo_words("Features")
        return True if features and "bf16" in features else None
    return None


def cpu_auto_dtype() -> str:
    """"bfloat16" where the flags allow it and the cached probe confirms it, else "float32"."""
    if native_bf16_flags() is False:
        return "float32"
    return "bfloat16" if probe_verdict()["bfloat16"] else "float32"


def probe_verdict() -> dict[str, Any]:
    """The probe's result for this machine, measured once and cached in the user cache."""
    identity = machine_identity()
    path = cache_dir() / "cpu-dtype.json"
    try:
        held = json.loads(path.read_text())
        if held.get("machine") == identity:
            return held
    except (OSError, ValueError):
        pass
    verdict = {"machine": identity, **time_matmuls()}
    verdict["bfloat16"] = verdict["speedup"] >= PROBE_MIN_SPEEDUP
    _write_quietly(path, verdict)
    return verdict


def time_matmuls(size: int = PROBE_SIZE, repeats: int = 3) -> dict[str, float]:
    """GFLOP/s of a square matmul in float32 and in bfloat16 (best of `repeats`)."""
    rates = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(size, size).to(dtype)
        b = torch.randn(size, size).to(dtype)
        a @ b  # the first call sets up the kernel
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
        rates[str(dtype).removeprefix("torch.")] = 2 * size**3 / best / 1e9
    return {"float32_gflops": rates["float32"], "bfloat16_gflops": rates["bfloat16"],
            "speedup": rates["bfloat16"] / rates["float32"]}


def machine_identity() -> dict[str, Any]:
    """What decides the probe's verdict: the processor, its flags and torch."""
    capabilities = _torch_capabilities()
    return {"machine": platform.machine(), "processor": str(capabilities.get("cpu_name") or
                                                            platform.processor()),
            "capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16_flags": native_bf16_flags(), "torch": torch.__version__,
            "format": PROBE_FORMAT}


def _torch_capabilities() -> dict[str, Any]:
    getter = getattr(torch.cpu, "get_capabilities", None)
    try:
        return dict(getter()) if getter else {}
    except Exception:  # an older torch or an unknown processor: fall back to /proc/cpuinfo
        return {}


def _cpuinfo_words(field: str) -> set[str] | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == field:
            return set(value.split())
    return None


def _write_quietly(path: Path, verdict: dict[str, Any]) -> None:
    """A cache that cannot be written only means probing again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(verdict, indent=1))
    except OSError:
        pass
