"""The PVQ40 profile: the model's centred self-rating of Schwartz's ten basic values, unedited
and edited, on the values' circular arrangement.

The results store keeps every item's keyed rating; the item's basic value follows from
Schwartz's PVQ40 scoring key (item numbers per value, fixed by the questionnaire), so the
profile needs no download.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nnvalues.evaluate.grid import UNEDITED
from nnvalues.evaluate.report import METHOD_NAMES
from nnvalues.figures.output import Figure, Skip
from nnvalues.figures.sources import Sources
from nnvalues.taxonomy import DIMENSION_IDS
from nnvalues.taxonomy import dimension as lookup

CIRCLE = ("self_direction", "stimulation", "hedonism", "achievement", "power", "security",
          "conformity", "tradition", "benevolence", "universalism")
"""The ten basic values in their order around Schwartz's circle."""
PVQ40_KEY: dict[str, tuple[int, ...]] = {
    "self_direction": (1, 11, 22, 34), "stimulation": (6, 15, 30), "hedonism": (10, 26, 37),
    "achievement": (4, 13, 24, 32), "power": (2, 17, 39), "security": (5, 14, 21, 31, 35),
    "conformity": (7, 16, 28, 36), "tradition": (9, 20, 25, 38), "benevolence": (12, 18, 27, 33),
    "universalism": (3, 8, 19, 23, 29, 40),
}
"""Schwartz's PVQ40 scoring key: the portraits (numbered 1-40) of each basic value."""
ITEM_VALUE = {f"pvq40-{n:02d}": value for value, numbers in PVQ40_KEY.items() for n in numbers}


def item_profile(items: np.ndarray, scores: np.ndarray) -> pd.Series:
    """Mean keyed rating per basic value of the PVQ40 items given (others are ignored)."""
    frame = pd.DataFrame({"value": [ITEM_VALUE.get(str(i)) for i in items], "score": scores})
    return frame.dropna(subset=["value"]).groupby("value")["score"].mean().reindex(list(CIRCLE))


def profiles(sources: Sources, method: str = "paper", gamma: float | None = None) -> pd.DataFrame:
    """Rows: edited dimension (or none), direction, basic value, mean centred rating."""
    store = sources.results_store()
    rows = []
    for key in store.models():
        for name in store.cells(key):
            attrs = store.cell_attrs(key, name)
            if attrs.get("method") not in (method, UNEDITED) or attrs.get("set") != "heldout" \
                    or int(attrs.get("neurons", 0)) != 0:
                continue
            if attrs.get("measured_dimension", attrs["dimension"]) != attrs["dimension"]:
                continue
            data = store.read_cell(key, name)
            if "likert_score" not in data:
                continue
            pvq = np.array([str(i) == "pvq40" for i in data["likert_instrument"].values])
            profile = item_profile(data["item"].values[pvq], data["likert_score"].values[pvq])
            if profile.notna().sum() == 0:
                continue
            rows += [{"model": attrs["model"], "method": attrs["method"], "dimension": attrs["dimension"],
                      "direction": attrs["direction"], "gamma": float(attrs["gamma"]),
                      "threshold": float(attrs.get("threshold", 0.0)), "value": v, "score": s}
                     for v, s in profile.items()]
    table = pd.DataFrame(rows)
    if table.empty:
        raise Skip("no PVQ40 ratings (run evaluate with --metrics likert)")
    if sources.model is not None:
        table = table[table["model"] == sources.model]
    edited = table[table["method"] == method]
    if edited.empty:
        raise Skip(f"no PVQ40 ratings of {method} edits")
    wanted = gamma if gamma is not None else (2.0 if 2.0 in set(edited["gamma"]) else edited["gamma"].max())
    threshold = edited["threshold"].mode().iloc[0]
    keep = (table["method"] == UNEDITED) | (np.isclose(table["gamma"], wanted) & (table["threshold"] == threshold))
    return table[keep]


def profile_figure(sources: Sources, method: str = "paper", gamma: float | None = None) -> Figure:
    table = profiles(sources, method, gamma)
    base = table[table["method"] == UNEDITED].groupby("value")["score"].mean().reindex(list(CIRCLE))
    edited = table[table["method"] != UNEDITED]
    dims = [d for d in DIMENSION_IDS if d in set(edited["dimension"])]
    fig, axes = plt.subplots(1, len(dims), figsize=(3.6 * len(dims) + 1.5, 3.8), squeeze=False,
                             subplot_kw={"projection": "polar"})
    angles = np.linspace(0, 2 * np.pi, len(CIRCLE), endpoint=False)
    closed = np.append(angles, angles[0])
    names = [v.replace("_", "-").title() for v in CIRCLE]
    for ax, dim in zip(axes[0], dims):
        ax.plot(closed, np.append(base.values, base.values[0]), color="0.3", lw=1.2, label="unedited")
        for direction, colour in (("positive", "C0"), ("negative", "C3")):
            part = edited[(edited["dimension"] == dim) & (edited["direction"] == direction)]
            if part.empty:
                continue
            scores = part.groupby("value")["score"].mean().reindex(list(CIRCLE)).values
            ax.plot(closed, np.append(scores, scores[0]), color=colour, lw=1.2, label=f"{direction} edit")
        ax.set_xticks(angles)
        ax.set_xticklabels(names, fontsize=6)
        ax.tick_params(axis="y", labelsize=6)
        ax.set_title(f"edited: {lookup(dim).name}", fontsize=9, pad=14)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    gamma_used = float(edited["gamma"].iloc[0])
    what = (f"PVQ40 profile (mean rating centred on the model's mean, 1-6 scale, radial) of the ten "
            f"basic values on Schwartz's circle; {METHOD_NAMES.get(method, method)} edits, gamma {gamma_used:g}")
    return Figure("pvq40_profile", fig, f"results {sources.results} · model "
                  f"{', '.join(sorted(set(table['model'])))} · {what}")
