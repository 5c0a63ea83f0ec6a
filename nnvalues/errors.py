"""User-facing errors: each carries one line that the CLI prints before exiting non-zero."""

from __future__ import annotations

import re


class NnvaluesError(Exception):
    """Base class: the message is complete and meant for the person running the command."""

    exit_code = 1


class UsageError(NnvaluesError, ValueError):
    """Bad input from the user: an unknown name, a malformed file, an impossible option.

    Also a ValueError, so code that guards against bad values catches it. Messages name
    Python parameters in backticks (`top_k`); the command line shows them as flags.
    """

    exit_code = 2


class ModelError(NnvaluesError):
    """A model that cannot be found, loaded or understood."""


class StoreError(NnvaluesError):
    """A store that is missing, foreign, or incompatible with what was asked."""


_PARAMETER = re.compile(r"`([a-z][a-z0-9_]*)`")


def as_flags(message: str) -> str:
    """A library message with its `parameter` names written as command-line flags."""
    return _PARAMETER.sub(lambda m: "--" + m.group(1).replace("_", "-"), message)


_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
_SECRET_QUERY = re.compile(r"([?&](?:api[_-]?key|key|token|access_token|password|secret)=)[^&\s]+",
                           re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with credentials inside URLs (user:password@, ?key=...) replaced by ***."""
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", text))
