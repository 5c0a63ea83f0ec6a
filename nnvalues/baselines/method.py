"""What every scoring method provides to the shared run: per-batch sums and a final score."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nnvalues.baselines.batches import ScoringBatch
from nnvalues.baselines.store import ScoreTally
from nnvalues.models.loading import LoadedModel


class ScoringMethod:
    """A baseline scored prompt by prompt; subclasses set `name` and `score_batch`."""

    name = ""
    description = ""
    needs_pairs = False
    """Whether every prompt must belong to a pair (attribution patching)."""
    value_answer = False
    """Whether the reversed prompt of a pair is scored on the value prompt's target."""

    def parameters(self) -> dict[str, Any]:
        return {}

    def score_batch(self, loaded: LoadedModel, batch: ScoringBatch,
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """[layer, polarity, neuron] summed scores of the batch, and optional [layer, neuron]
        counts for `ScoreTally.aux`."""
        raise NotImplementedError

    def finalise(self, tally: ScoreTally) -> np.ndarray:
        """[layer, polarity, neuron] the stored score: by default the mean per prompt."""
        return tally.mean()


def by_polarity(per_row: torch.Tensor, batch: ScoringBatch) -> torch.Tensor:
    """[rows, layer, neuron] -> [layer, polarity, neuron] sums over the rows of each polarity."""
    polarity = batch.batch.polarity.to(per_row.dtype)
    return torch.einsum("rp,rln->lpn", polarity, per_row)


def rows_at(x: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """[rows, seq, ...] -> [rows, ...] the given column of each row."""
    return x[torch.arange(x.shape[0], device=x.device), columns.to(x.device)]
