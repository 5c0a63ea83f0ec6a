"""User-facing errors: each carries one line that the CLI prints before exiting non-zero."""

from __future__ import annotations


class NnvaluesError(Exception):
    """Base class: the message is complete and meant for the person running the command."""

    exit_code = 1


class UsageError(NnvaluesError):
    """Bad input from the user: an unknown name, a malformed file, an impossible option."""

    exit_code = 2


class ModelError(NnvaluesError):
    """A model that cannot be found, loaded or understood."""


class StoreError(NnvaluesError):
    """A store that is missing, foreign, or incompatible with what was asked."""
