"""QRNCA (Chen, Dejl & Toni 2024, arXiv 2406.10868): integrated gradients clustered over queries.

Scored tensor: the act_fn output at the last prompt position, the neuron nnvalues edits
(the reference code scores `up_proj`'s output instead). For each layer l separately, the
layer's activation a at that position is scaled by alpha in linspace(0, 1, m) and
    A_l = a * mean_alpha dP(w | alpha a) / d(alpha a)
with P the softmax probability of the first target token w (not its log). Per prompt,
neurons with A > t * max A are kept (t = 0.2); a prompt (one question under one
description) is one query and its kept neurons its cluster. A query's attribution NA is
A / max A on its cluster; the inverse cluster attribution ICA = log(|Q| / (1 + number of
clusters holding the neuron)) down-weights neurons many queries share, and neurons held
by more than u |Q| clusters (u = 0.3) are removed as common. Score per polarity: mean NA
over its queries x ICA, |Q| counting the queries of both polarities.

Differences from the reference code, each a pitfall there: results are kept per prompt,
never keyed by an answer letter that later queries overwrite; there is no top-v cut (the
selection ranks all scores), so common neurons are removed before anything is ranked;
targets are token ids, so no letter variant is missed.

Cost: the m x layers scaled passes differ only at the last position, so the prompt's
earlier tokens run once into a key/value cache and the m x layers rows are single-token
forward + backward passes over it (all in one batch); models with sliding-window
attention, whose cache cannot be shared so, run full rows instead, and so does the traced
path (NDIF), where each pass is its own trace in the batch's session.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nnvalues.baselines import traced
from nnvalues.baselines.batches import ActivationHooks, ScoringBatch
from nnvalues.baselines.method import ScoringMethod, by_polarity
from nnvalues.baselines.store import ScoreTally
from nnvalues.errors import UsageError
from nnvalues.models.architecture import Architecture
from nnvalues.models.loading import LoadedModel
from nnvalues.stats.counting import SharedPrefixCache


class Qrnca(ScoringMethod):
    name = "qrnca"
    description = "integrated gradients clustered over queries (Chen, Dejl & Toni 2024)"
    traced = True

    def __init__(self, steps: int = 16, threshold: float = 0.2, common: float = 0.3):
        if steps < 2:
            raise UsageError(f"`steps` must be at least 2 for integrated gradients (got {steps})")
        if not 0 < threshold < 1 or not 0 < common < 1:
            raise UsageError("the QRNCA threshold and common-neuron fraction must lie in (0, 1)")
        self.steps, self.threshold, self.common = steps, threshold, common

    def parameters(self) -> dict[str, Any]:
        return {"steps": self.steps, "alphas": "linspace(0, 1, steps)",
                "threshold": self.threshold, "common": self.common,
                "scored": "act_fn output, last prompt token", "target": "first target token",
                "query": "one prompt"}

    def score_batch(self, loaded: LoadedModel, batch: ScoringBatch,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        attribution = torch.stack([integrated_gradients(loaded, prompt, target, self.steps)
                                   for prompt, target in prompts_and_targets(batch)])
        return self.reduce(attribution, batch)

    def traced_batch(self, envoy: Any, architecture: Architecture, batch: ScoringBatch,
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each scaled pass is its own trace (full rows: no cache travels with a request)."""
        rows = []
        for prompt, target in prompts_and_targets(batch):
            parts = []
            for layers in layer_groups(architecture.n_layers, self.steps):
                count = len(layers) * self.steps
                ids = prompt[None].expand(count, -1).contiguous()
                with envoy.trace({"input_ids": ids, "attention_mask": torch.ones_like(ids)},
                                 use_cache=False, logits_to_keep=1):
                    scaled = []
                    for layer in layers:
                        module = architecture.activation_module(envoy, layer)
                        raw = module.output
                        raw.requires_grad_(True)
                        scaled.append(raw * scaling(raw, layers, self.steps, layer))
                        module.output = scaled[-1]
                    logits = envoy.output.logits
                    with traced.exact(logits):
                        probability = target_probability(logits, target)
                    with probability.backward():
                        grads = traced.gradients(scaled)
                        with traced.exact(logits):
                            parts.extend(attribute(s, g, layers, self.steps, layer)
                                         for s, g, layer in zip(scaled, grads, layers))
            rows.append(torch.stack(parts))
        attribution = torch.stack(rows)
        with traced.exact(attribution):
            return self.reduce(attribution, batch.to(attribution.device))

    def reduce(self, attribution: torch.Tensor, batch: ScoringBatch,
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """[rows, layer, neuron] attributions -> the batch's [layer, polarity, neuron] sums of
        each prompt's thresholded, peak-normalised attribution, and [layer, neuron] how many
        prompts kept each neuron (its clusters)."""
        peak = attribution.flatten(1).max(dim=1).values.clamp(min=0)[:, None, None]
        kept = (attribution > self.threshold * peak) & (peak > 0)
        normalised = torch.where(kept, attribution / peak.clamp(min=1e-30), 0.0)
        return by_polarity(normalised, batch), kept.sum(dim=0).float()

    def finalise(self, tally: ScoreTally) -> np.ndarray:
        queries = float(tally.prompts.sum())
        inverse = np.log(queries / (1.0 + tally.aux))
        inverse[tally.aux > self.common * queries] = 0.0
        return tally.mean() * inverse[:, None, :]


ROWS_PER_PASS = 64
"""Scaled rows run together: enough to share the work, few enough that the expanded cache
and the graph stay small (memory grows with rows x prompt length x layers)."""


def prompts_and_targets(batch: ScoringBatch) -> list[tuple[torch.Tensor, int]]:
    """Each row's prompt tokens (padding and target removed) and its first target token."""
    found = []
    for row in range(batch.batch.size):
        real = batch.batch.input_ids[row][batch.batch.attention_mask[row].bool()]
        prompt = real[:len(real) - int(batch.target_lengths[row])]
        found.append((prompt, int(real[len(prompt)])))
    return found


def layer_groups(n_layers: int, steps: int) -> list[list[int]]:
    """The layers scaled together in one pass (each with its own `steps` rows)."""
    per_pass = max(1, ROWS_PER_PASS // steps)
    return [list(range(first, min(first + per_pass, n_layers)))
            for first in range(0, n_layers, per_pass)]


def _row_layers_and_alphas(layers: list[int], steps: int, device: Any,
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """[rows] the layer each row of a pass scales, and its alpha."""
    group = torch.tensor(layers, device=device).repeat_interleave(steps)
    return group, torch.linspace(0, 1, steps, device=device).repeat(len(layers))


def scaling(output: torch.Tensor, layers: list[int], steps: int, layer: int) -> torch.Tensor:
    """[rows, seq, 1] the factor of `layer`'s activation in a pass: alpha at the last column
    of the rows that scale it, 1 elsewhere."""
    group, alpha = _row_layers_and_alphas(layers, steps, output.device)
    shaped = torch.ones(len(group), output.shape[1], 1, dtype=output.dtype, device=output.device)
    shaped[:, -1, 0] = torch.where(group == layer, alpha, torch.ones_like(alpha))
    return shaped


def target_probability(logits: torch.Tensor, target: int) -> torch.Tensor:
    """The summed P(target) at the last column of every row."""
    return torch.softmax(logits[:, -1].float(), dim=-1)[:, target].sum()


def attribute(scaled: torch.Tensor, grad: torch.Tensor, layers: list[int], steps: int,
              layer: int) -> torch.Tensor:
    """[neuron] a * mean over alphas of dP / d(alpha a) for `layer`, at the last column, from
    its scaled activation (the alpha = 1 row holds a) and the gradient with respect to it."""
    members = _row_layers_and_alphas(layers, steps, scaled.device)[0] == layer
    return scaled[members, -1][-1].detach().float() * grad[members, -1].float().mean(dim=0)


def integrated_gradients(loaded: LoadedModel, prompt: torch.Tensor, target: int,
                         steps: int) -> torch.Tensor:
    """[layer, neuron] IG attribution of P(target | prompt) to the act_fn output at the last
    prompt position, each layer scaled on its own (a pass holds a few layers x steps rows)."""
    cache = None
    if loaded.architecture.prefix_cache and len(prompt) > 1:
        with torch.no_grad():
            cache = SharedPrefixCache(config=loaded.hf_model.config)
            loaded.hf_model(input_ids=prompt[None, :-1], use_cache=True, past_key_values=cache,
                            logits_to_keep=1)
            cache.frozen = True
    result: list[torch.Tensor] = []
    for layers in layer_groups(loaded.architecture.n_layers, steps):
        result.extend(_scaled_pass(loaded, prompt, target, steps, layers, cache))
    return torch.stack(result)


def _scaled_pass(loaded: LoadedModel, prompt: torch.Tensor, target: int, steps: int,
                 layers: list[int], cache: SharedPrefixCache | None) -> list[torch.Tensor]:
    """One forward + backward of len(layers) x steps rows; row block i scales layers[i]."""
    device = prompt.device
    count = len(layers) * steps
    if cache is not None:
        inputs = {"input_ids": prompt[None, -1:].expand(count, 1),
                  "position_ids": torch.full((count, 1), len(prompt) - 1, device=device),
                  "attention_mask": torch.ones(count, len(prompt), dtype=torch.long, device=device),
                  "past_key_values": cache}
    else:
        inputs = {"input_ids": prompt[None].expand(count, -1), "use_cache": False}

    def scale(layer: int, output: torch.Tensor) -> torch.Tensor | None:
        return scaling(output, layers, steps, layer) if layer in layers else None

    with torch.enable_grad(), ActivationHooks(loaded, scale) as hooks:
        logits = loaded.hf_model(**inputs, logits_to_keep=1).logits
        grads = hooks.gradients(target_probability(logits, target))
    return [attribute(hooks.outputs[layer], grads[layer], layers, steps, layer) for layer in layers]
