"""Regenerate every figure (PNG and SVG) and table (Markdown and CSV) from the committed
stores, with no network and no key: the activation cube's figures, then each results
store's, from one evidence table per store computed once (written as evidence.csv).

    python analyses/run_all.py [--cube stores/activations.zarr]
        [--results stores/study-smollm2.zarr --results stores/sweeps-smollm2.zarr
         --results stores/likert-smollm2.zarr --results stores/baselines-eval-smollm2.zarr]
        [--out analyses/figures]

The first results store's files go to --out, each further one's to a folder named after it
(analyses/figures/sweeps-smollm2/, likert-smollm2/, baselines-eval-smollm2/).

A script whose store lacks what it needs prints one "skipped" line; the exit status is
non-zero only when a script fails.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import _path  # noqa: F401

from nnvalues.figures.output import DEFAULT_CUBE, DEFAULT_OUT, DEFAULT_RESULTS

DEFAULT_SWEEPS = DEFAULT_RESULTS.with_name("sweeps-smollm2.zarr")
DEFAULT_LIKERT = DEFAULT_RESULTS.with_name("likert-smollm2.zarr")
DEFAULT_BASELINES = DEFAULT_RESULTS.with_name("baselines-eval-smollm2.zarr")

CUBE_SCRIPTS = ("layer_distribution", "chance_counts", "neuron_overlap")
RESULTS_SCRIPTS = ("gamma_sweep", "neuron_count_sweep", "threshold_tradeoff", "edit_tables",
                   "specificity_heatmap", "pvq40_profile")

EVIDENCE_READERS = RESULTS_SCRIPTS[:-1]
"""The scripts that read the evidence table (the PVQ40 profile reads item ratings)."""
MORE_TABLES = ("fluency", "likert-valuebench")
"""Metrics that also get their own Tables 1 and 4 (in a folder named after the metric) when a
store holds them beside the one the scripts show by default."""


def metrics_in(evidence: Path | None) -> list[str]:
    if evidence is None:
        return []
    import pandas as pd

    return sorted(set(pd.read_csv(evidence, usecols=["metric"])["metric"]))


def evidence_csv(results: Path, out: Path) -> Path | None:
    """The results store's evidence table, computed once for every script."""
    from nnvalues.errors import StoreError
    from nnvalues.evaluate.evidence import evidence_table
    from nnvalues.evaluate.report import to_csv
    from nnvalues.storage import atomic_write_text

    try:
        table = evidence_table(results)
    except StoreError as reason:
        print(f"evidence: skipped ({reason})")
        return None
    path = out / "evidence.csv"
    atomic_write_text(path, to_csv(table))
    print(f"evidence: wrote {path} ({len(table)} rows)")
    return path


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--cube", type=Path, default=DEFAULT_CUBE)
    options.add_argument("--results", type=Path, action="append",
                         help=f"results store, repeatable [default: {DEFAULT_RESULTS}, {DEFAULT_SWEEPS}, "
                              f"{DEFAULT_LIKERT} and {DEFAULT_BASELINES}]")
    options.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = options.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    stores = args.results or [DEFAULT_RESULTS, DEFAULT_SWEEPS, DEFAULT_LIKERT, DEFAULT_BASELINES]
    started = time.perf_counter()
    failed = []
    common = ["--out", str(args.out)]
    runs = [(name, ["--cube", str(args.cube), *common]) for name in CUBE_SCRIPTS]
    for number, results in enumerate(stores):
        if not results.exists():
            print(f"results: skipped (no results store at {results}: run `nnvalues evaluate` first)")
            continue
        out = args.out if number == 0 else args.out / results.name.removesuffix(".zarr")
        out.mkdir(parents=True, exist_ok=True)
        evidence = evidence_csv(results, out)
        extra = ["--evidence", str(evidence)] if evidence is not None else []
        runs += [(name, ["--results", str(results), *(extra if name in EVIDENCE_READERS else []),
                         "--out", str(out)]) for name in RESULTS_SCRIPTS]
        runs += [("edit_tables", ["--results", str(results), *extra, "--metric", metric,
                                  "--out", str(out / metric)])
                 for metric in metrics_in(evidence) if metric in MORE_TABLES]
    for name, script_args in runs:
        if importlib.import_module(name).main(script_args) != 0:
            failed.append(name)
    print(f"done in {time.perf_counter() - started:.0f} s; figures and tables in {args.out}"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
