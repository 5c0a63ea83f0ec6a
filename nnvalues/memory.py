"""Give freed memory back to the operating system between batches.

Batches of different lengths leave glibc's heap fragmented: without this, the resident size
of a long `locate` creeps up with the number of batches even though nothing is kept.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_freed_memory() -> None:
    """malloc_trim(0) where glibc provides it; nothing elsewhere."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
