"""Judging many prompts over repeated runs, through the cache.

The paper averages 10 independent G-Eval runs per response. Run r is the judge called
with seed r; its judgements are cached one by one as they arrive, so an interrupted or
failed run keeps everything it finished. A Rating is one prompt's scores over the runs,
with their mean and spread; a run with no valid rating is missing, not 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from nnvalues.errors import UsageError
from nnvalues.judge.base import Judge
from nnvalues.judge.cache import JudgeCache
from nnvalues.judge.scoring import Score


@dataclass(frozen=True)
class Rating:
    scores: tuple[Score, ...]
    """One per run."""

    @property
    def values(self) -> list[float]:
        return [s.value for s in self.scores if s.value is not None]

    @property
    def mean(self) -> float | None:
        values = self.values
        return sum(values) / len(values) if values else None

    @property
    def sd(self) -> float | None:
        """Sample standard deviation over the runs with a value (None with fewer than 2)."""
        values = self.values
        if len(values) < 2:
            return None
        mean = sum(values) / len(values)
        return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))

    @property
    def missing_runs(self) -> int:
        return sum(s.value is None for s in self.scores)


def check_runs(judge: Judge, runs: int) -> int:
    if runs < 1:
        raise UsageError(f"judge runs must be at least 1 (got {runs})")
    if runs > 1 and judge.deterministic:
        raise UsageError(f"this judge ({judge.identity.get('kind')}) gives the same answer every "
                         "time: repeated runs would only repeat it; use 1 run")
    return runs


def judge_prompts(judge: Judge, prompts: Sequence[str], *, runs: int = 1,
                  cache: JudgeCache | None = None,
                  on_done: Callable[[int], None] | None = None) -> list[Rating]:
    """One Rating per prompt; only judgements missing from the cache are asked for.

    `on_done(n)` reports progress in judgements (prompts x runs), cached ones included.
    """
    check_runs(judge, runs)
    cache = cache if cache is not None else JudgeCache(None)
    identity = judge.identity
    table: list[list[Score | None]] = [[None] * runs for _ in prompts]
    try:
        for run in range(runs):
            keys = [JudgeCache.key(identity, p, run) for p in prompts]
            todo = []
            for i, key in enumerate(keys):
                held = cache.get(key)
                if held is None:
                    todo.append(i)
                else:
                    table[i][run] = held
            if on_done is not None and len(todo) < len(prompts):
                on_done(len(prompts) - len(todo))

            def arrived(position: int, score: Score, run: int = run, todo: list[int] = todo,
                        keys: list[str] = keys) -> None:
                index = todo[position]
                table[index][run] = score
                cache.put(keys[index], score)
                if on_done is not None:
                    on_done(1)

            if todo:
                returned = judge.score([prompts[i] for i in todo], seed=run, on_score=arrived)
                for position, score in enumerate(returned):  # judges that report only at the end
                    if table[todo[position]][run] is None:
                        arrived(position, score)
    finally:
        cache.flush()
    return [Rating(tuple(s for s in row if s is not None)) for row in table]
