"""One-line messages for what can go wrong on NDIF.

The server reports a failed job with its Python traceback; the person running nnvalues
needs its last line (the exception and its message), not the frames above it.
"""

from __future__ import annotations

from nnvalues.errors import NnvaluesError

DEPLOY_FAILURES = ("Could not deploy this model.", "Error provisioning model.",
                   "Error starting model.")
"""How NDIF's queue says that it could not bring a model up (unknown, gated, too large,
or failing to load); anything after the first sentence is the controller's reason."""
GENERIC_TAIL = "Please try again later. Sorry for the inconvenience."


class NdifError(NnvaluesError):
    """A remote run that could not be sent, was refused, failed on the server or timed out."""


def server_message(description: str | None) -> str:
    """The last meaningful line of a server-side error description, on one line."""
    lines = [line.strip() for line in (description or "").splitlines() if line.strip()]
    if not lines:
        return "the server gave no reason"
    # A traceback ends with "ExceptionType: message"; skip frames and source lines.
    for line in reversed(lines):
        if not line.startswith(("File ", "^", "~", "Traceback ")):
            return " ".join(line.split())
    return " ".join(lines[-1].split())


def job_failed(description: str | None, host: str, model: str) -> NdifError:
    """The error for a job the server answered with ERROR."""
    text = " ".join((description or "").split())
    for failure in DEPLOY_FAILURES:
        if text.startswith(failure):
            reason = text[len(failure):].replace(GENERIC_TAIL, "").strip()
            why = f": {reason}" if reason else " (it failed to load there)"
            return NdifError(f"NDIF at {host} cannot serve {model}{why}; check that NDIF hosts "
                             "it (`python -c 'import nnsight; print(nnsight.status())'`)")
    return NdifError(f"the NDIF job failed on the server: {server_message(description)}")
