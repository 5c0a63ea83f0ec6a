"""CGVST (Song et al., EMNLP 2024, "Does Large Language Model Contain Task-Specific Neurons?",
ACL Anthology 2024.emnlp-main.403): attribution restricted to the most significant tokens.

The original paper localises task-specific neurons by "causal gradient variation with
special tokens", concentrating on the few input tokens that matter most; no code of it is
public and its exact formula could not be recovered. This is the closest documented
reading, and it is named as such wherever it is reported:

- objective: the log-likelihood of the prompt's target tokens (the answer);
- attribution of neuron k at input position t: a_{t,k} * d objective / d a_{t,k}
  (gradient x activation of the act_fn output);
- significant tokens: the `tokens` real positions (prompt and answer prefix) with the
  largest total |attribution| over all layers and neurons, chosen per prompt;
- score: the attribution summed over those positions, averaged over the prompts of a
  polarity.
One forward and one backward pass per prompt.
"""

from __future__ import annotations

from typing import Any

import torch

from nnvalues.baselines.batches import ScoringBatch
from nnvalues.baselines.method import AnswerGradientMethod, by_polarity
from nnvalues.errors import UsageError


class Cgvst(AnswerGradientMethod):
    name = "cgvst"
    description = ("gradient x activation at each prompt's most significant tokens, the closest "
                   "documented reading of Song et al. 2024 (CGVST)")

    def __init__(self, tokens: int = 4):
        if tokens < 1:
            raise UsageError(f"`significant_tokens` must be at least 1 (got {tokens})")
        self.tokens = tokens

    def parameters(self) -> dict[str, Any]:
        return {"significant_tokens": self.tokens, "objective": "target log-likelihood",
                "attribution": "gradient x act_fn output",
                "reading": "closest documented reading (no public code)"}

    def objective(self, batch: ScoringBatch, logits: torch.Tensor) -> torch.Tensor:
        """The log-likelihood of every row's target."""
        return batch.target_log_likelihood(logits).sum()

    def reduce(self, activations: list[torch.Tensor], gradients: list[torch.Tensor],
               batch: ScoringBatch) -> torch.Tensor:
        attributions = [a * g for a, g in zip(activations, gradients)]  # per layer [rows, seq, neuron]
        significance = sum(a.abs().sum(dim=-1) for a in attributions)  # [rows, seq]
        real = batch.batch.attention_mask.bool()
        significance = significance.masked_fill(~real, -1.0)
        chosen = torch.zeros_like(real)
        top = significance.topk(min(self.tokens, significance.shape[1]), dim=1).indices
        chosen.scatter_(1, top, True)
        chosen &= real
        weights = chosen.float()[:, :, None]
        per_row = torch.stack([(a * weights).sum(dim=1) for a in attributions], dim=1)
        return by_polarity(per_row, batch)
