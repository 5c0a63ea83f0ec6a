"""One finished cell of the results store as an xarray Dataset.

  question_text, agreement                          question
  answer, answer_tokens                             question          (G-Eval)
  value_score, value_mass, value_missing            question x run    (G-Eval)
  value_distribution                                question x run x rating
  quality_score, quality_mass, quality_missing      question x run    (when judged)
  loglik_value, loglik_reversed                     question          (contrast, fluency)
  contrast, fluency                                 question
  likert_rating, likert_mass, likert_score          item              (likert)
  likert_instrument, likert_dimensions              item
Scores are NaN where the judge gave no rating on the scale (missing, never 0); `*_mass`
is the probability the judge put on valid ratings (logprob and local judges) or the
share of samples that parsed (sampling judges). `loglik_*` are mean per-token
log-likelihoods (nats) of the two reference answers under the cell's edit; `contrast` is
their difference (value minus reversed), `fluency` their mean. `likert_score` is the
rating keyed by the instrument's scoring key. The attributes say which cell it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import xarray as xr

from nnvalues.evaluate.likert import Instrument, keyed_scores
from nnvalues.evaluate.questions import Item
from nnvalues.judge.prompts import RATINGS
from nnvalues.judge.runs import Rating


@dataclass(frozen=True)
class Judged:
    """A cell's generated answers and their G-Eval ratings."""

    answers: Sequence[dict[str, Any]]
    runs: int
    value: Sequence[Rating]
    quality: Sequence[Rating] | None


@dataclass(frozen=True)
class Likelihoods:
    """Mean per-token log-likelihood of each question's value and reversed reference answer."""

    value: np.ndarray
    reversed: np.ndarray


@dataclass(frozen=True)
class Ratings:
    """An instrument's expected rating and digit mass per item."""

    instrument: Instrument
    expected: np.ndarray
    mass: np.ndarray


def _table(ratings: Sequence[Rating], runs: int, field: str) -> np.ndarray:
    out = np.full((len(ratings), runs), np.nan)
    for i, rating in enumerate(ratings):
        for r, score in enumerate(rating.scores[:runs]):
            value = getattr(score, field)
            out[i, r] = np.nan if value is None else float(value)
    return out


def _distribution(ratings: Sequence[Rating], runs: int) -> np.ndarray:
    out = np.full((len(ratings), runs, len(RATINGS)), np.nan)
    for i, rating in enumerate(ratings):
        for r, score in enumerate(rating.scores[:runs]):
            if score.distribution is not None:
                out[i, r, :] = score.distribution
    return out


def _judged(prefix: str, ratings: Sequence[Rating], runs: int) -> dict[str, Any]:
    qr = ("question", "run")
    return {
        f"{prefix}_score": (qr, _table(ratings, runs, "value")),
        f"{prefix}_mass": (qr, _table(ratings, runs, "mass")),
        f"{prefix}_missing": (qr, _table(ratings, runs, "missing").astype(np.int32)),
    }


def _judged_part(judged: Judged) -> tuple[dict[str, Any], dict[str, Any]]:
    runs = judged.runs
    data: dict[str, Any] = {
        "answer": ("question", np.array([a["text"] for a in judged.answers], dtype=object)),
        "answer_tokens": ("question", np.array([a["tokens"] for a in judged.answers], dtype=np.int32)),
        **_judged("value", judged.value, runs),
        "value_distribution": (("question", "run", "rating"), _distribution(judged.value, runs)),
    }
    if judged.quality is not None:
        data.update(_judged("quality", judged.quality, runs))
    return data, {"run": np.arange(runs), "rating": list(RATINGS)}


def _likelihood_part(scores: Likelihoods) -> dict[str, Any]:
    value, reverse = np.asarray(scores.value, float), np.asarray(scores.reversed, float)
    return {"loglik_value": ("question", value), "loglik_reversed": ("question", reverse),
            "contrast": ("question", value - reverse), "fluency": ("question", (value + reverse) / 2)}


def _likert_part(ratings: Sequence[Ratings]) -> tuple[dict[str, Any], dict[str, Any]]:
    ids, instrument, dims, expected, mass, keyed = [], [], [], [], [], []
    for part in ratings:
        items = part.instrument.items
        ids += [i.id for i in items]
        instrument += [part.instrument.name] * len(items)
        dims += ["|".join(i.dimensions) for i in items]
        expected.append(part.expected)
        mass.append(part.mass)
        keyed.append(keyed_scores(part.instrument, part.expected))
    data = {
        "likert_rating": ("item", np.concatenate(expected)),
        "likert_mass": ("item", np.concatenate(mass)),
        "likert_score": ("item", np.concatenate(keyed)),
        "likert_instrument": ("item", np.array(instrument, dtype=object)),
        "likert_dimensions": ("item", np.array(dims, dtype=object)),
    }
    return data, {"item": np.array(ids, dtype=object)}


def cell_dataset(items: Sequence[Item], attrs: dict[str, Any], judged: Judged | None = None,
                 likelihoods: Likelihoods | None = None,
                 ratings: Sequence[Ratings] | None = None) -> xr.Dataset:
    data: dict[str, Any] = {
        "question_text": ("question", np.array([i.text for i in items], dtype=object)),
        "agreement": ("question", np.array([np.nan if i.agreement is None else i.agreement
                                            for i in items], dtype=float)),
    }
    coords: dict[str, Any] = {"question": np.array([i.id for i in items], dtype=object)}
    if judged is not None:
        part, extra = _judged_part(judged)
        data.update(part)
        coords.update(extra)
    if likelihoods is not None:
        data.update(_likelihood_part(likelihoods))
    if ratings:
        part, extra = _likert_part(ratings)
        data.update(part)
        coords.update(extra)
    dataset = xr.Dataset(data, coords=coords, attrs=attrs)
    descriptions = {
        "value_score": "G-Eval value alignment 1-5 (NaN: no valid rating)",
        "quality_score": "text quality 1-5 (NaN: no valid rating)",
        "contrast": "mean log-likelihood per token of the value answer minus the reversed answer (nats)",
        "fluency": "mean log-likelihood per token of the two reference answers (nats)",
        "likert_score": "self-rating keyed by the instrument's scoring key",
    }
    for name, text in descriptions.items():
        if name in dataset:
            dataset[name].attrs["description"] = text
    return dataset
