"""`locate --span answer|all`: counting the tokens of the model's own greedy answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnvalues
from nnvalues.cube.store import CubeStore, model_key
from nnvalues.data.records import load_records
from nnvalues.errors import StoreError, UsageError
from nnvalues.models.architecture import follow
from nnvalues.prompts.render import Renderer


def hooked_span_sums(model_dir, records_path, span: str, budget: int) -> dict[str, np.ndarray]:
    """Each prompt alone: greedy answer by plain transformers, then one forward over prompt +
    answer with forward hooks, summed over the span's tokens."""
    loaded = nnvalues.load_model(str(model_dir), dtype="float32")
    arch, model = loaded.architecture, loaded.hf_model
    eos = model.generation_config.eos_token_id
    stop = set(eos if isinstance(eos, (list, tuple)) else [eos or loaded.tokenizer.eos_token_id])
    renderer = Renderer(loaded.tokenizer)
    captured: dict[int, torch.Tensor] = {}
    hooks = [follow(model, arch.activation_path(layer)).register_forward_hook(
        lambda _m, _i, out, layer=layer: captured.__setitem__(layer, out.detach()))
        for layer in range(arch.n_layers)]
    shape = (arch.n_layers, arch.n_neurons, 2)
    total, active, tokens = np.zeros(shape), np.zeros(shape, dtype=np.int64), np.zeros(2, dtype=np.int64)
    try:
        for record in load_records(records_path):
            prompt = list(renderer.render(record).input_ids)
            with torch.no_grad():
                out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                                     max_new_tokens=budget, do_sample=False, temperature=None,
                                     top_p=None, top_k=None, pad_token_id=loaded.tokenizer.pad_token_id)
                answer = []
                for token in out[0, len(prompt):].tolist():
                    if token in stop:
                        break
                    answer.append(token)
                model(input_ids=torch.tensor([prompt + answer]))
            acts = torch.stack([captured[layer][0] for layer in range(arch.n_layers)])  # L,T,K
            start = len(prompt) if span == "answer" else 0
            m = acts[:, start:].sum(dim=1).numpy()
            pol = 0 if record.polarity == "positive" else 1
            total[:, :, pol] += m
            active[:, :, pol] += m > 0
            tokens[pol] += acts.shape[1] - start
    finally:
        for hook in hooks:
            hook.remove()
    return {"activation_sum": total, "active": active, "tokens": tokens}


@pytest.mark.parametrize("kind,span", [("llama", "answer"), ("gpt2", "all"), ("qwen2", "answer")])
def test_span_counts_the_answer_like_independent_hooks(kind, span, tiny_model_dir, prompts_file, tmp_path):
    model_dir = tiny_model_dir(kind)
    store = tmp_path / "s.zarr"
    nnvalues.locate(str(model_dir), prompts=prompts_file, store=store, span=span, answer_tokens=6,
                    batch_size=4, dtype="float32", show_progress=False)
    cube = nnvalues.open_cube(store).isel(model=0, dimension=0)
    expected = hooked_span_sums(model_dir, prompts_file, span, 6)
    assert cube["tokens"].values.tolist() == expected["tokens"].tolist()
    np.testing.assert_allclose(cube["activation_sum"].values, expected["activation_sum"], rtol=1e-4, atol=1e-3)
    close_to_zero = np.abs(expected["activation_sum"]) < 1e-3
    assert (cube["active"].values == expected["active"])[~close_to_zero].all()
    assert str(cube["span"].values) == span and str(cube["answer_tokens"].values) == "6"
    settings = CubeStore.open(store).model_settings(model_key(str(cube["model"].values)))
    assert settings["span"] == span and settings["answer_tokens"] == 6


def test_span_is_a_store_setting(tiny_model_dir, prompts_file, tmp_path):
    store = tmp_path / "s.zarr"
    model = str(tiny_model_dir("llama"))
    nnvalues.locate(model, prompts=prompts_file, store=store, show_progress=False)
    with pytest.raises(StoreError, match="span 'prompt' here vs 'answer' now"):
        nnvalues.locate(model, prompts=prompts_file, store=store, span="answer", show_progress=False)


@pytest.mark.parametrize("options,message", [
    ({"span": "decode"}, "unknown span"),
    ({"span": "answer", "answer_tokens": 0}, "answer_tokens"),
])
def test_bad_span_options_are_refused(options, message, tiny_model_dir, prompts_file):
    with pytest.raises(UsageError, match=message):
        nnvalues.locate(str(tiny_model_dir("llama")), prompts=prompts_file, show_progress=False, **options)
