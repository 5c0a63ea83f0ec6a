"""A G-Eval judge behind OpenAI or any OpenAI-compatible server.

Two modes:
- `logprobs`: one request per prompt (max_tokens 1, temperature 0, top_logprobs 20); the
  score is the probability-weighted rating over the top tokens (paper eq. 7), and the mass
  that fell on valid ratings is kept.
- `sampling`: `samples` answers at `temperature`, as the reference G-Eval code does; each
  is parsed, and unparseable ones are missing. A server that refuses n > 1 (llama.cpp)
  gets n separate requests with distinct seeds instead.
Requests run `concurrency` at a time on threads. With `use_batch`, all of a run's requests
go through OpenAI's Batch API instead (see `batch_api`).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from nnvalues.errors import UsageError
from nnvalues.judge.base import OnScore
from nnvalues.openai_client import EndpointError, RequestRejected, connect, create, endpoint_url
from nnvalues.judge.prompts import RATINGS
from nnvalues.judge.scoring import Score, from_samples, from_top_logprobs

MODES = ("logprobs", "sampling")
DEFAULT_JUDGE_MODEL = "gpt-4o"


_JUDGE = {"purpose": "the judge",
          "rate_hint": "lower --judge-concurrency or rerun later (finished judgements are cached)"}

@dataclass
class OpenAIJudge:
    model: str = DEFAULT_JUDGE_MODEL
    mode: str = "logprobs"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    samples: int = 20
    temperature: float = 2.0
    """Sampling temperature (sampling mode); G-Eval's reference code uses 2 with n = 20."""
    max_tokens: int = 5
    top_logprobs: int = 20
    concurrency: int = 4
    timeout: float = 60.0
    max_retries: int = 2
    use_batch: bool = False
    batch_dir: Path | None = None
    """Where pending Batch API jobs are remembered, so a rerun collects instead of resubmitting."""
    poll_interval: float = 30.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"unknown judge mode {self.mode!r}; choose from {', '.join(MODES)}")
        for name, low in (("samples", 1), ("concurrency", 1), ("max_tokens", 1), ("top_logprobs", 1)):
            if int(getattr(self, name)) < low:
                raise UsageError(f"judge {name} must be at least {low} (got {getattr(self, name)})")
        if not self.temperature >= 0:
            raise UsageError(f"judge temperature must be >= 0 (got {self.temperature})")
        self.client = connect(self.base_url, self.api_key, timeout=self.timeout,
                              max_retries=self.max_retries, purpose="the judge",
                              hint="judge offline with --judge local:<model>")
        self.api_key = None  # the client holds it; nothing else should
        self._split_samples = False

    @property
    def url(self) -> str:
        return endpoint_url(self.base_url)

    @property
    def identity(self) -> dict[str, Any]:
        if self.mode == "logprobs":
            return {"kind": "openai", "model": self.model, "mode": "logprobs",
                    "top_logprobs": self.top_logprobs}
        return {"kind": "openai", "model": self.model, "mode": "sampling", "samples": self.samples,
                "temperature": self.temperature, "max_tokens": self.max_tokens}

    @property
    def deterministic(self) -> bool:
        return False  # remote endpoints vary between calls, even at temperature 0

    def request_body(self, prompt: str, seed: int, n: int | None = None) -> dict[str, Any]:
        """The chat-completion request for one prompt (the Batch API sends the same body)."""
        body: dict[str, Any] = {"model": self.model,
                                "messages": [{"role": "user", "content": prompt}], "seed": seed}
        if self.mode == "logprobs":
            body.update(max_tokens=1, temperature=0, logprobs=True, top_logprobs=self.top_logprobs)
        else:
            body.update(max_tokens=self.max_tokens, temperature=self.temperature)
            count = self.samples if n is None else n
            if count > 1:
                body["n"] = count
        return body

    def score_response(self, response: Any) -> Score:
        """A Score from one chat completion (an object of the openai client, or its dict)."""
        data = response if isinstance(response, dict) else response.model_dump()
        choices = data.get("choices") or []
        if self.mode == "sampling":
            return from_samples([(c.get("message") or {}).get("content") or "" for c in choices])
        first = choices[0] if choices else {}
        content = ((first.get("logprobs") or {}).get("content")) or []
        if not content or not content[0].get("top_logprobs"):
            raise EndpointError(f"{self.url} returned no logprobs for judge model {self.model!r}: "
                                "use --judge-mode sampling with this endpoint")
        entries = [(e["token"], e["logprob"]) for e in content[0]["top_logprobs"]]
        answer = (first.get("message") or {}).get("content") or ""
        return from_top_logprobs(entries, RATINGS, answer)

    def score(self, prompts: Sequence[str], seed: int = 0,
              on_score: OnScore | None = None) -> list[Score]:
        if not prompts:
            return []
        if self.use_batch:
            from nnvalues.judge.batch_api import score_with_batch

            return score_with_batch(self, prompts, seed, on_score)
        return self._score_concurrently(prompts, seed, on_score)

    def _score_one(self, prompt: str, seed: int) -> Score:
        if self.mode == "sampling" and self.samples > 1 and not self._split_samples:
            try:
                return self.score_response(create(self.client, self.request_body(prompt, seed), **_JUDGE))
            except RequestRejected:
                self._split_samples = True  # e.g. llama.cpp allows n = 1 only; try once more split
        if self.mode == "sampling" and self._split_samples:
            texts: list[str] = []
            for j in range(self.samples):
                body = self.request_body(prompt, seed * self.samples + j, n=1)
                response = create(self.client, body, **_JUDGE)
                texts.extend((c.message.content or "") for c in response.choices)
            return from_samples(texts)
        return self.score_response(create(self.client, self.request_body(prompt, seed), **_JUDGE))

    def _score_concurrently(self, prompts: Sequence[str], seed: int,
                            on_score: OnScore | None) -> list[Score]:
        """Up to `concurrency` prompts in flight. The first failure cancels the queue; the
        answers already in flight still reach `on_score` (they are paid for), then it is raised."""
        results: list[Score | None] = [None] * len(prompts)
        failure: BaseException | None = None
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="nnvalues-judge") as pool:
            futures: dict[Future[Score], int] = {pool.submit(self._score_one, p, seed): i
                                                 for i, p in enumerate(prompts)}
            try:
                for future in as_completed(futures):
                    if future.cancelled():
                        continue
                    if future.exception() is not None:
                        if failure is None:
                            failure = future.exception()
                            for other in futures:
                                other.cancel()
                        continue
                    index = futures[future]
                    results[index] = future.result()
                    if on_score is not None:
                        on_score(index, future.result())
            except BaseException:
                for other in futures:
                    other.cancel()
                raise
        if failure is not None:
            raise failure
        return [r for r in results if r is not None]
