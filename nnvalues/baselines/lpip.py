"""LPIP (Yu & Ananiadou, EMNLP 2024): the log-probability increase of one neuron's contribution.

At the last prompt position, for the first target token w:
    Imp(l, k) = log p(w | r + v_k) - log p(w | r)
r the residual stream before layer l's FFN, v_k = m_k * W_down[:, k] the neuron's
contribution (m_k signed: a negative m_k can raise p(w)), p(. | u) = softmax(W_U norm(u))
with the final norm linearised (its RMS fixed from the last layer's output at that
position). Only the target's log-probability is kept, but its log-sum-exp needs every
vocabulary logit of every neuron: with the RMS fixed, z(r + v_k) = z(r) + c_k U[:, k], where
U = W_U diag(g) W_down is the same for every prompt and c_k = m_k / rms. U is built per
batch in chunks of neurons sized to a fixed memory budget, never as a whole layer.
No gradients; one forward pass per batch plus d_ff x d x vocab multiply-adds per layer.
"""

from __future__ import annotations

from typing import Any

import torch

from nnvalues.baselines.batches import ScoringBatch
from nnvalues.baselines.method import ScoringMethod, by_polarity, rows_at
from nnvalues.baselines.readout import FfnOutput, Readout, ffn_output, final_norm_module, readout
from nnvalues.models.loading import LoadedModel

CHUNK_ELEMENTS = 1 << 24
"""Rows x vocabulary x neurons held at once (64 MiB in float32)."""


class Lpip(ScoringMethod):
    name = "lpip"
    description = "log-probability increase of each neuron's contribution (Yu & Ananiadou 2024)"

    def parameters(self) -> dict[str, Any]:
        return {"position": "last prompt token", "target": "first target token",
                "norm": "final norm linearised at the position"}

    def score_batch(self, loaded: LoadedModel, batch: ScoringBatch,
                    ) -> tuple[torch.Tensor, None]:
        with torch.inference_mode():
            captured = capture_position(loaded, batch)
            out = readout(loaded)
            statistic = out.norm.statistic(captured["final"])
            targets = rows_at(batch.batch.input_ids, batch.last_prompt + 1)
            per_layer = []
            for layer in range(loaded.architecture.n_layers):
                ffn = ffn_output(loaded, layer)
                residual = captured["layer"][layer] - captured["ffn"][layer]
                base = out.logits(out.norm.apply(residual, statistic), capped=False)
                coefficient = captured["m"][layer] / statistic[:, None]
                if ffn.post_norm is not None:
                    coefficient = coefficient / ffn.post_norm.statistic(captured["down"][layer])[:, None]
                per_layer.append(importance(out, ffn, base, coefficient, targets))
        return by_polarity(torch.stack(per_layer, dim=1), batch), None


def importance(out: Readout, ffn: FfnOutput, base: torch.Tensor, coefficient: torch.Tensor,
               targets: torch.Tensor) -> torch.Tensor:
    """[rows, neurons] log p(w | r + v_k) - log p(w | r) for one layer.

    `base` [rows, vocab] the logits of the residual alone, before any final soft cap;
    `coefficient` [rows, neurons] m_k divided by the fixed statistics.
    """
    rows, vocab = base.shape
    neurons = ffn.down.shape[1]
    chunk = max(1, CHUNK_ELEMENTS // (rows * vocab))
    result = torch.empty(rows, neurons)
    columns = ffn.down if ffn.post_norm is None else ffn.post_norm.linear(ffn.down)
    base_log_p = torch.log_softmax(out.cap(base), dim=-1)
    base_target = base_log_p.gather(1, targets[:, None]).squeeze(1)
    for start in range(0, neurons, chunk):
        stop = min(start + chunk, neurons)
        directions = out.unembed @ out.norm.linear(columns[:, start:stop])  # [vocab, c]
        shift = coefficient[:, start:stop, None] * directions.T[None]       # [rows, c, vocab]
        if out.softcap is None:
            # log p(w | r + v) - log p(w | r) = shift_w - logsumexp(log p(. | r) + shift)
            target_shift = shift.gather(2, targets[:, None, None].expand(-1, stop - start, 1))
            total = torch.logsumexp(shift.add_(base_log_p[:, None, :]), dim=-1)  # in place
            result[:, start:stop] = target_shift.squeeze(2) - total
        else:
            # the cap is not additive: add before capping
            log_p = torch.log_softmax(out.cap(base[:, None, :] + shift), dim=-1)
            chosen = log_p.gather(2, targets[:, None, None].expand(-1, stop - start, 1)).squeeze(2)
            result[:, start:stop] = chosen - base_target[:, None]
    return result


def capture_position(loaded: LoadedModel, batch: ScoringBatch) -> dict[str, Any]:
    """One forward pass; at each row's last prompt column: every layer's output, its FFN's
    contribution to the residual (after a post-FFN norm), the down projection's input m and
    output, and the final norm's input."""
    columns = batch.last_prompt
    found: dict[str, Any] = {name: {} for name in ("layer", "ffn", "m", "down")}
    handles = []

    def keep(name: str, layer: int | None, use_input: bool = False) -> Any:
        def hook(_module: Any, inputs: Any, output: Any = None) -> None:
            value = inputs[0] if use_input else (output[0] if isinstance(output, tuple) else output)
            picked = rows_at(value, columns).float()
            if layer is None:
                found[name] = picked
            else:
                found[name][layer] = picked
        return hook

    blocks = loaded.architecture.layer_modules(loaded.hf_model)
    for layer in range(loaded.architecture.n_layers):
        ffn = ffn_output(loaded, layer)
        handles.append(blocks[layer].register_forward_hook(keep("layer", layer)))
        handles.append(ffn.down_module.register_forward_hook(keep("m", layer, use_input=True)))
        handles.append(ffn.down_module.register_forward_hook(keep("down", layer)))
        contribution = ffn.post_norm_module or blocks[layer].mlp
        handles.append(contribution.register_forward_hook(keep("ffn", layer)))
    handles.append(final_norm_module(loaded).register_forward_pre_hook(keep("final", None, True)))
    try:
        loaded.hf_model(**batch.inputs(), logits_to_keep=1)
    finally:
        for handle in handles:
            handle.remove()
    return found
