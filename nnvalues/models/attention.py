"""Attention for one-token decoding steps on the CPU in half precision.

torch's CPU scaled-dot-product kernel is tiled for long queries: for a single query
position per row (every step of generation after the prompt) in bfloat16 it spends about
9 ms per layer on a 16-row batch with 400 cached positions, where two grouped matrix
products take 2 ms (`benchmarks/bench_intervene.py` shows what it does to generation).
Here the query heads that share a key/value head are stacked into one matrix, so the cache
is never repeated per head, scores and softmax are computed in float32, and the rest is
left to torch's kernel: longer queries (prompts, teacher-forced answers), float32 models,
GPUs, and any call with options the short path does not handle.
"""

from __future__ import annotations

import math
from typing import Any

import torch

NAME = "nnvalues_sdpa"
"""The attention implementation's name: torch's SDPA, with the decoding steps above."""


def _grouped_decode(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    mask: torch.Tensor | None, scaling: float) -> torch.Tensor:
    """[batch, heads, 1, dim] attention over [batch, kv_heads, length, dim], returned as
    [batch, 1, heads, dim] (the layout the attention modules expect back)."""
    batch, heads, _, dim = query.shape
    kv_heads = key.shape[1]
    grouped = query.reshape(batch, kv_heads, heads // kv_heads, dim)
    scores = torch.matmul(grouped, key.transpose(-1, -2)).float() * scaling
    if mask is not None:
        mask = mask[:, :, -1:, :]  # [batch, 1 or heads, 1, length]
        if mask.shape[1] != 1:
            mask = mask.reshape(batch, kv_heads, heads // kv_heads, -1)
        scores = (scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool
                  else scores + mask.float())
    weights = torch.softmax(scores, dim=-1).to(value.dtype)
    return torch.matmul(weights, value).reshape(batch, 1, heads, dim)


def attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
              value: torch.Tensor, attention_mask: torch.Tensor | None, dropout: float = 0.0,
              scaling: float | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Transformers' attention interface: the short path for one-token steps, SDPA otherwise."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    short = (query.shape[2] == 1 and query.device.type == "cpu" and query.dtype != torch.float32
             and not dropout and kwargs.get("softcap") is None
             and kwargs.get("position_bias") is None and kwargs.get("cache") is None
             and query.shape[1] % key.shape[1] == 0)
    if not short:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    scale = scaling if scaling is not None else 1.0 / math.sqrt(query.shape[-1])
    return _grouped_decode(query, key, value, attention_mask, scale), None


def use_decode_attention(model: Any) -> bool:
    """Switch a model that runs SDPA to this implementation; False where it does not apply."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    if getattr(model.config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(NAME, attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])
    try:
        model.set_attn_implementation(NAME)
    except (ValueError, AttributeError):
        return False
    return model.config._attn_implementation == NAME
