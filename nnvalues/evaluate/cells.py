"""One finished cell of the results store as an xarray Dataset.

  question_text, agreement, answer, answer_tokens    question
  value_score, value_mass, value_missing             question x run
  value_distribution                                 question x run x rating
  quality_score, quality_mass, quality_missing       question x run   (when judged)
Scores are NaN where the judge gave no rating on the scale (missing, never 0); `*_mass`
is the probability the judge put on valid ratings (logprob and local judges) or the
share of samples that parsed (sampling judges). The attributes say which cell it is.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import xarray as xr

from nnvalues.evaluate.questions import Item
from nnvalues.judge.prompts import RATINGS
from nnvalues.judge.runs import Rating


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


def cell_dataset(items: Sequence[Item], answers: Sequence[dict[str, Any]], runs: int,
                 value: Sequence[Rating], quality: Sequence[Rating] | None,
                 attrs: dict[str, Any]) -> xr.Dataset:
    data: dict[str, Any] = {
        "question_text": ("question", np.array([i.text for i in items], dtype=object)),
        "agreement": ("question", np.array([np.nan if i.agreement is None else i.agreement
                                            for i in items], dtype=float)),
        "answer": ("question", np.array([a["text"] for a in answers], dtype=object)),
        "answer_tokens": ("question", np.array([a["tokens"] for a in answers], dtype=np.int32)),
        **_judged("value", value, runs),
        "value_distribution": (("question", "run", "rating"), _distribution(value, runs)),
    }
    if quality is not None:
        data.update(_judged("quality", quality, runs))
    coords = {"question": np.array([i.id for i in items], dtype=object), "run": np.arange(runs),
              "rating": list(RATINGS)}
    dataset = xr.Dataset(data, coords=coords, attrs=attrs)
    dataset["value_score"].attrs["description"] = "G-Eval value alignment 1-5 (NaN: no valid rating)"
    if quality is not None:
        dataset["quality_score"].attrs["description"] = "text quality 1-5 (NaN: no valid rating)"
    return dataset
