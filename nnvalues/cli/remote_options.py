"""The options that send a command's model work to NDIF, shared by every such command."""

from __future__ import annotations

from typing import Optional

import typer

from nnvalues.execution import DEFAULT_BATCHES_PER_REQUEST, Execution
from nnvalues.remote.policy import RetryPolicy

REMOTE = typer.Option(
    False, "--remote",
    help="Run on NDIF; --model is a repo NDIF hosts. API key: NDIF_API_KEY or nnsight's config.")
NDIF_HOST = typer.Option(
    None, help="NDIF API URL of a self-hosted server; implies --remote (default: NDIF_HOST "
               "or nnsight's config, else https://api.ndif.us).")
BATCHES_PER_REQUEST = typer.Option(
    DEFAULT_BATCHES_PER_REQUEST, help="Remote: batches sent together in one NDIF request.")
REMOTE_DEADLINE = typer.Option(
    RetryPolicy.deadline, help="Remote: seconds one NDIF request may take, retries included.")


def execution_from(remote: bool, ndif_host: Optional[str], remote_deadline: float,
                   batches_per_request: int = DEFAULT_BATCHES_PER_REQUEST) -> Execution:
    """Local unless --remote or --ndif-host was given."""
    return Execution(
        "remote" if remote or ndif_host else "local", host=ndif_host,
        batches_per_request=batches_per_request, policy=RetryPolicy(deadline=remote_deadline),
    )
