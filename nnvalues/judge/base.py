"""The one interface every judge offers, and how a judge is named on the command line.

A judge turns prompts into Scores for one run (`seed` tells runs apart). What decides its
answers is its `identity`, which keys the cache and is recorded with every result; it never
holds an API key. Judges that always give the same answer (a local model's next-token
distribution) say so with `deterministic`, and repeating them is refused as pointless.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence, runtime_checkable

from nnvalues.errors import UsageError
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


JUDGE_KINDS = ("openai", "local")


def parse_spec(spec: str) -> tuple[str, str]:
    """ "openai:gpt-4o" -> ("openai", "gpt-4o"); "local:smollm2-135m" -> ("local", ...).

    A bare name means an OpenAI-compatible endpoint, as most judges are served that way.
    """
    kind, sep, name = spec.partition(":")
    if not sep:
        kind, name = "openai", spec
    if kind not in JUDGE_KINDS or not name.strip():
        raise UsageError(f"bad judge {spec!r}: use openai:<model> (OpenAI or any compatible "
                         "server) or local:<model> (a local Hugging Face model)")
    return kind, name.strip()


def make_judge(spec: str, **options: Any) -> Judge:
    """A judge from its command-line name; `options` go to the judge's constructor.

    Options that do not apply to the chosen kind are dropped, so one set of command-line
    options serves both kinds.
    """
    kind, name = parse_spec(spec)
    if kind == "local":
        from nnvalues.judge.local import LocalJudge

        wanted = ("template_mode", "batch_size", "device", "dtype")
        return LocalJudge.from_spec(name, **{k: v for k, v in options.items() if k in wanted})
    from nnvalues.judge.remote import OpenAIJudge

    wanted = ("mode", "base_url", "api_key", "samples", "temperature", "max_tokens",
              "top_logprobs", "concurrency", "timeout", "max_retries", "use_batch",
              "batch_dir", "poll_interval")
    return OpenAIJudge(model=name, **{k: v for k, v in options.items() if k in wanted and v is not None})
