"""The generator's requests to an OpenAI-compatible chat endpoint, sent concurrently.

Keys, retries and failures are `nnvalues.openai_client`'s: whatever goes wrong ends as one
EndpointError line, and answers that arrived before it are already in the journal.
"""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from nnvalues.data.generate.journal import Answer, Journal
from nnvalues.fingerprint import hash_json
from nnvalues.openai_client import EndpointError, create, endpoint_url
from nnvalues.openai_client import connect as connect_client

DEFAULT_MODEL = "gpt-4o"
__all__ = ["DEFAULT_MODEL", "Endpoint", "EndpointError", "Request", "ask", "connect", "send_all"]


@dataclass(frozen=True)
class Endpoint:
    """Where requests go and how patiently; the key is read from the environment."""

    model: str = DEFAULT_MODEL
    base_url: str | None = None
    timeout: float = 60.0
    max_retries: int = 2
    temperature: float = 1.0
    max_tokens: int = 4096
    seed: int = 0

    @property
    def url(self) -> str:
        return endpoint_url(self.base_url)


@dataclass(frozen=True)
class Request:
    """One chat request; `meta` says what it is for and is not part of its identity."""

    stage: str
    prompt: str
    model: str
    temperature: float
    max_tokens: int
    seed: int
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def make(cls, stage: str, prompt: str, endpoint: Endpoint, **meta: Any) -> "Request":
        return cls(stage, prompt, endpoint.model, endpoint.temperature, endpoint.max_tokens,
                   endpoint.seed, meta)

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.prompt}]

    @property
    def key(self) -> str:
        """The journal key: everything that decides the answer, and nothing else."""
        return hash_json({"model": self.model, "messages": self.messages,
                          "temperature": self.temperature, "max_tokens": self.max_tokens,
                          "seed": self.seed})


def connect(endpoint: Endpoint) -> Any:
    """An `openai.OpenAI` client, or an EndpointError when there is no key to give it."""
    return connect_client(endpoint.base_url, timeout=endpoint.timeout,
                          max_retries=endpoint.max_retries)


def ask(client: Any, endpoint: Endpoint, request: Request) -> Answer:
    """Send one request; every failure becomes an EndpointError that names no secret."""
    response = create(client, {"model": request.model, "messages": request.messages,
                               "temperature": request.temperature,
                               "max_tokens": request.max_tokens, "seed": request.seed})
    choice = response.choices[0] if response.choices else None
    usage = response.usage
    return Answer(
        text=(choice.message.content or "") if choice else "",
        finish_reason=choice.finish_reason if choice else None,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )


def send_all(
    requests: Iterable[Request],
    endpoint: Endpoint,
    journal: Journal,
    *,
    concurrency: int,
    client: Any,
    on_answer: Callable[[Request, Answer], None] | None = None,
) -> dict[str, Answer]:
    """Send requests `concurrency` at a time, journalling each answer as it arrives.

    The first failure stops the run: queued requests are cancelled, the ones in flight
    finish (and are journalled, since they are paid for), then the error is raised.
    """
    pending = list({r.key: r for r in requests}.values())
    answers: dict[str, Answer] = {}
    if not pending:
        return answers

    def work(request: Request) -> Answer:
        answer = ask(client, endpoint, request)
        journal.record(request.key, answer, {"stage": request.stage, "model": request.model})
        return answer

    executor = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="nnvalues-gen")
    try:
        futures: dict[Future[Answer], Request] = {executor.submit(work, r): r for r in pending}
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, return_when=FIRST_EXCEPTION)
            for future in done:
                request = futures[future]
                answer = future.result()  # raises the first EndpointError
                answers[request.key] = answer
                if on_answer:
                    on_answer(request, answer)
    except BaseException:
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
    return answers
