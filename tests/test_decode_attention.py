"""The one-token decoding attention against torch's SDPA on tiny models of four architectures."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

import nnvalues
from nnvalues.models.attention import NAME

KINDS = ["llama", "qwen2", "gemma3", "gpt2"]


def decode_logits(model, ids: torch.Tensor, mask: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """Logits of one decoding step after a left-padded prompt."""
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
              use_cache=True)
        full = torch.cat([mask, torch.ones_like(step)], dim=1)
        return model(input_ids=step, attention_mask=full, position_ids=positions[:, -1:] + 1,
                     past_key_values=cache, use_cache=True).logits[:, -1].float()


@pytest.mark.parametrize("kind", KINDS)
def test_decode_steps_match_sdpa(kind, tiny_model_dir):
    loaded = nnvalues.load_model(str(tiny_model_dir(kind)), dtype="bfloat16")
    model = loaded.hf_model
    assert model.config._attn_implementation == NAME  # a CPU model gets it at load
    rng = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 250, (3, 40), generator=rng)
    mask = torch.ones_like(ids)
    mask[0, :7] = 0  # left padding on one row
    mask[2, :31] = 0
    step = torch.randint(3, 250, (3, 1), generator=rng)
    ours = decode_logits(model, ids, mask, step)
    model.set_attn_implementation("sdpa")
    reference = decode_logits(model, ids, mask, step)
    # bfloat16 throughout: both round the same products differently, well below the logits' spread.
    assert torch.allclose(ours, reference, atol=0.05 * float(reference.abs().max()))
    assert (ours.argmax(-1) == reference.argmax(-1)).all()


def test_float32_models_keep_torch_attention(tiny_model_dir):
    loaded = nnvalues.load_model(str(tiny_model_dir("llama")), dtype="float32")
    model = loaded.hf_model
    ids = torch.randint(3, 250, (2, 12))
    mask = torch.ones_like(ids)
    step = torch.randint(3, 250, (2, 1))
    ours = decode_logits(model, ids, mask, step)
    model.set_attn_implementation("sdpa")
    assert torch.equal(ours, decode_logits(model, ids, mask, step))


@pytest.mark.parametrize("kind", KINDS)
def test_the_short_path_runs_on_decoding_steps_only(kind, tiny_model_dir, monkeypatch):
    from nnvalues.models import attention

    calls = []
    original = attention._grouped_decode
    monkeypatch.setattr(attention, "_grouped_decode",
                        lambda *a, **k: calls.append(a[0].shape[2]) or original(*a, **k))
    loaded = nnvalues.load_model(str(tiny_model_dir(kind)), dtype="bfloat16")
    ids = torch.randint(3, 250, (2, 10))
    decode_logits(loaded.hf_model, ids, torch.ones_like(ids), torch.randint(3, 250, (2, 1)))
    assert calls == [1] * loaded.architecture.n_layers  # the decoding step's layers, not the prompt's
