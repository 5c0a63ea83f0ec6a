"""Figures of where the selected neurons are, read from an activation cube: the layer
distribution per rule against its chance level (paper Fig. 4), observed against chance
counts per threshold, and the overlap (Jaccard) of the dimensions' neuron sets."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr

from nnvalues.errors import UsageError
from nnvalues.figures.output import Figure, Skip, Table
from nnvalues.figures.sources import Sources
from nnvalues.select.chance import ChanceCount, fdr_chance, threshold_chance
from nnvalues.select.rules import FDR, Threshold, TopK
from nnvalues.select.selection import Selection
from nnvalues.taxonomy import dimension as lookup

PAPER_RULE = ("threshold", 0.03)
FDR_RULE = ("fdr", 0.05)
THRESHOLDS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3)


def rule_label(kind: str, value: float) -> str:
    return {"threshold": f"paper |delta| >= {value:g}", "fdr": f"FDR q = {value:g}",
            "top-k": f"top-{int(value)}"}.get(kind, f"{kind} {value:g}")


def choose(cell: xr.Dataset, kind: str, value: float) -> Selection:
    """The neurons a rule selects in one cell (value and opposite roles)."""
    rule = {"threshold": Threshold, "fdr": FDR, "top-k": TopK}[kind]
    return rule(int(value) if kind == "top-k" else float(value)).choose(cell)


def chance(cell: xr.Dataset, kind: str, value: float) -> ChanceCount | None:
    """The rule's chance level, or None where it has none (top-k, unpaired cells)."""
    try:
        if kind == "threshold":
            return threshold_chance(cell, value)
        if kind == "fdr":
            return fdr_chance(cell, value, draws=100)
    except UsageError:
        return None
    return None


def _cells(sources: Sources) -> list[tuple[str, xr.Dataset]]:
    cube = sources.open_cube()
    return [(str(d), cube.sel(dimension=d)) for d in cube["dimension"].values]


def layer_counts(sources: Sources, rules: list[tuple[str, float]]) -> pd.DataFrame:
    """Per dimension, rule and layer: neurons selected and the count chance would select."""
    rows = []
    for dim, cell in _cells(sources):
        layers = cell.sizes["layer"]
        for kind, value in rules:
            try:
                chosen = choose(cell, kind, value)
            except UsageError as reason:
                raise Skip(f"{rule_label(kind, value)} cannot run on this cube: {reason}") from None
            observed = np.bincount(chosen.layer, minlength=layers)
            level = chance(cell, kind, value)
            expected = level.per_layer if level is not None else np.full(layers, np.nan)
            rows += [{"dimension": dim, "rule": rule_label(kind, value), "layer": layer,
                      "selected": int(observed[layer]), "chance": float(expected[layer]),
                      "share": observed[layer] / cell.sizes["neuron"]} for layer in range(layers)]
    return pd.DataFrame(rows)


def layer_figure(sources: Sources, rules: list[tuple[str, float]] = [PAPER_RULE, FDR_RULE]) -> list:
    counts = layer_counts(sources, rules)
    dims = list(dict.fromkeys(counts["dimension"]))
    fig, axes = plt.subplots(1, len(dims), figsize=(3.4 * len(dims) + 1.5, 3.2), squeeze=False, sharey=True)
    colours = dict(zip(dict.fromkeys(counts["rule"]), sns.color_palette("colorblind")))
    for ax, dim in zip(axes[0], dims):
        for rule, part in counts[counts["dimension"] == dim].groupby("rule", sort=False):
            ax.plot(part["layer"], part["selected"], "-o", ms=2.5, color=colours[rule], label=f"{rule}")
            ax.plot(part["layer"], part["chance"], ":", color=colours[rule], label=f"{rule}, chance level")
        ax.set_title(lookup(dim).name)
        ax.set_xlabel("layer")
    axes[0][0].set_ylabel("selected neurons per layer (count)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    totals = counts.groupby(["dimension", "rule"], sort=False)[["selected", "chance"]].sum().reset_index()
    what = "layer distribution of the selected neurons; dotted: expected under within-pair label flips"
    table = totals.assign(dimension=[lookup(d).name for d in totals["dimension"]],
                          chance=totals["chance"].round(1))
    return [Figure("layer_distribution", fig, sources.cube_caption(what)),
            Table("layer_distribution", "Selected neurons per layer, per dimension and rule",
                  counts.round(4), sources.cube_caption(what)),
            Table("layer_distribution_totals", "Selected neurons in all layers against chance",
                  table, sources.cube_caption(what))]


def threshold_counts(sources: Sources, thresholds: tuple[float, ...] = THRESHOLDS) -> pd.DataFrame:
    rows = []
    for dim, cell in _cells(sources):
        total = cell.sizes["layer"] * cell.sizes["neuron"]
        for t in thresholds:
            observed = len(choose(cell, "threshold", t))
            level = chance(cell, "threshold", t)
            if level is None:
                raise Skip("the cube is not paired per prompt: no chance level from label flips")
            rows.append({"dimension": lookup(dim).name, "threshold": t, "selected": observed,
                         "selected_pct": 100 * observed / total, "chance": round(level.expected, 1),
                         "chance_low": level.low, "chance_high": level.high,
                         "chance_share_pct": 100 * level.expected / observed if observed else np.nan})
    return pd.DataFrame(rows)


def chance_figure(sources: Sources, thresholds: tuple[float, ...] = THRESHOLDS) -> list:
    counts = threshold_counts(sources, thresholds)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (dim, part), colour in zip(counts.groupby("dimension", sort=False), sns.color_palette("colorblind")):
        ax.plot(part["threshold"], part["selected"], "-o", ms=3, color=colour, label=f"{dim}: observed")
        ax.plot(part["threshold"], part["chance"], ":", color=colour, label=f"{dim}: chance")
        ax.fill_between(part["threshold"], part["chance_low"], part["chance_high"], color=colour, alpha=0.15)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlabel("threshold t on |delta| (difference of activation probabilities)")
    ax.set_ylabel("neurons with |delta| >= t (count)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    what = "paper rule: observed vs chance-level counts per threshold (95% band, within-pair label flips)"
    return [Figure("chance_counts", fig, sources.cube_caption(what)),
            Table("chance_counts", "Observed and chance-level neuron counts per threshold",
                  counts.round(4), sources.cube_caption(what))]


def jaccard(a: Selection, b: Selection, role: str | None = None) -> float:
    """|A & B| / |A | B| of two selections' neurons (of one role, or of both)."""
    def keys(s: Selection) -> set[tuple[int, int]]:
        keep = np.ones(len(s), dtype=bool) if role is None else s.role == role
        return set(zip(s.layer[keep].tolist(), s.neuron[keep].tolist()))
    first, second = keys(a), keys(b)
    union = first | second
    return len(first & second) / len(union) if union else np.nan


def overlap_figure(sources: Sources, rules: list[tuple[str, float]] = [PAPER_RULE, FDR_RULE]) -> list:
    cells = _cells(sources)
    if len(cells) < 2:
        raise Skip("the cube holds one dimension: nothing to overlap")
    fig, axes = plt.subplots(1, len(rules), figsize=(5.0 * len(rules), 4.2), squeeze=False)
    rows = []
    for ax, (kind, value) in zip(axes[0], rules):
        try:
            chosen = {dim: choose(cell, kind, value) for dim, cell in cells}
        except UsageError as reason:
            raise Skip(f"{rule_label(kind, value)}: {reason}") from None
        names = [lookup(d).name for d in chosen]
        grid = pd.DataFrame([[jaccard(chosen[a], chosen[b], "value") for b in chosen] for a in chosen],
                            index=names, columns=names)
        sns.heatmap(grid, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", ax=ax,
                    cbar_kws={"label": "Jaccard index of the value neurons"})
        ax.set_title(rule_label(kind, value))
        ax.set_xticklabels(ax.get_xticklabels(), rotation=20)
        for a in chosen:
            for b in chosen:
                rows.append({"rule": rule_label(kind, value), "dimension": lookup(a).name,
                             "other": lookup(b).name, "jaccard_value": jaccard(chosen[a], chosen[b], "value"),
                             "jaccard_all": jaccard(chosen[a], chosen[b])})
    fig.tight_layout()
    what = "overlap of the dimensions' value neurons (Jaccard); the CSV adds both roles together"
    return [Figure("neuron_overlap", fig, sources.cube_caption(what)),
            Table("neuron_overlap", "Jaccard overlap of the dimensions' neuron sets", pd.DataFrame(rows).round(4),
                  sources.cube_caption(what))]
