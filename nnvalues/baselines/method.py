"""What every scoring method provides to the shared run: per-batch sums and a final score."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nnvalues.baselines import traced
from nnvalues.baselines.batches import ActivationHooks, ScoringBatch
from nnvalues.baselines.store import ScoreTally
from nnvalues.errors import UsageError
from nnvalues.models.architecture import Architecture
from nnvalues.models.loading import LoadedModel


class ScoringMethod:
    """A baseline scored prompt by prompt; subclasses set `name` and `score_batch`."""

    name = ""
    description = ""
    needs_pairs = False
    """Whether every prompt must belong to a pair (attribution patching)."""
    value_answer = False
    """Whether the reversed prompt of a pair is scored on the value prompt's target."""
    traced = False
    """Whether `traced_batch` exists: the method can run on NDIF (or its simulation)."""

    def parameters(self) -> dict[str, Any]:
        return {}

    def score_batch(self, loaded: LoadedModel, batch: ScoringBatch,
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """[layer, polarity, neuron] summed scores of the batch, and optional [layer, neuron]
        counts for `ScoreTally.aux`."""
        raise NotImplementedError

    def traced_batch(self, envoy: Any, architecture: Architecture, batch: ScoringBatch,
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`score_batch` inside an nnsight session, computed where the model is."""
        raise UsageError(f"{self.name} runs on a local model only: drop --remote/--ndif-host")

    def finalise(self, tally: ScoreTally) -> np.ndarray:
        """[layer, polarity, neuron] the stored score: by default the mean per prompt."""
        return tally.mean()


class AnswerGradientMethod(ScoringMethod):
    """A method scored from one forward and one backward pass per batch: the gradient of
    `objective` (of the batch's logits for its target columns) with respect to every layer's
    activation, turned into [layer, polarity, neuron] sums by `reduce`. The same `reduce`
    serves plain hooks here and nnsight traces on NDIF."""

    traced = True

    def objective(self, batch: ScoringBatch, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reduce(self, activations: list[torch.Tensor], gradients: list[torch.Tensor],
               batch: ScoringBatch) -> torch.Tensor:
        """[layer, polarity, neuron] sums from each layer's float32 [rows, seq, neuron]
        activation (detached) and the objective's gradient with respect to it."""
        raise NotImplementedError

    def score_batch(self, loaded: LoadedModel, batch: ScoringBatch) -> tuple[torch.Tensor, None]:
        with torch.enable_grad(), ActivationHooks(loaded) as hooks:
            logits = loaded.hf_model(**batch.model_inputs()).logits
            grads = hooks.gradients(self.objective(batch, logits))
        return self.reduce([a.detach().float() for a in hooks.raw], grads, batch), None

    def traced_batch(self, envoy: Any, architecture: Architecture, batch: ScoringBatch,
                     ) -> tuple[torch.Tensor, None]:
        with envoy.trace(batch.model_inputs()):
            raw = traced.activations(envoy, architecture)
            batch = batch.to(raw[0].device)
            logits = envoy.output.logits
            with traced.exact(logits):
                objective = self.objective(batch, logits)
            with objective.backward():
                grads = traced.gradients(raw)
                with traced.exact(logits):
                    sums = self.reduce([a.detach().float() for a in raw], grads, batch)
        return sums, None


def by_polarity(per_row: torch.Tensor, batch: ScoringBatch) -> torch.Tensor:
    """[rows, layer, neuron] -> [layer, polarity, neuron] sums over the rows of each polarity."""
    polarity = batch.batch.polarity.to(per_row.dtype)
    return torch.einsum("rp,rln->lpn", polarity, per_row)


def rows_at(x: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """[rows, seq, ...] -> [rows, ...] the given column of each row."""
    return x[torch.arange(x.shape[0], device=x.device), columns.to(x.device)]
