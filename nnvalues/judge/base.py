"""The one interface every judge offers.

A judge turns prompts into Scores for one run (`seed` tells runs apart). What decides its
answers is its `identity`, which keys the cache and is recorded with every result; it never
holds an API key. Judges that always give the same answer (a local model's next-token
distribution) say so with `deterministic`, and repeating them is refused as pointless.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence, runtime_checkable

from nnvalues.judge.scoring import Score

OnScore = Callable[[int, Score], None]
"""Called with (index into the prompts, score) as each judgement arrives."""


@runtime_checkable
class Judge(Protocol):
    @property
    def identity(self) -> dict[str, Any]:
        """Everything that decides the judge's answers (no secrets, no endpoint address)."""
        ...

    @property
    def deterministic(self) -> bool:
        ...

    def score(self, prompts: Sequence[str], seed: int = 0,
              on_score: OnScore | None = None) -> list[Score]:
        """One Score per prompt, in order; `on_score` sees each one as soon as it is known."""
        ...
