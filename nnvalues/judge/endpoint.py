"""Calling an OpenAI-compatible chat endpoint for a judge: the client, and failures as one line.

The key comes from the `api_key` argument (Python API) or `OPENAI_API_KEY`, never from the
command line, and is never written anywhere; the endpoint from `base_url` or
`OPENAI_BASE_URL`. Retries with back-off (429, 5xx, connection errors) and timeouts are
the openai client's own; what still fails becomes an EndpointError naming no secret.
"""

from __future__ import annotations

import os
from typing import Any

from nnvalues.generate.client import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    KEY_ENV,
    EndpointError,
    one_line,
    server_message,
)

__all__ = ["EndpointError", "RequestRejected", "connect", "create", "endpoint_url"]


class RequestRejected(EndpointError):
    """The endpoint refused the request itself (400/422), e.g. a server that allows no n > 1."""


def endpoint_url(base_url: str | None) -> str:
    return base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def connect(base_url: str | None, api_key: str | None, timeout: float, max_retries: int) -> Any:
    """An `openai.OpenAI` client; an EndpointError at once when there is no key to give it."""
    from openai import OpenAI

    key = (api_key or os.environ.get(KEY_ENV, "")).strip()
    if not key:
        raise EndpointError(f"no API key for the judge: set {KEY_ENV} (any non-empty value for a "
                            "local server), or judge offline with --judge local:<model>")
    return OpenAI(api_key=key, base_url=endpoint_url(base_url), timeout=timeout,
                  max_retries=max_retries)


def create(client: Any, body: dict[str, Any]) -> Any:
    """One chat completion; every failure becomes an EndpointError of one line."""
    import openai

    url = str(client.base_url).rstrip("/")
    retries = client.max_retries
    try:
        return client.chat.completions.create(**body)
    except openai.AuthenticationError:
        raise EndpointError(f"{url} rejected the API key (401); check {KEY_ENV}") from None
    except openai.RateLimitError as exc:
        raise EndpointError(f"{url} rate-limited the judge (429) after {retries} retries: "
                            f"{server_message(exc)}; lower --judge-concurrency or rerun later (finished "
                            "judgements are cached)") from None
    except openai.APITimeoutError:
        raise EndpointError(f"{url} did not answer within {client.timeout} s ({retries} retries)") from None
    except openai.APIConnectionError as exc:
        cause = exc.__cause__ or exc
        raise EndpointError(f"cannot reach the judge at {url} ({one_line(str(cause)) or type(cause).__name__}; "
                            f"{retries} retries)") from None
    except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
        raise RequestRejected(f"{url} rejected the request ({exc.status_code}) for judge model "
                              f"{body.get('model')!r}: {server_message(exc)}") from None
    except openai.APIStatusError as exc:
        raise EndpointError(f"{url} answered {exc.status_code} for judge model {body.get('model')!r}: "
                            f"{server_message(exc)}") from None
    except openai.OpenAIError as exc:
        raise EndpointError(f"{url}: {one_line(server_message(exc))}") from None
