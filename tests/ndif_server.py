"""A real NDIF server on 127.0.0.1 for tests: Redis, an S3-compatible store (moto), a Ray
head, the NDIF controller and its API, serving models from the CPU.

The server (PyPI `ndif`) needs an nnsight of its own (0.8.0) and Ray, so it is installed
once into a virtual environment outside the repository: `$NNVALUES_NDIF_HOME`, else
`~/.cache/nnvalues/ndif-server` (the default nnvalues cache whatever NNVALUES_CACHE_DIR
says, so that per-run caches do not each get a 1.7 GB copy). Redis comes from Debian.
Running as root, every service lives in a private network namespace (`unshare --net`)
that holds nothing but a loopback device; clients reach it with `NdifStack.enter()` (this
thread only) or `NdifStack.command()` (a child process under `nsenter`). Every process the
stack starts is stopped by its PID, session or namespace, never by name.

Use the session fixture `ndif_server`, `serve()` for a context manager, or
`python scripts/ndif_local.py` by hand. In CI (CI=true) a server that cannot start fails
the tests that need it; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nnvalues.fingerprint import hash_json

HOME_ENV = "NNVALUES_NDIF_HOME"
SKIP_ENV = "NNVALUES_SKIP_NDIF"
TORCH = "torch==2.13.0"
NDIF = "ndif==0.1.2"
# ndif 0.1.2 breaks with nnsight 0.8.1 at deploy time; the 0.8.1 client works against it.
SERVER_REQUIREMENTS = (
    "nnsight==0.8.0", "transformers==5.15.1", "accelerate==1.15.0", "peft==0.21.2",
    "ray[default]==2.60.0", "moto[server]==5.2.5", "redis==8.1.0", "boto3==1.44.8",
    "fastapi==0.165.0", "uvicorn[standard]==0.54.0", "gunicorn==27.0.1",
    "python-multipart==0.0.34", "pydantic==2.14.4", "numpy==2.4.6", "zstandard==0.25.0",
    "click", "python-dotenv", "pyyaml",
)
DEPLOYMENT = Path(__file__).with_name("ndif_cpu_deployment.py")
CLONE_NEWNET = 0x40000000
READY_TIMEOUT = 180.0


class StackError(RuntimeError):
    """The NDIF stack could not be installed or started; the message says which step."""


def _default_home() -> Path:
    """One server environment per user, whatever cache a test session or run points at."""
    if env := os.environ.get(HOME_ENV):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nnvalues" / "ndif-server"


HOME = _default_home()


# --- installation ----------------------------------------------------------------------


def install(home: Path = HOME, log=print) -> Path:
    """The server environment's python, installing it (and redis-server) on first use."""
    ensure_redis(log)
    spec = {"python": list(sys.version_info[:2]), "torch": TORCH, "ndif": NDIF,
            "requirements": list(SERVER_REQUIREMENTS)}
    venv = home / f"venv-{hash_json(spec)[:12]}"
    python = venv / "bin" / "python"
    marker = venv / "nnvalues-installed.json"
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        log(f"installing the NDIF server into {venv} (once; a few minutes)")
        started = time.monotonic()
        journal = home / "install.log"
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "--quiet", TORCH],
            [str(python), "-m", "pip", "install", "--quiet", *SERVER_REQUIREMENTS],
            # ndif declares Python >= 3.12 but runs on 3.11; the flag only on this step.
            [str(python), "-m", "pip", "install", "--quiet", "--no-deps",
             "--ignore-requires-python", NDIF],
        ]
        with open(journal, "w") as out:
            for step in steps:
                if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT).returncode:
                    raise StackError(f"installing the NDIF server failed at `{' '.join(step[2:])}`;"
                                     f" see {journal}")
        marker.write_text(json.dumps(spec))
        log(f"installed in {time.monotonic() - started:.0f} s")
    return python


def ensure_redis(log=print) -> str:
    """Path of redis-server, installed from Debian when missing and running as root."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StackError("redis-server is missing: install Debian's redis-server package")
    log("installing redis-server with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server"]):
        done = subprocess.run(step, env=env, capture_output=True, text=True)
        if done.returncode:
            raise StackError(f"`{' '.join(step)}` failed: {done.stderr.strip()[-300:]}")
    found = shutil.which("redis-server")
    if not found:
        raise StackError("apt-get installed redis-server but it is not on PATH")
    return found


# --- network namespace -----------------------------------------------------------------


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


def namespaces_usable() -> bool:
    """Root with util-linux's unshare/nsenter and the right to make a network namespace."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0


# --- the stack -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Ports:
    redis: int
    s3: int
    gcs: int
    ray_client: int
    dashboard: int
    api: int

    @classmethod
    def fixed(cls) -> "Ports":
        """Inside a private namespace nothing else listens: the usual ports are free."""
        return cls(6379, 9000, 6385, 10001, 8265, 8001)

    @classmethod
    def free(cls) -> "Ports":
        return cls(*(_free_port() for _ in range(6)))


@dataclass
class NdifStack:
    python: Path
    """The server environment's interpreter."""
    namespace: bool = field(default_factory=namespaces_usable)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ndif-")))
    ports: Ports | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    holder: subprocess.Popen | None = None
    keep_logs: bool = False
    """Keep the services' logs in `workdir` after stopping (Ray's own files always go)."""

    def __post_init__(self) -> None:
        if self.ports is None:
            self.ports = Ports.fixed() if self.namespace else Ports.free()

    @property
    def host(self) -> str:
        """The API's URL, as NDIF_HOST or `--ndif-host` take it."""
        return f"http://127.0.0.1:{self.ports.api}"

    # -- reaching it

    @contextmanager
    def enter(self) -> Iterator[None]:
        """Run this thread inside the stack's network namespace (a no-op without one)."""
        if self.holder is None:
            yield
            return
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/proc/{self.holder.pid}/ns/net", os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(own)
            os.close(target)

    def command(self, argv: list[str]) -> list[str]:
        """`argv` prefixed so that it runs inside the namespace."""
        if self.holder is None:
            return list(argv)
        return ["nsenter", "-t", str(self.holder.pid), "-n", "--", *argv]

    def requests_received(self) -> int:
        """POST /request calls the API has answered, from its own access log."""
        log = self.workdir / "api-access.log"
        if not log.is_file():
            return 0
        return sum('"POST /request' in line for line in log.read_text().splitlines())

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        if not path.is_file():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- starting and stopping

    def start(self, timeout: float = READY_TIMEOUT) -> "NdifStack":
        deadline = time.monotonic() + timeout
        try:
            self._start(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, deadline: float) -> None:
        p = self.ports
        if self.namespace:
            self.holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"],
                                           start_new_session=True)
            self._wait_for_namespace(deadline)
            self._run_checked(self.command(["ip", "link", "set", "lo", "up"]), "loopback")
        pythonpath = self.workdir / "pythonpath"
        pythonpath.mkdir(exist_ok=True)
        shutil.copy(DEPLOYMENT, pythonpath / DEPLOYMENT.name)
        env = self._environment(pythonpath)
        bin_dir = self.python.parent

        self._spawn("redis", [ensure_redis(), "--bind", "127.0.0.1", "--port", str(p.redis),
                              "--save", "", "--appendonly", "no", "--dir", str(self.workdir)], env)
        self._spawn("s3", [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(p.s3)], env)
        self._wait_port(p.redis, deadline, "redis")
        self._wait_port(p.s3, deadline, "s3")

        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        resources = {"head": 10, "cuda_memory_bytes": 8e9, "cpu_memory_bytes": memory}
        self._spawn("ray", [
            str(bin_dir / "ray"), "start", "--head", "--block",
            "--node-ip-address=127.0.0.1", f"--port={p.gcs}",
            f"--ray-client-server-port={p.ray_client}", "--num-cpus=4", "--num-gpus=1",
            f"--resources={json.dumps(resources)}", "--object-store-memory=200000000",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={p.dashboard}",
            "--disable-usage-stats", f"--temp-dir={self.workdir / 'ray'}",
        ], env)
        self._wait_port(p.ray_client, deadline, "ray")
        controller = {**env, "RAY_ADDRESS": f"127.0.0.1:{p.gcs}"}
        self._run_checked(self.command([str(self.python), "-m",
                                        "ndif.services.ray.deployments.controller.controller"]),
                          "controller", env=controller, deadline=deadline)
        self.start_api(deadline - time.monotonic())

    def start_api(self, timeout: float = 60.0) -> None:
        """Start (or restart) the API and wait until it is connected to Ray."""
        deadline = time.monotonic() + timeout
        env = self._environment(self.workdir / "pythonpath")
        self._spawn("api", [
            str(self.python.parent / "gunicorn"),
            "--config", "python:ndif.services.api.gunicorn_conf",
            "--bind", f"127.0.0.1:{self.ports.api}",
            "--access-logfile", str(self.workdir / "api-access.log"),
            "ndif.services.api.app:app",
        ], env)
        while True:
            if self._http_ok("/connected"):
                return
            if self.processes["api"].poll() is not None:
                raise StackError(f"the NDIF API exited:\n{self.log_tail('api')}")
            if time.monotonic() > deadline:
                raise StackError(f"the NDIF API did not connect to Ray in time:\n"
                                 f"{self.log_tail('api')}")
            time.sleep(0.5)

    def stop_api(self) -> None:
        """Stop the API only (its queue dispatcher ignores SIGTERM once it lost Ray)."""
        self._terminate("api", grace=5.0)

    def stop(self) -> None:
        """Stop every process this stack started, newest first; safe to call twice."""
        sessions = {process.pid for process in self.processes.values()}
        self._terminate("api", grace=5.0)
        # Ray drains for up to 30 s on TERM; a test server has nothing to drain.
        self._terminate("ray", grace=3.0)
        redis = self.processes.get("redis")
        if redis is not None and redis.poll() is None:
            subprocess.run(self.command(["redis-cli", "-p", str(self.ports.redis),
                                         "shutdown", "nosave"]), capture_output=True, timeout=10)
        for name in list(self.processes):
            self._terminate(name, grace=3.0)
        self._sweep(sessions)
        if self.holder is not None and self.holder.poll() is None:
            os.killpg(self.holder.pid, signal.SIGKILL)
            self.holder.wait()
        shutil.rmtree(self.workdir if not self.keep_logs else self.workdir / "ray",
                      ignore_errors=True)

    # -- helpers

    def _environment(self, pythonpath: Path) -> dict[str, str]:
        """The server's environment: nothing secret of the caller's, loopback only."""
        p = self.ports
        drop = ("NDIF_", "AWS_", "HF_", "OPENAI", "PYTHON", "VIRTUAL_ENV", "RAY_", "NNVALUES_")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(drop) and not any(s in k for s in ("TOKEN", "SECRET", "KEY"))}
        env.update({
            "PATH": f"{self.python.parent}:{env.get('PATH', '/usr/bin:/bin')}",
            "PYTHONPATH": str(pythonpath),
            "NDIF_MODEL_IMPORT_PATH": "ndif_cpu_deployment.CpuModelActor",
            "NDIF_REDIS_URL": f"redis://127.0.0.1:{p.redis}",
            "NDIF_RAY_ADDRESS": f"ray://127.0.0.1:{p.ray_client}",
            "NDIF_OBJECT_STORE_URL": f"http://127.0.0.1:{p.s3}",
            "NDIF_OBJECT_STORE_ACCESS_KEY": "testing", "NDIF_OBJECT_STORE_SECRET_KEY": "testing",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "NDIF_API_PORT": str(p.api), "NDIF_DEFAULT_DTYPE": "float32",
            "NDIF_DEFAULT_PADDING_BIAS": "0", "NDIF_HOME": str(self.workdir),
            "NDIF_RAY_TEMP_DIR": str(self.workdir / "ray"), "GRPC_ENABLE_FORK_SUPPORT": "0",
            "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false", "RAY_USAGE_STATS_ENABLED": "0",
        })
        return env

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self._terminate(name, grace=5.0)
        log = open(self.workdir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            self.command(argv), env=env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()

    def _run_checked(self, argv: list[str], name: str, env: dict[str, str] | None = None,
                     deadline: float | None = None) -> None:
        timeout = 60.0 if deadline is None else max(1.0, deadline - time.monotonic())
        try:
            done = subprocess.run(argv, env=env, cwd=self.workdir, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StackError(f"starting the {name} timed out") from None
        if done.returncode:
            raise StackError(f"starting the {name} failed: {(done.stderr or done.stdout)[-600:]}")

    def _terminate(self, name: str, grace: float) -> None:
        """TERM the process's group, then KILL whatever of the group is left; forget it."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass

    def _sweep(self, sessions: set[int]) -> None:
        """KILL whatever is left: every process in our namespace, or in our sessions."""
        ns = None
        if self.holder is not None:
            try:
                ns = os.readlink(f"/proc/{self.holder.pid}/ns/net")
            except OSError:
                ns = None
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if pid in (os.getpid(), getattr(self.holder, "pid", -1)):
                continue
            try:
                # With a namespace, membership is exact; without, the sessions we started.
                if ns is not None:
                    mine = os.readlink(entry / "ns" / "net") == ns
                else:
                    mine = os.getsid(pid) in sessions
                if mine:
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                continue

    def _wait_for_namespace(self, deadline: float) -> None:
        """Until the holder has left our network namespace for its own."""
        own = os.readlink("/proc/self/ns/net")
        while True:
            try:
                if os.readlink(f"/proc/{self.holder.pid}/ns/net") != own:
                    return
            except OSError:
                pass
            if self.holder.poll() is not None or time.monotonic() > deadline:
                raise StackError("could not create a private network namespace (unshare --net)")
            time.sleep(0.02)

    def _wait_port(self, port: int, deadline: float, name: str) -> None:
        with self.enter():
            while True:
                with socket.socket() as sock:
                    sock.settimeout(1.0)
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        return
                process = self.processes.get(name)
                if process is not None and process.poll() is not None:
                    raise StackError(f"{name} exited at start:\n{self.log_tail(name)}")
                if time.monotonic() > deadline:
                    raise StackError(f"{name} did not open port {port} in time:\n"
                                     f"{self.log_tail(name)}")
                time.sleep(0.3)

    def _http_ok(self, path: str) -> bool:
        with self.enter():
            try:
                with urllib.request.urlopen(self.host + path, timeout=5) as response:
                    return response.status == 200
            except (urllib.error.URLError, OSError):
                return False


@contextmanager
def serve(log=print) -> Iterator[NdifStack]:
    """Install if needed, start the stack, stop it on exit."""
    stack = NdifStack(install(log=log))
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def ndif_server() -> Iterator[NdifStack]:
    """One NDIF server for the whole test session."""
    if os.environ.get(SKIP_ENV) and not in_ci():
        pytest.skip(f"{SKIP_ENV} is set")
    try:
        stack = NdifStack(install())
        stack.start()
    except (StackError, OSError) as exc:
        if in_ci():
            pytest.fail(f"the NDIF test server could not start: {exc}", pytrace=False)
        pytest.skip(f"the NDIF test server could not start: {exc}")
    try:
        yield stack
    finally:
        stack.stop()
