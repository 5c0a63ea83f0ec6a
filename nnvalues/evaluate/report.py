"""Reading a results store back: per-cell summaries, a labelled grid, and the paper's tables.

A cell's mean is taken over its questions for each judge run, then over the runs. Its
spread is the standard deviation over the runs when there are several (the paper's 10
G-Eval runs), and over the questions otherwise, and every table says which one it shows.
Judgements with no valid rating are left out of the means and counted.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import xarray as xr

from nnvalues.errors import StoreError, UsageError
from nnvalues.evaluate.grid import ALL_NEURONS, UNEDITED
from nnvalues.evaluate.store import ResultsStore
from nnvalues.taxonomy import DIMENSION_IDS
from nnvalues.taxonomy import dimension as lookup_dimension

METHOD_NAMES = {UNEDITED: "Unedited", "paper": "ValueLocate", "top-k": "Top-k", "fdr": "FDR",
                "random": "Random"}
METHOD_ORDER = (UNEDITED, "random", "top-k", "fdr", "paper")
METRICS = ("value", "quality")
SPREADS = ("auto", "runs", "questions")
GRID_AXES = ("model", "set", "selection", "direction", "gamma", "neurons", "dimension")
"""The labelled grid calls the method axis "selection": `.sel(method=...)` is taken by xarray."""


def _cell_row(data: xr.Dataset, metric: str) -> dict[str, Any]:
    name = f"{metric}_score"
    if name not in data:
        return {f"{metric}_mean": np.nan, f"{metric}_sd_runs": np.nan,
                f"{metric}_sd_questions": np.nan, f"{metric}_mass": np.nan, f"{metric}_missing": 0}
    scores = data[name].values  # question x run
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: missing, expected
        per_run = np.nanmean(scores, axis=0)
        per_question = np.nanmean(scores, axis=1)
        runs_ok = per_run[np.isfinite(per_run)]
        questions_ok = per_question[np.isfinite(per_question)]
        return {
            f"{metric}_mean": float(np.mean(runs_ok)) if runs_ok.size else np.nan,
            f"{metric}_sd_runs": float(np.std(runs_ok, ddof=1)) if runs_ok.size > 1 else np.nan,
            f"{metric}_sd_questions": float(np.std(questions_ok, ddof=1)) if questions_ok.size > 1 else np.nan,
            f"{metric}_mass": float(np.nanmean(data[f"{metric}_mass"].values)),
            f"{metric}_missing": int(np.isnan(scores).sum()),
        }


def summarise(path: Path | str) -> pd.DataFrame:
    """One row per finished cell: its labels, mean and spreads of each metric, counts."""
    store = ResultsStore.open(path)
    rows = []
    for key in store.models():
        for name in store.cells(key):
            data = store.read_cell(key, name)
            a = data.attrs
            row = {"model": a["model"], "set": a["set"], "method": a["method"],
                   "direction": a["direction"], "gamma": float(a["gamma"]), "neurons": int(a["neurons"]),
                   "dimension": a["dimension"], "questions": int(data.sizes["question"]),
                   "runs": int(data.sizes["run"]), "edited_neurons":
                   int(a.get("value_neurons", 0)) + int(a.get("opposite_neurons", 0))}
            for metric in METRICS:
                row.update(_cell_row(data, metric))
            rows.append(row)
    if not rows:
        raise StoreError(f"{store.path} holds no finished cells yet")
    return pd.DataFrame(rows)


def open_results(path: Path | str) -> xr.Dataset:
    """The summaries as one labelled grid: model x set x selection x direction x gamma x
    neurons x dimension (NaN where the grid has no cell; the unedited baseline is selection
    "unedited", direction "none", gamma 0, neurons 0)."""
    frame = summarise(path).rename(columns={"method": "selection"})
    return frame.set_index(list(GRID_AXES)).to_xarray()


def _spread_column(frame: pd.DataFrame, metric: str, spread: str) -> tuple[str, str]:
    if spread not in SPREADS:
        raise UsageError(f"unknown spread {spread!r}; choose from {', '.join(SPREADS)}")
    if spread == "auto":
        spread = "runs" if int(frame["runs"].max()) > 1 else "questions"
    label = "sd over judge runs" if spread == "runs" else "sd over questions"
    return f"{metric}_sd_{spread}", label


def _cell_text(mean: float, sd: float) -> str:
    if not np.isfinite(mean):
        return "-"
    return f"{mean:.2f} ± {sd:.2f}" if np.isfinite(sd) else f"{mean:.2f}"


def _dimension_columns(frame: pd.DataFrame) -> list[str]:
    return [d for d in DIMENSION_IDS if d in set(frame["dimension"])]


def paper_tables(frame: pd.DataFrame, metric: str = "value", spread: str = "auto",
                 sets: Iterable[str] | None = None) -> list[tuple[str, pd.DataFrame]]:
    """Tables in the paper's layout (Tables 1-6): methods as rows grouped by model, the
    dimensions as columns, "mean ± sd" cells; one table per set, direction, gamma and
    neuron count, each with the model's unedited baseline as its first row."""
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    column, spread_label = _spread_column(frame, metric, spread)
    wanted = set(sets) if sets is not None else None
    edited = frame[frame["method"] != UNEDITED]
    baseline = frame[frame["method"] == UNEDITED]
    dims = _dimension_columns(frame)
    what = "G-Eval value alignment (1-5)" if metric == "value" else "text quality (1-5)"
    tables = []
    keys = edited[["set", "direction", "gamma", "neurons"]].drop_duplicates()
    if keys.empty:
        keys = baseline[["set"]].drop_duplicates().assign(direction="none", gamma=0.0, neurons=ALL_NEURONS)
    for _, k in keys.sort_values(["set", "direction", "gamma", "neurons"]).iterrows():
        if wanted is not None and k["set"] not in wanted:
            continue
        here = edited[(edited["set"] == k["set"]) & (edited["direction"] == k["direction"])
                      & (edited["gamma"] == k["gamma"]) & (edited["neurons"] == k["neurons"])]
        rows = []
        for model in sorted(set(here["model"]) | set(baseline[baseline["set"] == k["set"]]["model"])):
            base = baseline[(baseline["set"] == k["set"]) & (baseline["model"] == model)]
            for method in METHOD_ORDER:
                part = base if method == UNEDITED else here[(here["model"] == model) & (here["method"] == method)]
                if part.empty:
                    continue
                row = {"model": model, "method": METHOD_NAMES[method]}
                for dim in dims:
                    cell = part[part["dimension"] == dim]
                    mean = float(cell[f"{metric}_mean"].iloc[0]) if len(cell) else np.nan
                    sd = float(cell[column].iloc[0]) if len(cell) else np.nan
                    row[f"{dim}_mean"], row[f"{dim}_sd"] = mean, sd
                row["missing"] = int(part[f"{metric}_missing"].sum())
                rows.append(row)
        if not rows:
            continue
        count = "all selected neurons" if k["neurons"] == ALL_NEURONS else f"{k['neurons']} neurons per role"
        edit = (f"{k['direction']} edit, gamma {k['gamma']:g}, {count}" if k["direction"] != "none"
                else "unedited only")
        title = f"{k['set']} · {edit} · {what}, mean ± {spread_label}"
        tables.append((title, pd.DataFrame(rows)))
    return tables


def to_markdown(title: str, table: pd.DataFrame) -> str:
    dims = [c[:-5] for c in table.columns if c.endswith("_mean")]
    names = [lookup_dimension(d).name for d in dims]
    lines = [f"### {title}", "", "| Methods | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for model, rows in table.groupby("model", sort=False):
        lines.append(f"| **{model}** |" + " |" * len(names))
        for _, row in rows.iterrows():
            cells = [_cell_text(row[f"{d}_mean"], row[f"{d}_sd"]) for d in dims]
            lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
    missing = int(table["missing"].sum())
    if missing:
        lines += ["", f"{missing} judgement(s) gave no rating on the scale and are left out of the means."]
    return "\n".join(lines)


def to_csv(tables: list[tuple[str, pd.DataFrame]]) -> str:
    """All tables in one CSV: the table's title, then model, method and mean/sd per dimension."""
    frames = [t.assign(table=title)[["table", *t.columns]] for title, t in tables]
    if not frames:
        return ""
    return pd.concat(frames, ignore_index=True).to_csv(index=False, float_format="%.4f")
