"""A self-hosted NDIF server on this machine, by hand: install it, serve it, or run one command
against it. Every service binds 127.0.0.1 only; as root they live in a private network
namespace, which a command reaches through `nsenter` (printed by `serve`, done for you by
`run`). The server environment is cached (see tests/ndif_server.py for where).

    python scripts/ndif_local.py install           # redis-server + the server venv, once
    python scripts/ndif_local.py serve             # start, print how to reach it, Ctrl-C stops
    python scripts/ndif_local.py run -- nnvalues locate --remote --model ./my-model --limit 2

`run` sets NDIF_HOST for the command, so `--remote` finds the server without `--ndif-host`.
Models are named by a directory the server can read (it shares this filesystem).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ndif_server import HOME, NdifStack, StackError, install  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("install", "serve", "run"))
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="for run: the command to run against the server (after --)")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the services' logs after stopping")
    args = parser.parse_args()
    log = lambda line: print(f"ndif-local: {line}", file=sys.stderr, flush=True)  # noqa: E731
    signal.signal(signal.SIGTERM, _interrupt)  # stop the stack on TERM as on Ctrl-C
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.action == "run" and not command:
        log("error: run needs a command after --")
        return 2
    try:
        python = install(log=log)
        if args.action == "install":
            log(f"server environment: {python.parent.parent} (under {HOME})")
            return 0
        stack = NdifStack(python, keep_logs=args.keep_logs)
    except StackError as exc:
        log(f"error: {exc}")
        return 1
    try:
        log(f"starting the NDIF stack (logs in {stack.workdir})")
        started = time.monotonic()
        stack.start()
        log(f"up in {time.monotonic() - started:.0f} s at {stack.host}")
        if args.action == "serve":
            return serve(stack, log)
        env = {**os.environ, "NDIF_HOST": stack.host}
        return subprocess.run(stack.command(command), env=env).returncode
    except StackError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:  # Ctrl-C or TERM: the usual way to end `serve`
        return 0 if args.action == "serve" else 130
    finally:
        stack.stop()
        log("stopped every process it started")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def serve(stack: NdifStack, log) -> int:
    """Wait until interrupted."""
    reach = " ".join(shlex.quote(part) for part in stack.command(["<command>"]))
    log(f"set NDIF_HOST={stack.host} and run clients as: {reach}")
    log("Ctrl-C stops the server")
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
