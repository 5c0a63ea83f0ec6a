"""Counting rules and the reduction of one batch inside an nnsight trace (paper eqs. 3-4).

For every layer only a [8, neurons] summary leaves the trace, whatever the batch's length;
its rows are named in SUMMARY_ROWS:
  active          active units per polarity (prompts with m > 0, or tokens with activation > 0)
  activation_sum  activation summed over real tokens per polarity (for the mean activation)
  positive_only   pairs active with the positive description only
  negative_only   pairs active with the reversed description only
  pair_mean_diff  sum over pairs of d = m(+)/T(+) - m(-)/T(-), the per-token mean difference
  pair_mean_diff_sq  sum over pairs of d^2 (with the above: a paired test of the mean, which
                  eq. 3's sums cannot give: the two descriptions differ in length)
where m = sum over the prompt's counted tokens (never padding) of the act_fn output and T
their number.

When every row of a batch starts with the same tokens (the system prompt and the template's
instructions, about a third of each prompt here), that prefix runs once: its key/value cache
is shared by the rows, and its activations, which no later token can change, are added to
every row's sums. The counts are the same as without sharing, up to float rounding.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache

from nnvalues.choices import CountingRule, check_choice
from nnvalues.models.architecture import Architecture
from nnvalues.stats.batching import Batch

COUNTING_RULES: dict[str, str] = {
    "prompt": "prompts whose activation summed over real tokens is > 0 (paper, eqs. 3-4)",
    "token": "real tokens whose activation is > 0 (LAPE/NPTI style)",
}
SUMMARY_ROWS: dict[str, slice] = {
    "active": slice(0, 2), "activation_sum": slice(2, 4),
    "positive_only": slice(4, 5), "negative_only": slice(5, 6),
    "pair_mean_diff": slice(6, 7), "pair_mean_diff_sq": slice(7, 8),
}
"""Rows of a layer's summary, by name; each per-polarity pair is (positive, negative)."""


def reduce_layer(activation: Any, batch: Batch, rule: str, prefix: Any = None) -> Any:
    """[batch, seq, neurons] activations -> [8, neurons] summary; runs inside a trace.

    `prefix` is the [2, neurons] summary of the shared prefix (summed activation, active
    tokens), added to every row.
    """
    act = activation.float()
    mask = batch.count_mask.unsqueeze(-1).to(act.dtype)
    if not batch.prefix_counted:
        prefix = None
    summed = (act * mask).sum(dim=1)
    if prefix is not None:
        summed = summed + prefix[0]
    prompt_active = (summed > 0).to(act.dtype)
    if rule == "token":
        units = ((act > 0).to(act.dtype) * mask).sum(dim=1)
        if prefix is not None:
            units = units + prefix[1]
    else:
        units = prompt_active
    polarity = batch.polarity.T
    active = polarity @ units
    total = polarity @ summed
    positive = batch.pairs[0] @ prompt_active
    negative = batch.pairs[1] @ prompt_active
    positive_only = (positive * (1 - negative)).sum(dim=0, keepdim=True)
    negative_only = ((1 - positive) * negative).sum(dim=0, keepdim=True)
    tokens = batch.tokens_per_row().to(act.dtype).unsqueeze(-1)
    per_token = summed / tokens.clamp(min=1)
    difference = batch.pairs[0] @ per_token - batch.pairs[1] @ per_token
    parts = {"active": active, "activation_sum": total, "positive_only": positive_only,
             "negative_only": negative_only,
             "pair_mean_diff": difference.sum(dim=0, keepdim=True),
             "pair_mean_diff_sq": (difference * difference).sum(dim=0, keepdim=True)}
    return torch.cat([parts[name] for name in SUMMARY_ROWS], dim=0)


def reduce_batch(envoy: Any, architecture: Architecture, batch: Batch, rule: str,
                 **trace_options: Any) -> torch.Tensor:
    """Returns the [layers, 8, neurons] summary of the batch.

    Each forward stops right after the last layer's activation is read: the rest of that
    layer and the unembedding are never computed.
    """
    check_choice(rule, CountingRule, "counting rule")
    with torch.inference_mode():
        cache = None
        prefix = None
        if batch.prefix_length:
            cache = SharedPrefixCache(config=envoy.config)
            prefix = _prefix_summary(envoy, architecture, batch, cache, trace_options)
            cache.frozen = True
        with envoy.trace(batch.inputs(cache), **trace_options) as tracer:
            summaries = []
            for layer in range(architecture.n_layers):
                output = architecture.activation_module(envoy, layer).output
                shared = None if prefix is None else prefix[layer]
                summaries.append(reduce_layer(output, batch, rule, shared))
            summary = torch.stack(summaries).save()
            tracer.stop()
    return summary


class SharedPrefixCache(DynamicCache):
    """Holds the shared prefix's keys and values and, once frozen, serves them to every row.

    A frozen cache returns the prefix (expanded over the batch, not copied) joined with the
    rows' own keys and values, and stores nothing: no per-batch copy of the prefix and no
    growing cache, whose reallocations otherwise raise the peak memory batch after batch.
    """

    frozen = False

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int,
               *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.frozen:
            return super().update(key_states, value_states, layer_idx, *args, **kwargs)
        layer = self.layers[layer_idx]
        rows = key_states.shape[0]
        keys = torch.cat([layer.keys.expand(rows, -1, -1, -1), key_states], dim=-2)
        values = torch.cat([layer.values.expand(rows, -1, -1, -1), value_states], dim=-2)
        return keys, values


def _prefix_summary(envoy: Any, architecture: Architecture, batch: Batch, cache: Any,
                    trace_options: dict[str, Any]) -> torch.Tensor:
    """Run the shared prefix once, filling `cache`; [layers, 2, neurons] summed / active."""
    with envoy.trace(batch.prefix_inputs(cache), **trace_options) as tracer:
        summaries = []
        for layer in range(architecture.n_layers):
            act = architecture.activation_module(envoy, layer).output.float()[0]
            summaries.append(torch.stack([act.sum(dim=0), (act > 0).to(act.dtype).sum(dim=0)]))
        summary = torch.stack(summaries).save()
        tracer.stop()
    return summary
