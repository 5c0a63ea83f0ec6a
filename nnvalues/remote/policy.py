"""How hard a remote run tries (deadline, retries, backoff, polling) and what it costs.

Kept apart from the backend so that choosing options does not import nnsight or httpx.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

StatusCallback = Callable[[str, str], None]
"""Called with (status name, the server's description) when a job's status changes."""


@dataclass(frozen=True)
class RetryPolicy:
    deadline: float = 900.0
    """Seconds one request may take, from submission to result, retries included."""
    retries: int = 4
    """Further tries after a transient failure (per submission, and per poll streak)."""
    backoff: float = 1.0
    """First wait after a transient failure; doubles each time (with jitter)."""
    backoff_max: float = 30.0
    poll_first: float = 0.05
    poll_max: float = 2.0
    connect_timeout: float = 10.0

    def pause(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff * 2 ** attempt) * random.uniform(0.5, 1.0)


@dataclass
class RequestMeter:
    """What a run cost in requests and bytes, for progress lines and benchmarks."""

    requests: int = 0
    """Jobs the server accepted (one per trace or session sent)."""
    attempts: int = 0
    """Submissions tried, retries included."""
    polls: int = 0
    bytes_sent: int = 0
    """Request payloads (serialised, compressed) as sent."""
    bytes_received: int = 0
    """Result payloads as received, before decompression."""

    def snapshot(self) -> dict[str, int]:
        return dict(vars(self))

    def describe(self) -> str:
        return (f"{self.requests} request{'s' if self.requests != 1 else ''}, "
                f"{_size(self.bytes_sent)} sent, {_size(self.bytes_received)} received")


def _size(count: int) -> str:
    for unit in ("B", "kB", "MB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"
