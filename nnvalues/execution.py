"""Where nnvalues' traces run: here, in nnsight's in-process simulation of NDIF, or on NDIF.

One object carries the choice from the command line to every trace, so `locate`,
`intervene` and `evaluate` switch with the same flag:

- "local": the model is loaded here and traced directly;
- "simulate": traces go through nnsight's request serialisation and run in this process
  (`remote="local"`): no server, but the same code path as NDIF, so serialisation
  problems show up without one;
- "remote": traces are sent to NDIF; the model is built here with meta weights (module
  paths and tokenizer only) and its weights never leave the server.

The serialised modes group several batches into one request (`batches_per_request`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from nnvalues.errors import UsageError
from nnvalues.models.loading import LoadedModel, load_model, load_remote_model
from nnvalues.remote.policy import RequestMeter, RetryPolicy, StatusCallback
from nnvalues.remote.settings import NdifSettings, resolve_settings

MODES = {
    "local": "the model runs in this process",
    "simulate": "NDIF's request path, run in this process (nnsight remote='local')",
    "remote": "the model runs on NDIF",
}
DEFAULT_BATCHES_PER_REQUEST = 8
"""Batches sent together: few enough that a failed request loses little, many enough that
queueing and round trips are paid once per 64 prompts at the default batch size."""


@dataclass
class Execution:
    mode: str = "local"
    host: str | None = None
    """NDIF API URL for a self-hosted server; NDIF_HOST or nnsight's config otherwise."""
    batches_per_request: int = DEFAULT_BATCHES_PER_REQUEST
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    meter: RequestMeter = field(default_factory=RequestMeter)
    """Requests and bytes so far; shared by copies made with `with_status`."""
    on_status: StatusCallback | None = None
    _settings: NdifSettings | None = field(default=None, repr=False)

    @classmethod
    def of(cls, value: "Execution | str | None") -> "Execution":
        if isinstance(value, Execution):
            return value
        return cls(mode=value or "local")

    @property
    def serialised(self) -> bool:
        """Whether traces travel as nnsight requests (and batches are grouped into them)."""
        return self.mode != "local"

    def check(self) -> "Execution":
        """Validate the options and find NDIF's host and key; cheap, before any model loads."""
        if self.mode not in MODES:
            raise UsageError(f"unknown execution mode {self.mode!r}; "
                             f"choose from {', '.join(MODES)}")
        if self.batches_per_request < 1:
            raise UsageError("`batches_per_request` must be at least 1 "
                             f"(got {self.batches_per_request})")
        if not self.policy.deadline > 0:
            raise UsageError(f"`remote_deadline` must be > 0 seconds (got {self.policy.deadline})")
        if self.host is not None and self.mode != "remote":
            raise UsageError("an NDIF host only applies to remote execution")
        if self.mode == "remote" and self._settings is None:
            self._settings = resolve_settings(self.host)
        return self

    def describe(self) -> str:
        if self.mode == "remote":
            return f"NDIF at {self.check()._settings.host}"
        return MODES[self.mode]

    def with_status(self, on_status: StatusCallback | None) -> "Execution":
        """A copy that reports NDIF status changes to `on_status` (same meter)."""
        return dataclasses.replace(self, on_status=on_status)

    def load(self, spec: str, *, device: str | None = None, dtype: str = "auto") -> LoadedModel:
        """The model as this mode needs it: weights here, or meta weights for NDIF."""
        if self.mode == "remote":
            if device is not None or dtype != "auto":
                raise UsageError("--device and --dtype apply to local runs: NDIF chooses where "
                                 "and in which dtype the model runs")
            return load_remote_model(spec)
        return load_model(spec, device=device, dtype=dtype)

    def trace_options(self, loaded: LoadedModel, generating: bool = False) -> dict[str, Any]:
        """Keyword arguments for one `trace`, `generate` or `session` of `loaded.envoy`.

        Each call makes a fresh backend: a backend holds the state of one request.
        """
        if self.mode == "local":
            return {}
        if generating and self.mode == "simulate":
            # nnsight 0.8.1's simulation re-reads the block's source from the real file and
            # loses its place in a generation's nested invokes; the real server does not.
            raise UsageError("generation cannot run in nnsight's in-process simulation; "
                             "use remote execution (a self-hosted NDIF server will do)")
        import nnsight

        # The server does not have nnvalues installed: its functions and classes used
        # inside a trace travel with the request, by value.
        nnsight.register("nnvalues")
        if self.mode == "simulate":
            return {"remote": "local"}
        from nnvalues.remote.backend import PollingBackend

        settings = self.check()._settings
        envoy = loaded.envoy
        backend = PollingBackend(
            envoy.to_model_key(), host=settings.host, api_key=settings.api_key,
            label=loaded.name, env=envoy._remoteable_get_env(), policy=self.policy,
            meter=self.meter, on_status=self.on_status,
        )
        return {"backend": backend}
