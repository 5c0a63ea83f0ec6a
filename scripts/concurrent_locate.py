"""Run two `nnvalues locate` processes on the same store and cell at once, many times, and
check that every store is left valid (one run measures; the other is refused or finds the
cell finished).

    python scripts/concurrent_locate.py --model <model dir> [--trials 20]

Prints one line per trial and the totals: trials, runs that measured, refused, found the
cell finished, tracebacks, and damaged stores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's nnvalues, as the runs use


def outcome(code: int, out: str, err: str) -> str:
    if "Traceback" in err:
        return "traceback"
    if code == 0 and "measured" in out:
        return "measured"
    if code == 0 and "already stored" in out:
        return "found finished"
    if code == 1 and "another process is writing" in err:
        return "refused"
    return f"failed ({code}: {err.strip().splitlines()[-1] if err.strip() else ''})"


def store_problem(store: Path) -> str | None:
    """None when the store opens, passes a full check and holds exactly the one cell."""
    from nnvalues.cube.store import CubeStore
    from nnvalues.cube.view import open_cube
    from nnvalues.storecheck import check_store

    try:
        damaged = check_store(CubeStore.open(store))
        if damaged:
            return "; ".join(f"{d.name}: {d.reason}" for d in damaged)
        cube = open_cube(store)
        if cube.sizes["dimension"] != 1 or int(cube["prompts"].sum()) == 0:
            return f"unexpected cube {dict(cube.sizes)}"
        if any((store / ".staging").glob("*/*")):
            return "staging folders left behind"
    except Exception as exc:  # noqa: BLE001  (any failure to read is what is counted)
        return f"{type(exc).__name__}: {exc}"
    return None


def trial(model: str, store: Path, dimension: str, limit: int) -> tuple[list[str], str | None]:
    command = [sys.executable, "-m", "nnvalues", "locate", "--model", model, "--quiet",
               "--dimensions", dimension, "--limit", str(limit), "--store", str(store)]
    runs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outcomes = [outcome(run.wait(), *run.communicate()) for run in runs]
    return outcomes, store_problem(store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Model spec (a tiny model directory).")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--dimension", default="conservation")
    parser.add_argument("--limit", type=int, default=2)
    args = parser.parse_args()
    totals: Counter[str] = Counter()
    damaged = 0
    with tempfile.TemporaryDirectory() as folder:
        for number in range(1, args.trials + 1):
            outcomes, problem = trial(args.model, Path(folder) / f"trial-{number}.zarr",
                                      args.dimension, args.limit)
            totals.update(outcomes)
            damaged += problem is not None
            print(f"trial {number}: {' / '.join(outcomes)}; store "
                  f"{'valid' if problem is None else 'DAMAGED: ' + problem}", flush=True)
    print(f"{args.trials} trials, {2 * args.trials} runs: " +
          ", ".join(f"{name} {count}" for name, count in sorted(totals.items())) +
          f"; damaged stores {damaged}")
    sys.exit(1 if damaged or totals["traceback"] or totals["measured"] != args.trials else 0)


if __name__ == "__main__":
    main()
