"""Talking to an OpenAI-compatible chat endpoint: requests, keys, failures, concurrency.

The endpoint comes from `--base-url` or `OPENAI_BASE_URL`, the key only from
`OPENAI_API_KEY` (never from the command line, never written anywhere). Retries with
back-off and timeouts are the `openai` client's own. Whatever goes wrong ends as one
EndpointError line; answers that arrived before it are already in the journal.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from nnvalues.errors import NnvaluesError
from nnvalues.fingerprint import hash_json
from nnvalues.generate.journal import Answer, Journal

DEFAULT_MODEL = "gpt-4o"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"


class EndpointError(NnvaluesError):
    """The chat endpoint is unreachable, refuses the key, or rejects the requests."""


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
        return self.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


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
    from openai import OpenAI

    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise EndpointError(f"no API key: set {KEY_ENV} (any non-empty value for a local server)")
    return OpenAI(api_key=key, base_url=endpoint.url, timeout=endpoint.timeout,
                  max_retries=endpoint.max_retries)


def ask(client: Any, endpoint: Endpoint, request: Request) -> Answer:
    """Send one request; every failure becomes an EndpointError that names no secret."""
    import openai

    try:
        response = client.chat.completions.create(
            model=request.model, messages=request.messages, temperature=request.temperature,
            max_tokens=request.max_tokens, seed=request.seed)
    except openai.AuthenticationError:
        raise EndpointError(f"{endpoint.url} rejected the API key (401); check {KEY_ENV}") from None
    except openai.PermissionDeniedError as exc:
        raise EndpointError(f"{endpoint.url} refused the request (403): {server_message(exc)}") from None
    except openai.APITimeoutError:
        raise EndpointError(f"{endpoint.url} did not answer within {endpoint.timeout:g} s "
                            f"(tried {endpoint.max_retries + 1} time(s))") from None
    except openai.APIConnectionError as exc:
        cause = exc.__cause__ or exc
        raise EndpointError(f"cannot reach {endpoint.url} ({one_line(str(cause)) or type(cause).__name__}; "
                            f"tried {endpoint.max_retries + 1} time(s))") from None
    except openai.APIStatusError as exc:
        raise EndpointError(f"{endpoint.url} answered {exc.status_code} for model "
                            f"{request.model!r}: {server_message(exc)}") from None
    except openai.OpenAIError as exc:
        raise EndpointError(f"{endpoint.url}: {one_line(_scrub(str(exc)))}") from None
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


def server_message(exc: Any) -> str:
    """The server's own message, on one line and without anything key-shaped."""
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else body.get("message")
    return one_line(_scrub(str(message or getattr(exc, "message", "") or exc)))


_KEY_LIKE = re.compile(r"\b(?:sk|key)-[A-Za-z0-9_\-*]{4,}")


def _scrub(text: str) -> str:
    """Remove the key (and anything shaped like one) from a server's message."""
    key = os.environ.get(KEY_ENV, "").strip()
    if key:
        text = text.replace(key, "***")
    return _KEY_LIKE.sub("***", text)


def one_line(text: str, size: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 3] + "..."
