"""The one way nnvalues talks to an OpenAI-compatible chat endpoint (the judge and the data
generator both use it): the client, the key, and every failure as one line.

The endpoint comes from `base_url` or `OPENAI_BASE_URL`, the key from the `api_key`
argument (Python API) or `OPENAI_API_KEY` - never from the command line, never written
anywhere. Retries with back-off (429, 5xx, connection errors) and timeouts are the openai
client's own; what still fails becomes an EndpointError that names no secret.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import Any, Iterator

from nnvalues.errors import NnvaluesError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"


class EndpointError(NnvaluesError):
    """The chat endpoint is unreachable, refuses the key, or rejects the requests."""


class RequestRejected(EndpointError):
    """The endpoint refused the request itself (400/422), e.g. a server that allows no n > 1."""


def endpoint_url(base_url: str | None) -> str:
    return base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def connect(base_url: str | None, api_key: str | None = None, *, timeout: float = 60.0,
            max_retries: int = 2, purpose: str = "", hint: str = "") -> Any:
    """An `openai.OpenAI` client; an EndpointError at once when there is no key to give it.

    `purpose` ("the judge") and `hint` ("judge offline with ...") complete the messages.
    """
    from openai import OpenAI

    key = (api_key or os.environ.get(KEY_ENV, "")).strip()
    if not key:
        raise EndpointError(f"no API key{' for ' + purpose if purpose else ''}: set {KEY_ENV} "
                            f"(any non-empty value for a local server){', or ' + hint if hint else ''}")
    return OpenAI(api_key=key, base_url=endpoint_url(base_url), timeout=timeout,
                  max_retries=max_retries)


def create(client: Any, body: dict[str, Any], *, purpose: str = "", rate_hint: str = "") -> Any:
    """One chat completion; every failure becomes an EndpointError of one line."""
    with endpoint_errors(client, body.get("model"), purpose=purpose, rate_hint=rate_hint):
        return client.chat.completions.create(**body)


@contextmanager
def endpoint_errors(client: Any, model: str | None, *, purpose: str = "",
                    rate_hint: str = "") -> Iterator[None]:
    """Every failure of the openai client inside the block as one EndpointError line."""
    import openai

    url = str(client.base_url).rstrip("/")
    tries = f"tried {client.max_retries + 1} time(s)"
    try:
        yield
    except openai.AuthenticationError:
        raise EndpointError(f"{url} rejected the API key (401); check {KEY_ENV}") from None
    except openai.PermissionDeniedError as exc:
        raise EndpointError(f"{url} refused the request (403): {server_message(exc)}") from None
    except openai.RateLimitError as exc:
        raise EndpointError(f"{url} rate-limited {purpose or 'the requests'} (429), {tries}: "
                            f"{server_message(exc)}{'; ' + rate_hint if rate_hint else ''}") from None
    except openai.APITimeoutError:
        raise EndpointError(f"{url} did not answer within {client.timeout} s ({tries})") from None
    except openai.APIConnectionError as exc:
        cause = exc.__cause__ or exc
        where = f"{purpose} at {url}" if purpose else url
        raise EndpointError(f"cannot reach {where} ({one_line(str(cause)) or type(cause).__name__}; "
                            f"{tries})") from None
    except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
        raise RequestRejected(f"{url} rejected the request ({exc.status_code}) for model "
                              f"{model!r}: {server_message(exc)}") from None
    except openai.APIStatusError as exc:
        raise EndpointError(f"{url} answered {exc.status_code} for model {model!r}: "
                            f"{server_message(exc)}") from None
    except openai.OpenAIError as exc:
        raise EndpointError(f"{url}: {one_line(scrub(str(exc)))}") from None


def server_message(exc: Any) -> str:
    """The server's own message, on one line and without anything key-shaped."""
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else body.get("message")
    return one_line(scrub(str(message or getattr(exc, "message", "") or exc)))


_KEY_LIKE = re.compile(r"\b(?:sk|key)-[A-Za-z0-9_\-*]{4,}")


def scrub(text: str) -> str:
    """Remove the key (and anything shaped like one) from a server's message."""
    key = os.environ.get(KEY_ENV, "").strip()
    if key:
        text = text.replace(key, "***")
    return _KEY_LIKE.sub("***", text)


def one_line(text: str, size: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 3] + "..."
