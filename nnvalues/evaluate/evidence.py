"""The evidence table of a results store: one row per cell x metric, with n, the mean and
its 95% bootstrap interval, and the paired differences against the unedited model and
against the random control (pooled over its seeds), each with an interval and a paired
sign-flip p-value (`nnvalues.evaluate.statistics`).

Units are what a metric scores: questions (G-Eval, contrast, fluency; a G-Eval score is
first averaged over judge runs) or questionnaire items (likert, the items of the measured
dimension). A random control is shown once per reference selection, pooled over seeds:
its per-unit score is the mean over the seeds, and `seed_sd` is the spread between the
seeds' mean effects. `p_value` is the test the claim rests on: for a selection, against
its random control (against the unedited model when the grid has none); for a random
control, against the unedited model. `p_holm` and `p_bh` adjust it over the whole table.
"""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from nnvalues.errors import StoreError
from nnvalues.evaluate.grid import RANDOM, UNEDITED
from nnvalues.evaluate.statistics import (
    DEFAULT_RESAMPLES,
    Estimate,
    adjust,
    estimate,
    paired_difference,
    pool_seeds,
)
from nnvalues.evaluate.store import ResultsStore

LABELS = ("model", "set", "method", "control_of", "dimension", "measured_dimension", "direction",
          "gamma", "neurons", "threshold")
COLUMNS = (*LABELS, "metric", "n", "mean", "ci_low", "ci_high", "diff_unedited",
           "diff_unedited_ci_low", "diff_unedited_ci_high", "diff_random", "diff_random_ci_low",
           "diff_random_ci_high", "p_value", "p_unedited", "p_random", "p_holm", "p_bh", "seeds",
           "seed_sd", "mass", "edited_neurons")


def _labels(attrs: dict[str, Any], old_threshold: float) -> dict[str, Any]:
    """A cell's labels; cells written before the threshold axis take the store's threshold."""
    paper = attrs["method"] == "paper" or (attrs["method"] == RANDOM and "control_of" not in attrs)
    return {"model": attrs["model"], "set": attrs["set"], "method": attrs["method"],
            "control_of": attrs.get("control_of", "paper" if attrs["method"] == RANDOM else ""),
            "dimension": attrs["dimension"],
            "measured_dimension": attrs.get("measured_dimension", attrs["dimension"]),
            "direction": attrs["direction"], "gamma": float(attrs["gamma"]),
            "neurons": int(attrs["neurons"]), "threshold": float(attrs.get("threshold", old_threshold if paper else 0.0)),
            "seed": int(attrs.get("seed", -1)),
            "edited_neurons": int(attrs.get("value_neurons", 0)) + int(attrs.get("opposite_neurons", 0))}


def _series(values: np.ndarray, units: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=np.float64), index=[str(u) for u in units])


def unit_scores(data: xr.Dataset) -> dict[str, tuple[pd.Series, float]]:
    """metric -> (score per unit, mean probability mass on the scale or NaN)."""
    questions = data["question"].values
    found: dict[str, tuple[pd.Series, float]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: missing ratings
        for metric in ("value", "quality"):
            if f"{metric}_score" in data:
                per_question = np.nanmean(data[f"{metric}_score"].values, axis=1)
                found[metric] = (_series(per_question, questions),
                                 float(np.nanmean(data[f"{metric}_mass"].values)))
    for metric in ("contrast", "fluency"):
        if metric in data:
            found[metric] = (_series(data[metric].values, questions), np.nan)
    if "likert_score" in data:
        measured = data.attrs.get("measured_dimension", data.attrs["dimension"])
        dims = [str(d).split("|") for d in data["likert_dimensions"].values]
        instruments = [str(i) for i in data["likert_instrument"].values]
        for name in dict.fromkeys(instruments):
            keep = np.array([i == name and measured in d for i, d in zip(instruments, dims)])
            if keep.any():
                found[f"likert-{name}"] = (
                    _series(data["likert_score"].values[keep], data["item"].values[keep]),
                    float(np.mean(data["likert_mass"].values[keep])))
    return found


def _read(path: Path | str) -> list[tuple[dict[str, Any], dict[str, tuple[pd.Series, float]]]]:
    store = ResultsStore.open(path)
    old_threshold = float(store.settings.get("selection", {}).get("threshold", 0.0))
    cells = [(_labels(data.attrs, old_threshold), unit_scores(data))  # damaged cells: skipped, warned
             for key in store.models() for _, data in store.readable_cells(key)]
    if not cells:
        raise StoreError(f"{store.path} holds no finished cells yet")
    return cells


def _seed(base: int, *parts: Any) -> int:
    return base + zlib.crc32("|".join(map(str, parts)).encode())


def _put(row: dict[str, Any], prefix: str, found: Estimate) -> None:
    row[prefix], row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"] = found.mean, found.ci_low, found.ci_high


def _aligned(series: pd.Series, index: pd.Index) -> np.ndarray:
    return series.reindex(index).to_numpy(dtype=np.float64)


def evidence_table(path: Path | str, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """One row per cell x metric (random controls pooled over seeds), in `COLUMNS` order."""
    cells = _read(path)
    unedited = {(c["model"], c["set"], c["measured_dimension"], m): s
                for c, scores in cells if c["method"] == UNEDITED for m, (s, _) in scores.items()}
    controls: dict[tuple, list[pd.Series]] = {}
    for c, scores in cells:
        if c["method"] == RANDOM:
            for metric, (s, _) in scores.items():
                key = (*(c[k] for k in LABELS if k != "method"), metric)
                controls.setdefault(key, []).append(s)
    rows = []
    done_controls: set[tuple] = set()
    for c, scores in cells:
        for metric, (values, mass) in scores.items():
            labels = {k: c[k] for k in LABELS}
            row: dict[str, Any] = {**labels, "metric": metric, "mass": mass,
                                   "edited_neurons": c["edited_neurons"], "seeds": 0, "seed_sd": np.nan}
            base = unedited.get((c["model"], c["set"], c["measured_dimension"], metric))
            rng_seed = _seed(seed, *labels.values(), metric)
            if c["method"] == RANDOM:
                key = (*(c[k] for k in LABELS if k != "method"), metric)
                if key in done_controls:
                    continue
                done_controls.add(key)
                per_seed = controls[key]
                index = per_seed[0].index
                pooled = pool_seeds([_aligned(s, index) for s in per_seed])
                values = pd.Series(pooled.per_unit, index=index)
                row["seeds"] = pooled.seeds
            level = estimate(values.to_numpy(), rng_seed, resamples)
            row.update(n=level.n, mean=level.mean, ci_low=level.ci_low, ci_high=level.ci_high)
            vs_unedited = vs_random = Estimate.empty()
            if base is not None and c["method"] != UNEDITED:
                vs_unedited = paired_difference(values.to_numpy(), _aligned(base, values.index),
                                                rng_seed + 1, resamples)
                if c["method"] == RANDOM:
                    row["seed_sd"] = _seed_spread(per_seed, base, values.index)
            if c["method"] not in (UNEDITED, RANDOM):
                key = (*(labels[k] for k in LABELS if k not in ("method", "control_of")), metric)
                per_seed = controls.get((key[0], key[1], c["method"], *key[2:]), [])
                if per_seed:
                    pooled = pool_seeds([_aligned(s, values.index) for s in per_seed])
                    vs_random = paired_difference(values.to_numpy(), pooled.per_unit, rng_seed + 2, resamples)
                    row["seeds"] = pooled.seeds
                    row["seed_sd"] = _seed_spread(per_seed, values, values.index, sign=-1)
            _put(row, "diff_unedited", vs_unedited)
            _put(row, "diff_random", vs_random)
            row["p_unedited"], row["p_random"] = vs_unedited.p_value, vs_random.p_value
            row["p_value"] = vs_random.p_value if vs_random.n else vs_unedited.p_value
            rows.append(row)
    table = pd.DataFrame(rows)
    table["p_holm"] = adjust(table["p_value"].to_numpy(), "holm")
    table["p_bh"] = adjust(table["p_value"].to_numpy(), "bh")
    order = ["model", "set", "metric", "measured_dimension", "dimension", "direction", "gamma",
             "neurons", "method", "control_of", "threshold"]
    return table.sort_values(order, kind="stable").reset_index(drop=True)[list(COLUMNS)]


def _seed_spread(per_seed: list[pd.Series], other: pd.Series, index: pd.Index, sign: int = 1) -> float:
    """SD over seeds of each seed's mean paired effect (control - other, or other - control)."""
    reference = _aligned(other, index)
    effects = [np.nanmean(sign * (_aligned(s, index) - reference)) for s in per_seed]
    return float(np.std(effects, ddof=1)) if len(effects) > 1 else np.nan
