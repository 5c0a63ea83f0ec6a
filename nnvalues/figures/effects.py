"""Rows of the evidence table a figure shows: one selection method and its random control
along one axis (gamma, neuron count, threshold), the other axes held at one value.

Every method the store holds (the paper's rule, top-k, FDR, baselines) is shown under the
label the report gives it; the unedited model is the reference level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nnvalues.evaluate.grid import RANDOM, UNEDITED
from nnvalues.evaluate.report import METRIC_NAMES, method_label, order_rows
from nnvalues.figures.output import Skip

AXES = ("gamma", "neurons", "threshold")
PREFERRED = {"gamma": 2.0, "neurons": 0, "threshold": 0.03}
"""The value an axis is held at when a figure sweeps another (if the store has it)."""
VALUE_METRICS = ("contrast", "value", "likert-pvq40", "likert-valuebench")
"""The value metric a figure shows by default: the first of these the store holds."""


def value_metric(table: pd.DataFrame, metric: str | None = None) -> str:
    held = list(dict.fromkeys(table["metric"]))
    if metric is not None:
        if metric not in held:
            raise Skip(f"no {metric} scores (the store holds {', '.join(held)})")
        return metric
    for name in VALUE_METRICS:
        if name in held:
            return name
    raise Skip(f"no value metric (the store holds {', '.join(held)})")


def metric_label(metric: str, width: int = 0) -> str:
    """What a metric measures, with its unit; wrapped at `width` characters when given."""
    import textwrap

    label = METRIC_NAMES.get(metric, metric)
    return "\n".join(textwrap.wrap(label, width)) if width else label


def selection_methods(table: pd.DataFrame) -> list[str]:
    """The selection methods the store holds (not the unedited model, not random controls)."""
    return [m for m in dict.fromkeys(table["method"]) if m not in (UNEDITED, RANDOM)]


def own_dimension(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows of `metric` measured on the edited dimension itself."""
    return table[(table["metric"] == metric) & (table["dimension"] == table["measured_dimension"])]


def hold(rows: pd.DataFrame, sweep: str | None, **chosen: float | None) -> pd.DataFrame:
    """Keep one value of every axis except `sweep`: the one asked for, else the preferred one
    if present, else the most common. Methods without a threshold (0) keep their rows."""
    for axis in AXES:
        if axis == sweep or rows.empty:
            continue
        held = rows[axis].astype(float)
        free = (held == 0) if axis == "threshold" else np.zeros(len(rows), dtype=bool)
        if free.all():
            continue
        wanted = chosen.get(axis)
        if wanted is None:
            present = set(held[~free])
            wanted = PREFERRED[axis] if PREFERRED[axis] in present else held[~free].mode().iloc[0]
        elif not np.isclose(held, float(wanted)).any():
            raise Skip(f"no {axis} {wanted:g} (the store holds {', '.join(f'{v:g}' for v in sorted(set(held)))})")
        rows = rows[np.isclose(held, float(wanted)) | free]
    return rows


def method_and_control(table: pd.DataFrame, metric: str, method: str, sweep: str | None,
                       **chosen: float) -> pd.DataFrame:
    """The method's rows and its random control's, labelled, along `sweep`."""
    own = own_dimension(table, metric)
    rows = own[(own["method"] == method) | ((own["method"] == RANDOM) & (own["control_of"] == method))]
    if rows.empty:
        held = ", ".join(selection_methods(table)) or "none"
        raise Skip(f"no {method} edits scored on {metric} (selection methods held: {held})")
    rows = hold(rows, sweep, **chosen)
    if sweep is not None and rows[sweep].nunique() < 2:
        raise Skip(f"no {sweep} axis: {method} edits on {metric} have one {sweep} only")
    return rows.assign(series=rows.apply(method_label, axis=1))


def unedited(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    own = own_dimension(table, metric)
    return own[own["method"] == UNEDITED]


def interval(mean: float, low: float, high: float) -> str:
    return "-" if not np.isfinite(mean) else f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def methods_by_dimension(table: pd.DataFrame, metric: str, direction: str, **chosen: float) -> pd.DataFrame:
    """The paper's Tables 1 and 4: methods as rows (the unedited model first), dimensions as
    columns, each cell mean [95% CI]; every method at the held gamma and neuron count."""
    from nnvalues.taxonomy import DIMENSION_IDS
    from nnvalues.taxonomy import dimension as lookup

    own = own_dimension(table, metric)
    edited = own[own["direction"] == direction]
    if edited.empty:
        raise Skip(f"no {direction} edits scored on {metric}")
    edited = pd.concat([hold(edited[edited["method"] == m], None, **chosen)
                        for m in dict.fromkeys(edited["method"])])
    rows = order_rows(pd.concat([unedited(table, metric), edited]))
    dims = [d for d in DIMENSION_IDS if d in set(rows["dimension"])]
    lines = []
    for label, part in rows.groupby(rows.apply(method_label, axis=1), sort=False):
        by_dim = {r["dimension"]: r for _, r in part.iterrows()}
        lines.append([label] + [interval(by_dim[d]["mean"], by_dim[d]["ci_low"], by_dim[d]["ci_high"])
                                if d in by_dim else "-" for d in dims])
    return pd.DataFrame(lines, columns=["Method", *(lookup(d).name for d in dims)])


def specificity(table: pd.DataFrame, metric: str, method: str, direction: str, **chosen: float) -> pd.DataFrame:
    """Edited dimension x measured dimension: the effect against the unedited model."""
    rows = table[(table["metric"] == metric) & (table["method"] == method) & (table["direction"] == direction)]
    rows = hold(rows, None, **chosen)
    if (rows["dimension"] == rows["measured_dimension"]).all():
        raise Skip(f"no specificity axis: {method} {direction} edits were measured on their own dimension only")
    return rows
