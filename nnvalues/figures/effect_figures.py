"""Figures and tables of edit effects, read from a results store's evidence table: the gamma
and neuron-count sweeps (paper Figs 3, 5), the threshold sweep against fluency (Fig. 6),
Tables 1 and 4, and the specificity heatmap (edited x measured dimension)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from nnvalues.evaluate.grid import RANDOM
from nnvalues.evaluate.report import METHOD_NAMES
from nnvalues.figures.effects import (
    method_and_control,
    methods_by_dimension,
    metric_label,
    specificity,
    value_metric,
)
from nnvalues.figures.output import Figure, Skip, Table
from nnvalues.figures.sources import Sources
from nnvalues.taxonomy import DIMENSION_IDS
from nnvalues.taxonomy import dimension as lookup

SWEEP_LABELS = {"gamma": "gamma (edit strength, multiple of the activation)",
                "neurons": "edited neurons per role (count)"}
SWEEP_NAMES = {"gamma": "gamma_sweep", "neurons": "neuron_count_sweep"}
DIRECTION_STYLE = {"positive": "-", "negative": "--"}


def _panels(dims: list[str], height: float = 3.2) -> tuple[plt.Figure, list[plt.Axes]]:
    fig, axes = plt.subplots(1, len(dims), figsize=(3.6 * len(dims) + 1.5, height), squeeze=False)
    return fig, list(axes[0])


def _dims(rows: pd.DataFrame, column: str = "dimension") -> list[str]:
    return [d for d in DIMENSION_IDS if d in set(rows[column])]


def sweep_figure(sources: Sources, sweep: str, method: str = "paper", metric: str | None = None,
                 **chosen: float | None) -> Figure:
    """The method against its random control along `sweep`, per dimension, both directions.

    Each point is the paired per-question difference against the unedited model with its 95%
    interval (what the evidence rests on; the level itself varies far more between questions).
    On the neuron axis, "all" (the rule's whole set) sits at half the set's edited neurons.
    """
    table = sources.evidence()
    metric = value_metric(table, metric)
    rows = method_and_control(table, metric, method, sweep, **chosen)
    rows = rows.assign(whole=(rows["neurons"] == 0) & (sweep == "neurons"))
    if sweep == "neurons":
        rows = rows.assign(neurons=np.where(rows["whole"], rows["edited_neurons"] / 2, rows["neurons"]))
    if rows[sweep].nunique() < 2:
        raise Skip(f"no {sweep} axis for {method} on {metric}")
    dims = _dims(rows)
    fig, axes = _panels(dims)
    colours = dict(zip(dict.fromkeys(rows["series"]), sns.color_palette("colorblind")))
    for ax, dim in zip(axes, dims):
        for (series, direction), part in rows[rows["dimension"] == dim].groupby(["series", "direction"]):
            part = part.sort_values(sweep)
            ax.plot(part[sweep], part["diff_unedited"], DIRECTION_STYLE.get(direction, ":"), marker="o",
                    ms=3, color=colours[series], label=f"{series}, {direction}")
            ax.fill_between(part[sweep], part["diff_unedited_ci_low"], part["diff_unedited_ci_high"],
                            color=colours[series], alpha=0.15)
            for _, point in part[part["whole"]].iterrows():
                ax.annotate("all", (point[sweep], point["diff_unedited"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        ax.axhline(0, color="0.4", lw=1, label="unedited")
        ax.set_title(lookup(dim).name)
        ax.set_xlabel(SWEEP_LABELS[sweep])
        if sweep == "neurons":
            ax.set_xscale("log")
    axes[0].set_ylabel(metric_label(f"change vs unedited: {metric_label(metric)}", 36))
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    fig.legend(unique.values(), unique.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    what = (f"{METHOD_NAMES.get(method, method)} vs random control of the same size, along {sweep}; "
            "paired difference vs unedited")
    return Figure(SWEEP_NAMES[sweep], fig, sources.results_caption(what, rows))


def tradeoff_figure(sources: Sources, method: str = "paper", metric: str | None = None,
                    **chosen: float | None) -> Figure:
    """Per threshold: the value effect against the fluency cost, both against the unedited model."""
    table = sources.evidence()
    metric = value_metric(table, metric)
    if "fluency" not in set(table["metric"]):
        raise Skip("no fluency scores (run evaluate with --metrics fluency)")
    value = method_and_control(table, metric, method, "threshold", **chosen)
    cost = method_and_control(table, "fluency", method, "threshold", **chosen)
    keys = ["method", "control_of", "dimension", "direction", "gamma", "neurons", "threshold"]
    both = value.merge(cost, on=keys, suffixes=("", "_fluency"))
    dims = _dims(both)
    fig, axes = _panels(dims, 3.6)
    for ax, dim in zip(axes, dims):
        for (method_name, direction), part in both[both["dimension"] == dim].groupby(["method", "direction"]):
            colour = "0.55" if method_name == RANDOM else ("C0" if direction == "positive" else "C3")
            label = f"{'random control' if method_name == RANDOM else METHOD_NAMES.get(method_name, method_name)}, {direction}"
            part = part.sort_values("threshold")
            ax.errorbar(part["diff_unedited_fluency"], part["diff_unedited"],
                        xerr=_error(part, "diff_unedited", "_fluency"), yerr=_error(part, "diff_unedited"),
                        fmt="o" + DIRECTION_STYLE.get(direction, ":"), color=colour, ms=4, lw=1,
                        capsize=2, label=label, mfc="none" if method_name == RANDOM else colour)
            if method_name != RANDOM:
                for _, r in part.iterrows():
                    ax.annotate(f"t={r['threshold']:g} ({int(r['edited_neurons'])})",
                                (r["diff_unedited_fluency"], r["diff_unedited"]), fontsize=6,
                                xytext=(3, 3), textcoords="offset points")
        ax.axhline(0, color="0.7", lw=0.8)
        ax.axvline(0, color="0.7", lw=0.8)
        ax.set_title(lookup(dim).name)
        ax.set_xlabel("fluency change vs unedited (nats/token)")
    axes[0].set_ylabel(metric_label(f"change vs unedited: {metric_label(metric)}", 36))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    what = (f"threshold sweep of {METHOD_NAMES.get(method, method)}: value effect vs fluency cost "
            "(labels: threshold and edited neurons)")
    return Figure("threshold_tradeoff", fig, sources.results_caption(what, value))


def _error(rows: pd.DataFrame, prefix: str, suffix: str = "") -> np.ndarray:
    mean = rows[f"{prefix}{suffix}"].to_numpy()
    low, high = rows[f"{prefix}_ci_low{suffix}"].to_numpy(), rows[f"{prefix}_ci_high{suffix}"].to_numpy()
    return np.nan_to_num(np.vstack([mean - low, high - mean]), nan=0.0).clip(min=0)


def edit_tables(sources: Sources, metric: str | None = None, **chosen: float | None) -> list[Table]:
    """Tables 1 (positive edits) and 4 (negative edits): mean [95% CI] per method and dimension."""
    table = sources.evidence()
    metric = value_metric(table, metric)
    made, reasons = [], []
    for number, direction in ((1, "positive"), (4, "negative")):
        try:
            frame = methods_by_dimension(table, metric, direction, **chosen)
        except Skip as reason:
            reasons.append(str(reason))
            continue
        rows = table[(table["metric"] == metric) & (table["direction"].isin([direction, "none"]))]
        title = f"Table {number}: {direction} edits, {metric_label(metric)}, mean [95% CI]"
        made.append(Table(f"table{number}_{direction}_edits", title, frame,
                          sources.results_caption(f"{direction} edits, every method in the store", rows)))
    if not made:
        raise Skip("; ".join(reasons))
    return made


def specificity_figure(sources: Sources, method: str = "paper", metric: str | None = None,
                       **chosen: float | None) -> Figure:
    """Heatmaps of the effect vs unedited, edited dimension (rows) x measured dimension (columns)."""
    table = sources.evidence()
    metric = value_metric(table, metric)
    directions = [d for d in ("positive", "negative") if d in set(table["direction"])]
    parts = []
    for direction in directions:
        try:
            parts.append((direction, specificity(table, metric, method, direction, **chosen)))
        except Skip:
            continue
    if not parts:
        raise Skip(f"no specificity axis for {method} on {metric} (evaluate --measure-dimensions all)")
    fig, axes = plt.subplots(1, len(parts), figsize=(5.2 * len(parts), 4.4), squeeze=False)
    for ax, (direction, rows) in zip(axes[0], parts):
        grid = rows.pivot_table(index="dimension", columns="measured_dimension", values="diff_unedited")
        grid = grid.reindex(index=_dims(rows), columns=_dims(rows, "measured_dimension"))
        marks = rows.pivot_table(index="dimension", columns="measured_dimension", values="p_holm").reindex_like(grid)
        text = grid.map(lambda v: f"{v:+.3f}") + marks.map(lambda p: " *" if p < 0.05 else "")
        limit = float(np.nanmax(np.abs(grid.to_numpy()))) or 1.0
        sns.heatmap(grid, annot=text, fmt="", cmap="RdBu_r", vmin=-limit, vmax=limit, ax=ax,
                    cbar_kws={"label": f"change vs unedited ({metric})"})
        ax.set_title(f"{direction} edit")
        ax.set_xlabel("measured dimension")
        ax.set_ylabel("edited dimension")
        ax.set_xticklabels([lookup(t.get_text()).name for t in ax.get_xticklabels()], rotation=20)
        ax.set_yticklabels([lookup(t.get_text()).name for t in ax.get_yticklabels()], rotation=0)
    fig.tight_layout()
    rows = pd.concat([p for _, p in parts])
    what = (f"specificity of {METHOD_NAMES.get(method, method)}, {metric_label(metric)}; "
            "* Holm-adjusted p < 0.05 (vs the random control, else vs unedited)")
    return Figure("specificity_heatmap", fig, sources.results_caption(what, rows))
