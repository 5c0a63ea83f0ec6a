"""The evidence table as the paper's tables: methods as rows, dimensions as columns, each
cell "mean [95% CI]", marked where the paired test survives Holm or BH correction over the
whole table; then the paired differences against the unedited model and the random
control, and, when edits were measured on other dimensions, the specificity matrix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from nnvalues.errors import UsageError
from nnvalues.evaluate.evidence import evidence_table
from nnvalues.evaluate.grid import RANDOM, UNEDITED
from nnvalues.evaluate.statistics import CORRECTIONS
from nnvalues.taxonomy import DIMENSION_IDS
from nnvalues.taxonomy import dimension as lookup_dimension

METHOD_NAMES = {UNEDITED: "Unedited", "paper": "ValueLocate", "top-k": "Top-k", "fdr": "FDR",
                RANDOM: "Random"}
METHOD_ORDER = (UNEDITED, RANDOM, "top-k", "fdr", "paper")
METRIC_NAMES = {"value": "G-Eval value alignment (1-5)", "quality": "text quality (1-5)",
                "contrast": "likelihood contrast, value - reversed answer (nats/token)",
                "fluency": "mean log-likelihood of the reference answers (nats/token)",
                "likert-pvq40": "PVQ40 self-rating, centred on the mean (1-6 scale)",
                "likert-valuebench": "ValueBench self-rating (1-5)"}
ALPHA = 0.05
GROUP = ["model", "set", "metric", "direction", "gamma", "neurons"]


def open_results(path: Path | str) -> xr.Dataset:
    """The evidence table as a labelled grid: metric x method x ... (NaN where no cell)."""
    table = evidence_table(path).rename(columns={"method": "selection"})
    axes = ["model", "set", "metric", "selection", "control_of", "direction", "gamma", "neurons",
            "threshold", "dimension", "measured_dimension"]
    return table.set_index(axes).to_xarray()


def method_label(row: pd.Series) -> str:
    def own(method: str, threshold: float) -> str:
        name = METHOD_NAMES.get(method, method)
        return f"{name} t={threshold:g}" if method == "paper" else name
    if row["method"] == RANDOM:
        return f"Random ({own(row['control_of'], row['threshold'])})"
    return own(row["method"], row["threshold"])


def _interval(mean: float, low: float, high: float, digits: int = 3) -> str:
    if not np.isfinite(mean):
        return "-"
    return f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def _marked(text: str, adjusted: float) -> str:
    return f"{text} *" if np.isfinite(adjusted) and adjusted < ALPHA else text


def order_rows(rows: pd.DataFrame) -> pd.DataFrame:
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    return rows.assign(_r=rows["method"].map(rank), _c=rows["control_of"].map(rank).fillna(-1)) \
        .sort_values(["_r", "_c", "threshold"]).drop(columns=["_r", "_c"])


def _markdown(title: str, header: list[str], lines: list[list[str]]) -> str:
    out = [f"### {title}", "", "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return "\n".join(out)


def tables(table: pd.DataFrame, correction: str = "holm",
           sets: Iterable[str] | None = None, metrics: Iterable[str] | None = None) -> list[str]:
    """Markdown tables: levels, differences, and specificity, per set/metric/edit."""
    if correction not in CORRECTIONS:
        raise UsageError(f"unknown correction {correction!r}; choose from {', '.join(CORRECTIONS)}")
    adjusted = f"p_{correction}"
    wanted_sets = set(sets) if sets is not None else None
    wanted_metrics = set(metrics) if metrics is not None else None
    own = table[table["dimension"] == table["measured_dimension"]]
    base = own[own["method"] == UNEDITED]
    edited = own[own["method"] != UNEDITED]
    out = []
    for keys, part in edited.groupby(GROUP, sort=True):
        model, set_name, metric, direction, gamma, neurons = keys
        if (wanted_sets is not None and set_name not in wanted_sets) or \
                (wanted_metrics is not None and metric not in wanted_metrics):
            continue
        here = pd.concat([base[(base["model"] == model) & (base["set"] == set_name)
                               & (base["metric"] == metric)], part])
        dims = [d for d in DIMENSION_IDS if d in set(here["dimension"])]
        names = [lookup_dimension(d).name for d in dims]
        count = "all selected neurons" if neurons == 0 else f"{neurons} neurons per role"
        what = METRIC_NAMES.get(metric, metric)
        levels, diffs = [], []
        for label, rows in order_rows(here).groupby(here.apply(method_label, axis=1), sort=False):
            by_dim = {r["dimension"]: r for _, r in rows.iterrows()}
            levels.append([label] + [_interval(by_dim[d]["mean"], by_dim[d]["ci_low"], by_dim[d]["ci_high"])
                                     + f" (n={by_dim[d]['n']})" if d in by_dim else "-" for d in dims])
            if rows["method"].iloc[0] == UNEDITED:
                continue
            diffs.append([label] + [_difference(by_dim[d], adjusted) if d in by_dim else "-" for d in dims])
        title = f"{model} · {set_name} · {direction} edit, gamma {gamma:g}, {count} · {what}"
        out.append(_markdown(f"{title}: mean [95% CI]", ["Methods", *names], levels))
        out.append(_markdown(f"{title}: paired differences, vs unedited / vs random "
                             f"(* p < {ALPHA} after {correction.upper()} over {len(table)} tests)",
                             ["Methods", *names], diffs))
    out += _specificity(table, adjusted, wanted_sets, wanted_metrics)
    return out


def _difference(row: pd.Series, adjusted: str) -> str:
    unedited = _interval(row["diff_unedited"], row["diff_unedited_ci_low"], row["diff_unedited_ci_high"])
    random = _interval(row["diff_random"], row["diff_random_ci_low"], row["diff_random_ci_high"])
    text = unedited if row["method"] == RANDOM else f"{unedited} / {random}"
    if row["seeds"] > 1:
        text += f" (seeds {row['seeds']}, sd {row['seed_sd']:.3f})"
    elif row["seeds"]:
        text += " (1 seed)"
    return _marked(text, row[adjusted])


def _specificity(table: pd.DataFrame, adjusted: str, sets: set[str] | None,
                 metrics: set[str] | None) -> list[str]:
    """Edit dimension i (rows) x measured dimension j (columns), per selection method."""
    edited = table[~table["method"].isin([UNEDITED, RANDOM])]
    if (edited["dimension"] == edited["measured_dimension"]).all():
        return []
    out = []
    for keys, part in edited.groupby([*GROUP, "method", "control_of", "threshold"], sort=True):
        model, set_name, metric, direction, gamma, neurons, *_ = keys
        if (sets is not None and set_name not in sets) or (metrics is not None and metric not in metrics):
            continue
        measured = [d for d in DIMENSION_IDS if d in set(part["measured_dimension"])]
        lines = []
        for dim in [d for d in DIMENSION_IDS if d in set(part["dimension"])]:
            rows = {r["measured_dimension"]: r for _, r in part[part["dimension"] == dim].iterrows()}
            lines.append([lookup_dimension(dim).name] +
                         [_difference(rows[m], adjusted) if m in rows else "-" for m in measured])
        label = method_label(part.iloc[0])
        out.append(_markdown(f"{model} · {set_name} · specificity of {label}, {direction} edit, gamma "
                             f"{gamma:g} · {METRIC_NAMES.get(metric, metric)}: vs unedited / vs random "
                             "(rows: edited dimension, columns: measured dimension)",
                             ["Edited \\ measured", *[lookup_dimension(m).name for m in measured]], lines))
    return out


def to_csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False, float_format="%.6g")
