"""Judging through OpenAI's Batch API: half the price, results within 24 hours.

A run's requests become one JSONL file (one chat-completion body per line, the same body
the direct route sends), uploaded with `files.create(purpose="batch")` and started with
`batches.create`; the batch is polled until it ends and its output file read back. The
batch id is remembered in `batch_dir` under the hash of the request file, so a rerun after
an interruption collects the running batch instead of paying for a second one.
Only OpenAI itself offers this endpoint; OpenAI-compatible servers such as llama.cpp do not.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from nnvalues.judge.base import OnScore
from nnvalues.openai_client import EndpointError, endpoint_errors
from nnvalues.judge.scoring import Score
from nnvalues.storage import atomic_write_text

if TYPE_CHECKING:
    from nnvalues.judge.openai_judge import OpenAIJudge

BATCH_URL = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
FINISHED = ("completed", "failed", "expired", "cancelled")


def custom_id(index: int, seed: int) -> str:
    return f"prompt-{index}-run-{seed}"


def request_lines(bodies: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """The Batch API input file: one {"custom_id", "method", "url", "body"} object per line."""
    return "".join(json.dumps({"custom_id": cid, "method": "POST", "url": BATCH_URL, "body": body},
                              ensure_ascii=False, sort_keys=True) + "\n" for cid, body in bodies)


def parse_output(text: str) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The Batch API output (or error) file: custom_id -> response body, custom_id -> error."""
    bodies: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            cid = row["custom_id"]
        except (ValueError, KeyError, TypeError):
            raise EndpointError(f"line {number} of the batch output is not a batch result") from None
        response = row.get("response") or {}
        status = response.get("status_code")
        if row.get("error") or status != 200 or not isinstance(response.get("body"), dict):
            error = row.get("error") or (response.get("body") or {}).get("error") or {}
            message = error.get("message") if isinstance(error, dict) else str(error)
            errors[cid] = f"{status or 'no status'}: {message or 'no message'}"
        else:
            bodies[cid] = response["body"]
    return bodies, errors


def score_with_batch(judge: "OpenAIJudge", prompts: Sequence[str], seed: int,
                     on_score: OnScore | None = None,
                     sleep: Callable[[float], None] = time.sleep) -> list[Score]:
    """Scores of one run through a batch; requests that failed end in one EndpointError,
    after the ones that succeeded have been handed to `on_score`."""
    ids = [custom_id(i, seed) for i in range(len(prompts))]
    text = request_lines([(cid, judge.request_body(p, seed)) for cid, p in zip(ids, prompts)])
    state = _state_file(judge.batch_dir, text)
    with endpoint_errors(judge.client, judge.model, purpose="the judge"):
        batch = _resume_or_submit(judge.client, text, state)
        while batch.status not in FINISHED:
            sleep(judge.poll_interval)
            batch = judge.client.batches.retrieve(batch.id)
        output = _read_file(judge.client, getattr(batch, "output_file_id", None))
        failed = _read_file(judge.client, getattr(batch, "error_file_id", None))
    bodies, errors = parse_output(output)
    errors.update(parse_output(failed)[1])
    scores: list[Score | None] = [None] * len(prompts)
    for index, cid in enumerate(ids):
        if cid in bodies:
            scores[index] = judge.score_response(bodies[cid])
            if on_score is not None:
                on_score(index, scores[index])  # type: ignore[arg-type]
    if state is not None and batch.status == "completed":
        state.unlink(missing_ok=True)
    lost = [cid for cid in ids if cid not in bodies]
    if lost:
        if state is not None:
            state.unlink(missing_ok=True)  # what is left must be sent again, in a new batch
        first = errors.get(lost[0], f"the batch ended {batch.status}")
        raise EndpointError(f"{len(lost)} of {len(ids)} judge requests in batch {batch.id} failed "
                            f"(first: {first}); rerun to send them again")
    return [s for s in scores if s is not None]


def _state_file(directory: Path | None, text: str) -> Path | None:
    if directory is None:
        return None
    return Path(directory) / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"


def _resume_or_submit(client: Any, text: str, state: Path | None) -> Any:
    if state is not None and state.is_file():
        try:
            return client.batches.retrieve(json.loads(state.read_text())["batch_id"])
        except (ValueError, KeyError):
            state.unlink(missing_ok=True)
    upload = client.files.create(file=("nnvalues-judge.jsonl", text.encode("utf-8")), purpose="batch")
    batch = client.batches.create(input_file_id=upload.id, endpoint=BATCH_URL,
                                  completion_window=COMPLETION_WINDOW,
                                  metadata={"purpose": "nnvalues judge"})
    if state is not None:
        atomic_write_text(state, json.dumps({"batch_id": batch.id, "input_file_id": upload.id}))
    return batch


def _read_file(client: Any, file_id: str | None) -> str:
    return client.files.content(file_id).text if file_id else ""
