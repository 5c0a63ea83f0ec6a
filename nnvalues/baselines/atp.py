"""Attribution patching (Nanda 2023; Syed et al. 2023, "AtP"): a first-order estimate of what
patching a neuron's activation from the reversed prompt into the value prompt does.

For each pair, both prompts are followed by the value answer (the target of the value
prompt). One forward pass runs the two rows; one backward pass takes the gradient g of the
value answer's log-likelihood on the value row. The prompts differ in the description only,
so their rows agree from some column to the end (left padding lines their ends up); over
those shared columns t,
    AtP_k = sum_t g_{t,k} * (a+_{t,k} - a-_{t,k})
estimates how much the value answer's log-likelihood would drop if neuron k took its
activation under the reversed description. Stored per polarity as score(+) = sum g a+ and
score(-) = sum g a-, so that score(+) - score(-) is the estimate (mean over pairs).
Description tokens, which have no counterpart in the other prompt, are not patched.
"""

from __future__ import annotations

from typing import Any

import torch

from nnvalues.baselines.batches import ScoringBatch
from nnvalues.baselines.method import AnswerGradientMethod


class AttributionPatching(AnswerGradientMethod):
    name = "atp"
    description = "attribution patching, value vs reversed description (Nanda 2023; Syed et al. 2023)"
    needs_pairs = True
    value_answer = True

    def parameters(self) -> dict[str, Any]:
        return {"objective": "value answer log-likelihood", "patched": "shared suffix columns",
                "activation": "act_fn output"}

    def objective(self, batch: ScoringBatch, logits: torch.Tensor) -> torch.Tensor:
        """The value answer's log-likelihood on the value rows."""
        return batch.target_log_likelihood(logits)[batch.batch.pairs[0].argmax(dim=1)].sum()

    def reduce(self, activations: list[torch.Tensor], gradients: list[torch.Tensor],
               batch: ScoringBatch) -> torch.Tensor:
        inner = batch.batch
        positive = inner.pairs[0].argmax(dim=1)
        negative = inner.pairs[1].argmax(dim=1)
        shared = shared_suffix(inner.input_ids, inner.attention_mask, positive, negative)
        weights = shared.float()[:, :, None]
        sums = []
        for raw, grad in zip(activations, gradients):
            g = grad[positive] * weights
            value = (g * raw[positive]).sum(dim=(0, 1))
            reversed_ = (g * raw[negative]).sum(dim=(0, 1))
            sums.append(torch.stack([value, reversed_]))
        return torch.stack(sums)


def shared_suffix(ids: torch.Tensor, mask: torch.Tensor, first: torch.Tensor,
                  second: torch.Tensor) -> torch.Tensor:
    """[pairs, seq] True on the columns from which the two rows of each pair agree to the end
    (real tokens only)."""
    same = (ids[first] == ids[second]) & mask[first].bool() & mask[second].bool()
    # A column is shared when it and every column after it agree.
    return same.flip(1).cumprod(dim=1).flip(1).bool()
