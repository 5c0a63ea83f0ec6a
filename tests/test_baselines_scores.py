"""Each baseline's score against an independent plain-PyTorch computation on tiny models.

LPIP is recomputed from an explicit residual (layer input + attention output) plus the
neuron's contribution, through the linearised final norm and the unembedding; integrated
gradients by a Riemann sum of torch.autograd.grad over separate forward passes; attribution
patching and the CGVST reading by autograd on unbatched, unpadded forward passes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnvalues.baselines import lpip as lpip_module
from nnvalues.baselines import qrnca as qrnca_module
from nnvalues.baselines.atp import AttributionPatching
from nnvalues.baselines.batches import scoring_batch
from nnvalues.baselines.cgvst import Cgvst
from nnvalues.baselines.lpip import Lpip
from nnvalues.baselines.qrnca import Qrnca, integrated_gradients
from nnvalues.baselines.store import ScoreTally
from nnvalues.models.loading import load_model
from nnvalues.prompts.render import RenderedPrompt
from nnvalues.stats.batching import Row

KINDS = ["llama", "qwen2", "gemma3", "gpt2"]
POSITIVE = [260, 72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 33, 32, 87, 104, 97, 116]
NEGATIVE = [260, 66, 121, 101, 32, 102, 111, 108, 107, 115, 33, 32, 87, 104, 97, 116]  # shorter
ANSWER = [32, 105, 102, 63, 10]


def pair_batch(target_positive, target_negative):
    rows = (Row(RenderedPrompt("p", "", tuple(POSITIVE)), 0),
            Row(RenderedPrompt("n", "", tuple(NEGATIVE)), 1))
    return scoring_batch([rows], {"p": tuple(target_positive), "n": tuple(target_negative)}, 256)


@pytest.fixture(params=KINDS)
def loaded(request, tiny_model_dir):
    model = load_model(str(tiny_model_dir(request.param)), dtype="float32")
    model.kind = request.param
    return model


def blocks(loaded):
    return loaded.architecture.layer_modules(loaded.hf_model)


def _rms(x, eps):
    return torch.sqrt(x.pow(2).mean() + eps)


def explicit_lpip(loaded, ids, layer, target):
    """log p(target | r + v_k) - log p(target | r) for every neuron k, written out by hand."""
    hf, kind = loaded.hf_model, loaded.kind
    block = blocks(loaded)[layer]
    seen = {}
    attn = block.attn if kind == "gpt2" else block.self_attn
    final = hf.transformer.ln_f if kind == "gpt2" else hf.model.norm
    hooks = [block.register_forward_pre_hook(lambda m, a, kw: seen.__setitem__("h", (a or [kw.get("hidden_states")])[0]), with_kwargs=True),
             attn.register_forward_hook(lambda m, a, o: seen.__setitem__("attn", o[0])),
             final.register_forward_pre_hook(lambda m, a: seen.__setitem__("final", a[0]))]
    with torch.no_grad():
        hf(torch.tensor([ids]))
        for h in hooks:
            h.remove()
        h, attn_out, final_in = seen["h"][0, -1], seen["attn"][0, -1], seen["final"][0, -1]
        mlp = block.mlp
        if kind == "gpt2":
            r = h + attn_out
            m = mlp.act(mlp.c_fc(block.ln_2(r)))
            contributions = m[:, None] * mlp.c_proj.weight                  # [neurons, d]
        else:
            r = h + (block.post_attention_layernorm(attn_out) if kind == "gemma3" else attn_out)
            x = block.pre_feedforward_layernorm(r) if kind == "gemma3" else block.post_attention_layernorm(r)
            m = mlp.act_fn(mlp.gate_proj(x)) * mlp.up_proj(x)
            contributions = m[:, None] * mlp.down_proj.weight.T
            if kind == "gemma3":
                post = block.post_feedforward_layernorm
                scale = _rms(mlp.down_proj(m), post.eps)
                contributions = contributions * (1 + post.weight) / scale
        if kind == "gpt2":
            sigma = torch.sqrt(final_in.var(unbiased=False) + final.eps)

            def normed(u):
                return final.weight * (u - u.mean(-1, keepdim=True)) / sigma + final.bias
        else:
            gain = (1 + final.weight) if kind == "gemma3" else final.weight
            eps = final.eps if kind == "gemma3" else final.variance_epsilon
            s = _rms(final_in, eps)

            def normed(u):
                return gain * u / s
        head = hf.get_output_embeddings().weight
        cap = getattr(hf.config, "final_logit_softcapping", None)

        def logits(u):
            z = normed(u) @ head.T
            return z if cap is None else cap * torch.tanh(z / cap)

        base = torch.log_softmax(logits(r), -1)[target]
        with_neuron = torch.log_softmax(logits(r[None] + contributions), -1)[:, target]
    return with_neuron - base


def test_lpip_matches_explicit_residual_through_norm_and_unembedding(loaded, monkeypatch):
    batch = pair_batch(ANSWER, ANSWER[1:])
    # A chunk of 7 neurons, which divides no layer's width: the chunking must not matter.
    monkeypatch.setattr(lpip_module, "CHUNK_ELEMENTS", 2 * loaded.hf_model.config.vocab_size * 7)
    sums, _ = Lpip().score_batch(loaded, batch)
    for polarity, (ids, target) in enumerate(((POSITIVE, ANSWER[0]), (NEGATIVE, ANSWER[1]))):
        for layer in range(loaded.architecture.n_layers):
            expected = explicit_lpip(loaded, ids, layer, target)
            assert float(expected.abs().max()) > 1e-4
            np.testing.assert_allclose(sums[layer, polarity].numpy(), expected.numpy(),
                                       rtol=1e-3, atol=2e-5)


def test_lpip_with_a_final_soft_cap(tiny_model_dir):
    """Gemma 2 caps its logits (cap * tanh(z / cap)): the cap is applied after the shift."""
    loaded = load_model(str(tiny_model_dir("gemma3")), dtype="float32")
    loaded.kind = "gemma3"
    loaded.hf_model.config.final_logit_softcapping = 3.0
    sums, _ = Lpip().score_batch(loaded, pair_batch(ANSWER, ANSWER))
    for layer in range(loaded.architecture.n_layers):
        expected = explicit_lpip(loaded, POSITIVE, layer, ANSWER[0])
        np.testing.assert_allclose(sums[layer, 0].numpy(), expected.numpy(), rtol=1e-3, atol=2e-5)


def riemann_integrated_gradients(loaded, ids, target, steps):
    """Per layer: a * mean over alphas of dP/d(alpha a), one separate forward per alpha."""
    result = []
    for layer in range(loaded.architecture.n_layers):
        module = loaded.architecture.activation_module(loaded.hf_model, layer)
        grads, original = [], None
        for alpha in torch.linspace(0, 1, steps).tolist():
            kept = {}

            def hook(_m, _i, output, alpha=alpha):
                kept["raw"] = output
                factor = torch.ones_like(output)
                factor[:, -1] = alpha
                kept["scaled"] = output * factor
                return kept["scaled"]

            handle = module.register_forward_hook(hook)
            try:
                logits = loaded.hf_model(torch.tensor([ids])).logits[0, -1]
                p = torch.softmax(logits, -1)[target]
                (grad,) = torch.autograd.grad(p, kept["scaled"])
            finally:
                handle.remove()
            grads.append(grad[0, -1])
            original = kept["raw"][0, -1].detach()
        result.append(original * torch.stack(grads).mean(0))
    return torch.stack(result)


@pytest.mark.parametrize("rows_per_pass", [64, 7])  # all layers in one pass, or one per pass
def test_integrated_gradients_match_a_riemann_sum_of_autograd(loaded, rows_per_pass, monkeypatch):
    monkeypatch.setattr(qrnca_module, "ROWS_PER_PASS", rows_per_pass)
    got = integrated_gradients(loaded, torch.tensor(POSITIVE), ANSWER[0], steps=5)
    expected = riemann_integrated_gradients(loaded, POSITIVE, ANSWER[0], steps=5)
    scale = float(expected.abs().max())
    assert scale > 0
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-3, atol=1e-4 * scale)


def activations_and_grads(loaded, ids, answer, grad=True):
    """Unbatched forward of ids + answer: per layer act_fn output [seq, neurons] and the
    gradient of the answer's log-likelihood with respect to it."""
    kept = []
    handles = [loaded.architecture.activation_module(loaded.hf_model, layer).register_forward_hook(
        lambda m, i, o: kept.append(o)) for layer in range(loaded.architecture.n_layers)]
    try:
        sequence = torch.tensor([ids + answer])
        log_p = torch.log_softmax(loaded.hf_model(sequence).logits[0], -1)
        start = len(ids) - 1
        objective = sum(log_p[start + j, token] for j, token in enumerate(answer))
        grads = torch.autograd.grad(objective, kept) if grad else [None] * len(kept)
    finally:
        for handle in handles:
            handle.remove()
    return [k[0].detach() for k in kept], [None if g is None else g[0] for g in grads]


def test_attribution_patching_matches_autograd_on_the_clean_forward(loaded):
    batch = pair_batch(ANSWER, ANSWER)  # the value answer after both prompts
    sums, _ = AttributionPatching().score_batch(loaded, batch)
    clean, grads = activations_and_grads(loaded, POSITIVE, ANSWER)
    corrupt, _ = activations_and_grads(loaded, NEGATIVE, ANSWER, grad=False)
    a, b = POSITIVE + ANSWER, NEGATIVE + ANSWER
    shared = 0
    while shared < min(len(a), len(b)) and a[-1 - shared] == b[-1 - shared]:
        shared += 1
    assert 0 < shared < len(b)
    for layer in range(loaded.architecture.n_layers):
        g = grads[layer][-shared:]
        expected = (g * (clean[layer][-shared:] - corrupt[layer][-shared:])).sum(0)
        assert float(expected.abs().max()) > 1e-5
        np.testing.assert_allclose((sums[layer, 0] - sums[layer, 1]).numpy(), expected.numpy(),
                                   rtol=1e-3, atol=1e-5)


def test_cgvst_reading_matches_autograd_at_the_most_significant_tokens(loaded):
    batch = pair_batch(ANSWER, ANSWER[:2])
    sums, _ = Cgvst(tokens=3).score_batch(loaded, batch)
    for polarity, (ids, answer) in enumerate(((POSITIVE, ANSWER), (NEGATIVE, ANSWER[:2]))):
        acts, grads = activations_and_grads(loaded, ids, answer)
        products = [a * g for a, g in zip(acts, grads)]
        significance = sum(p.abs().sum(-1) for p in products)
        top = significance.topk(3).indices
        for layer, product in enumerate(products):
            np.testing.assert_allclose(sums[layer, polarity].numpy(), product[top].sum(0).numpy(),
                                       rtol=1e-3, atol=1e-5)


def test_qrnca_clusters_weights_and_common_neurons_by_hand():
    method = Qrnca(steps=2, threshold=0.2, common=0.3)
    tally = ScoreTally(1, 4)
    # 10 queries (5 per polarity); neuron 0 in 1 cluster, 1 in 3, 2 in 4 (> 0.3 x 10), 3 in none.
    tally.prompts[:] = 5
    tally.aux[0] = [1, 3, 4, 0]
    tally.sums[0, 0] = [0.9, 2.0, 3.0, 0.0]
    tally.sums[0, 1] = [0.0, 1.0, 0.5, 0.0]
    got = method.finalise(tally)
    ica = np.log(10 / np.array([2.0, 4.0]))
    np.testing.assert_allclose(got[0, 0, :2], [0.9 / 5 * ica[0], 2.0 / 5 * ica[1]])
    np.testing.assert_allclose(got[0, 1, :2], [0.0, 1.0 / 5 * ica[1]])
    assert got[0, :, 2].tolist() == [0.0, 0.0]  # common: removed


def test_qrnca_batch_thresholds_each_prompt_at_a_fraction_of_its_peak(tiny_model_dir):
    loaded = load_model(str(tiny_model_dir("llama")), dtype="float32")
    batch = pair_batch(ANSWER, ANSWER)
    sums, aux = Qrnca(steps=3, threshold=0.2).score_batch(loaded, batch)
    attribution = integrated_gradients(loaded, torch.tensor(POSITIVE), ANSWER[0], steps=3)
    peak = attribution.max()
    kept = attribution > 0.2 * peak
    np.testing.assert_allclose(sums[:, 0].numpy(), torch.where(kept, attribution / peak, 0).numpy(),
                               rtol=1e-4, atol=1e-6)
    assert float(sums[:, 0].max()) == pytest.approx(1.0)
    assert int(aux.max()) <= 2 and int(aux.sum()) >= int(kept.sum())
