"""An nnsight backend that submits a request to NDIF, then polls it within a deadline.

nnsight's own blocking backend holds a websocket open with no overall deadline and no
retries. This one submits without a websocket (the server then records every status for
polling), polls with a growing interval until the job completes, fails or the deadline
passes, retries connection errors and 429/5xx answers with exponential backoff, reports
each status change (RECEIVED, QUEUED, ..., RUNNING), and meters what travels. It returns
the saved values exactly as the blocking backend does, so a session or trace using it reads
like any other.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import httpx
from nnsight.intervention.backends.remote import RemoteBackend
from nnsight.schema.request import RequestModel
from nnsight.schema.response import ResponseModel, Status

from nnvalues.remote.errors import NdifError, job_failed, server_message
from nnvalues.remote.policy import RequestMeter, RetryPolicy, StatusCallback

TRANSIENT_STATUS = {429, 500, 502, 503, 504}


class _Transient(Exception):
    """A failure worth retrying; carries the one-line reason."""


class PollingBackend(RemoteBackend):
    """Submit, then poll `/response/{id}` until COMPLETED/ERROR or the deadline."""

    def __init__(self, model_key: str, *, host: str, api_key: str | None, label: str,
                 env: dict[str, Any] | None = None, policy: RetryPolicy = RetryPolicy(),
                 meter: RequestMeter | None = None, on_status: StatusCallback | None = None):
        super().__init__(model_key, host=host, api_key=api_key, env=env, blocking=True)
        self.display.enabled = False  # progress goes through on_status instead
        self.label = label
        """The model as the user named it, for messages."""
        self.policy = policy
        self.meter = meter if meter is not None else RequestMeter()
        self.on_status = on_status

    # nnsight's blocking __call__ calls request() and pushes the result into the caller's frame.
    def request(self, request: RequestModel, tracer: Any) -> dict[str, Any] | None:
        blob = self._serialize(tracer)
        deadline = time.monotonic() + self.policy.deadline
        job_id = self._submit(request, blob, deadline)
        return self._await(job_id, deadline)

    # -- submission

    def _submit(self, request: RequestModel, blob: bytes, deadline: float) -> str:
        attempt = 0
        while True:
            self.meter.attempts += 1
            try:
                response = self._post_once(request, blob, deadline)
            except _Transient as exc:
                attempt = self._backoff(attempt, deadline, str(exc))
                continue
            self.meter.requests += 1
            self.meter.bytes_sent += len(blob)
            self._note(response)
            return response.id

    def _post_once(self, request: RequestModel, blob: bytes, deadline: float) -> ResponseModel:
        from nnsight.intervention.backends import remote as nnsight_remote

        headers = {"ndif-timestamp": repr(time.time()), "python-version": sys.version,
                   "nnsight-version": nnsight_remote._NNSIGHT_VERSION}
        if self.api_key:
            headers["ndif-api-key"] = self.api_key
        answer = self._http("POST", f"{self.host}/request", deadline, headers=headers,
                            data={"data": request.metadata()},
                            files={"blob": ("request", blob, "application/octet-stream")})
        self._raise_for_status(answer)
        return ResponseModel.model_validate_json(answer.text)

    # -- waiting

    def _await(self, job_id: str, deadline: float) -> dict[str, Any] | None:
        interval, failures = self.policy.poll_first, 0
        while True:
            if time.monotonic() >= deadline:
                raise NdifError(
                    f"no result from NDIF within the {self.policy.deadline:.0f} s deadline "
                    f"(job {job_id}, last status {self.status.value if self.status else 'none'}); "
                    "finished requests are kept: rerun to resume, or raise the deadline"
                )
            try:
                response = self._poll_once(job_id, deadline)
                failures = 0
            except _Transient as exc:
                failures = self._backoff(failures, deadline, str(exc))
                continue
            if response is not None:
                self._note(response)
                if response.status == Status.COMPLETED:
                    return self._fetch(response.data, deadline)
            time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
            interval = min(self.policy.poll_max, interval * 1.5)

    def _poll_once(self, job_id: str, deadline: float) -> ResponseModel | None:
        self.meter.polls += 1
        headers = {"ndif-api-key": self.api_key} if self.api_key else None
        answer = self._http("GET", f"{self.host}/response/{job_id}", deadline, headers=headers)
        if answer.status_code == 404:
            return None  # no status recorded yet
        self._raise_for_status(answer)
        return ResponseModel.model_validate_json(answer.text)

    def _note(self, response: ResponseModel) -> None:
        """Report a status change; raise the server's reason on ERROR."""
        changed = response.status != self.status
        self.status = response.status
        if response.meta is not None:
            self.meta = response.meta
        if response.status == Status.ERROR:
            raise job_failed(response.description, self.host, self.label)
        if changed and self.on_status is not None and response.status != Status.LOG:
            self.on_status(response.status.value, " ".join(response.description.split()))

    def _fetch(self, data: Any, deadline: float) -> dict[str, Any] | None:
        """The result: inline bytes, or a download from the object store's URL."""
        if isinstance(data, (bytes, bytearray)):
            content = bytes(data)
        elif data:
            attempt = 0
            while True:
                try:
                    answer = self._http("GET", str(data), deadline)
                    self._raise_for_status(answer)
                    content = answer.content
                    break
                except _Transient as exc:
                    attempt = self._backoff(attempt, deadline, str(exc))
        else:
            return None
        self.meter.bytes_received += len(content)
        return self.finalize(content)

    # -- transport

    def _http(self, method: str, url: str, deadline: float, **kwargs: Any) -> httpx.Response:
        """One HTTP call whose every timeout ends by the deadline."""
        remaining = max(0.1, deadline - time.monotonic())
        timeout = httpx.Timeout(remaining, connect=min(self.policy.connect_timeout, remaining))
        try:
            with httpx.Client(timeout=timeout) as client:
                return client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise _Transient(_transport_reason(exc)) from None

    def _raise_for_status(self, answer: httpx.Response) -> None:
        if answer.is_success:
            return
        detail = _detail(answer)
        if self.api_key:  # NDIF quotes a malformed key back; it must not reach a log
            detail = detail.replace(self.api_key, "<API key>")
        code = answer.status_code
        if code in TRANSIENT_STATUS:
            raise _Transient(f"HTTP {code}: {detail}")
        if code in (401, 403):
            from nnvalues.remote.settings import KEY_HELP

            raise NdifError(f"NDIF at {self.host} refused the API key (HTTP {code}: {detail}); "
                            f"{KEY_HELP}")
        raise NdifError(f"NDIF at {self.host} refused the request (HTTP {code}: {detail})")

    def _backoff(self, attempt: int, deadline: float, reason: str) -> int:
        """Sleep before the next try, or raise once tries or time run out."""
        if attempt >= self.policy.retries:
            raise _unreachable(self.host, reason, attempt + 1)
        pause = self.policy.pause(attempt)
        if time.monotonic() + pause >= deadline:
            raise _unreachable(self.host, reason, attempt + 1, deadline=self.policy.deadline)
        if self.on_status is not None:
            self.on_status("RETRYING", f"{reason}; retrying in {pause:.1f} s")
        time.sleep(pause)
        return attempt + 1


def _unreachable(host: str, reason: str, tries: int, deadline: float | None = None) -> NdifError:
    within = f" within the {deadline:.0f} s deadline" if deadline is not None else ""
    return NdifError(f"cannot reach NDIF at {host} ({reason}) after {tries} "
                     f"tr{'y' if tries == 1 else 'ies'}{within}; check NDIF_HOST or --ndif-host "
                     "and the network, then rerun to resume")


def _transport_reason(exc: httpx.TransportError) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    return server_message(str(exc)) if str(exc) else type(exc).__name__


def _detail(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except (ValueError, json.JSONDecodeError):
        return " ".join(answer.text.split())[:200] or answer.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else body
    return " ".join(str(detail).split())[:300]
