"""Neuron sets from baseline scores, sized and weighted like the ValueLocate set they face.

    nv.select("stores/activations.zarr", dimension="conservation", rule=Baseline("lpip"))

- Direction: d = score(+) - score(-) per neuron; the neurons with the largest positive d
  are the `value` role, those with the most negative d the `opposite` role.
- Size: by default each role gets as many neurons as the ValueLocate set (the paper's
  rule, delta >= 0.03 / <= -0.03, on the same cube cell) has in that role, so a comparison
  tests which neurons are found, not how many; `per_role` sets both sizes instead.
- Effect size for eq. 6: baseline scores have no common unit (log-probabilities, gradient
  products, activations), so each chosen neuron takes the ValueLocate delta of the same
  rank within its role: the strongest baseline neuron gets the largest |delta|, and so on
  (quantiles of the ValueLocate deltas when the sizes differ). The edit then has the
  ValueLocate set's strength profile and only the neurons differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from nnvalues.baselines.run import METHODS, default_score_store
from nnvalues.baselines.store import ScoreStore
from nnvalues.errors import StoreError, UsageError
from nnvalues.select.cell import open_cell
from nnvalues.select.neuron_set import NeuronSet
from nnvalues.select.rules import cell_deltas
from nnvalues.select.selecting import select
from nnvalues.select.selection import PAPER_THRESHOLD, ROLES, Selection, threshold_rule

EFFECT = "rank-matched to the ValueLocate set's deltas (quantiles within each role)"


@dataclass(frozen=True)
class Baseline:
    """A selection rule that reads a baseline's scores for the cell it is applied to."""

    kind: str
    """The method: lpip, qrnca, cgvst, meandiff or atp."""
    scores: str = ""
    """The score store (default: stores/baselines.zarr)."""
    per_role: int | None = None
    threshold: float = PAPER_THRESHOLD
    """The paper's rule that sizes the roles and supplies the deltas."""

    def __post_init__(self) -> None:
        if self.kind not in METHODS:
            raise UsageError(f"unknown --method {self.kind!r}; choose paper or one of {', '.join(METHODS)}")
        if self.per_role is not None and self.per_role < 1:
            raise UsageError(f"`per_role` must be at least 1 (got {self.per_role})")
        if not self.scores:
            object.__setattr__(self, "scores", str(default_score_store()))

    def difference(self, cell: xr.Dataset) -> tuple[np.ndarray, dict[str, Any]]:
        """[layer, neuron] score(+) - score(-) for the cell's model and dimension."""
        model, dimension = str(cell["model"].values), str(cell["dimension"].values)
        scored = ScoreStore.open(self.scores).open_scores(model, self.kind, dimension)
        held, revision = str(scored.attrs.get("model_revision", "")), str(cell["model_revision"].values)
        if held and held != revision:
            raise StoreError(f"{self.scores} scored {model} with other weights (revision "
                             f"{held[:12]}, the cube has {revision[:12]}): score it again")
        score = scored["score"].transpose("layer", "neuron", "polarity").values
        if score.shape[:2] != (cell.sizes["layer"], cell.sizes["neuron"]):
            raise StoreError(f"{self.kind} scores of {model} have another shape than its cube")
        return score[..., 0] - score[..., 1], dict(scored.attrs)

    def choose(self, cell: xr.Dataset) -> Selection:
        reference = threshold_rule(cell_deltas(cell), self.threshold)
        return choose_by_score(self.difference(cell)[0], reference, self.per_role)

    def parameters(self) -> dict[str, Any]:
        return {"sized_like": f"ValueLocate threshold {self.threshold}", "effect": "rank-matched",
                **({} if self.per_role is None else {"per_role": self.per_role}),
                "scores": self.scores}

    def explain_empty(self, cell: xr.Dataset, where: str) -> str:
        return (f"{self.kind} marks no neuron of {where} for either role (every score "
                "difference is 0, or the paper's rule selects nothing: try --per-role)")


def choose_by_score(difference: np.ndarray, reference: Selection, per_role: int | None,
                    ) -> Selection:
    """The strongest neurons of each role by `difference`, with rank-matched deltas."""
    layers, neurons, deltas, roles = [], [], [], []
    flat = np.nan_to_num(difference, nan=0.0).ravel()
    for role, sign in zip(ROLES, (1.0, -1.0)):
        wanted = reference.count(role) if per_role is None else per_role
        chosen = np.argsort(-sign * flat, kind="stable")[:wanted]
        chosen = chosen[sign * flat[chosen] > 0]
        strengths = np.sort(np.abs(reference.delta[reference.role == role]))[::-1]
        layer, neuron = np.unravel_index(chosen, difference.shape)
        layers.append(layer)
        neurons.append(neuron)
        deltas.append(sign * rank_matched(strengths, chosen.size))
        roles.append(np.full(chosen.size, role))
    return Selection(np.concatenate(layers), np.concatenate(neurons), np.concatenate(deltas),
                     np.concatenate(roles))


def rank_matched(strengths: np.ndarray, count: int) -> np.ndarray:
    """`count` magnitudes, strongest first, spread over the quantiles of `strengths` (sorted
    strongest first); the same values when the sizes agree, the paper's threshold when
    the reference role is empty."""
    if count == 0:
        return np.zeros(0)
    if strengths.size == 0:
        return np.full(count, PAPER_THRESHOLD)
    positions = np.linspace(0, strengths.size - 1, count) if count > 1 else np.zeros(1)
    return np.interp(positions, np.arange(strengths.size), strengths)


def baseline_set(cube_store_path: Path | str, score_store_path: Path | str, model: str | None,
                 dimension: str, method: str, per_role: int | None = None,
                 threshold: float = PAPER_THRESHOLD) -> NeuronSet:
    """The neuron set `method` finds for one model and dimension, comparable with the
    ValueLocate set of `cube_store_path` (the paper's rule at `threshold`); its `extra`
    keeps the method's parameters, the target rule and each neuron's score difference."""
    rule = Baseline(method, str(score_store_path), per_role, threshold)
    neuron_set = select(cube_store_path, dimension=dimension, model=model, rule=rule)
    difference, settings = rule.difference(open_cell(cube_store_path, neuron_set.model,
                                                     neuron_set.dimension))
    s = neuron_set.selection
    neuron_set.extra = {
        "effect": EFFECT, "method_parameters": settings.get("parameters", {}),
        "target_rule": settings.get("target_rule"), "target_tokens": settings.get("target_tokens"),
        "score_cell_created": settings.get("created"),
        "score_difference": difference[s.layer, s.neuron].tolist()}
    return neuron_set

