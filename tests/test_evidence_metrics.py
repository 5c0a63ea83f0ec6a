"""Judge-free metrics: teacher-forced likelihoods and next-token ratings against independent
full-sequence forwards edited by plain PyTorch hooks, and the Likert scoring by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnvalues
from nnvalues.evaluate.likelihood import answer_logprobs, batch_answer_logprobs, next_token_logprobs
from nnvalues.evaluate.likert import (
    Instrument,
    LikertItem,
    dimension_scores,
    expected_ratings,
    keyed_scores,
    rate,
)
from nnvalues.intervene.edits import Edit, LayerEdit
from nnvalues.judge.local import rating_token_ids
from nnvalues.models.architecture import follow

KINDS = ["llama", "gemma3", "gpt2"]


def hand_edit(loaded) -> tuple[Edit, list[tuple[int, list[int], list[float], list[float]]]]:
    """An edit of a few neurons per layer, and the same numbers for the reference hooks."""
    plan = []
    layers = []
    for layer in range(loaded.architecture.n_layers):
        index = [1, 5, 7]
        scale = [3.0, 1.0, 2.5]
        upper = [np.inf, 0.0, np.inf]
        plan.append((layer, index, scale, upper))
        layers.append(LayerEdit(layer, torch.tensor(index), torch.tensor(scale), torch.zeros(3),
                                torch.tensor(upper), 2, 1))
    return Edit(tuple(layers)), plan


def reference_forward(loaded, ids: list[int], plan) -> torch.Tensor:
    """[seq, vocab] log-softmax of one unpadded sequence, edited by independent hooks."""
    arch = loaded.architecture
    handles = []
    for layer, index, scale, upper in plan:
        def hook(_m, _i, out, index=index, scale=scale, upper=upper):
            out = out.clone()
            for k, s, u in zip(index, scale, upper):
                out[..., k] = torch.clamp(out[..., k] * s, max=u)
            return out
        handles.append(follow(loaded.hf_model, arch.activation_path(layer)).register_forward_hook(hook))
    try:
        with torch.no_grad():
            logits = loaded.hf_model(input_ids=torch.tensor([ids])).logits[0].float()
    finally:
        for handle in handles:
            handle.remove()
    return torch.log_softmax(logits, dim=-1)


@pytest.mark.parametrize("kind", KINDS)
def test_answer_logprobs_match_an_independent_teacher_forced_forward(kind, tiny_model_dir):
    loaded = nnvalues.load_model(str(tiny_model_dir(kind)))
    rng = np.random.default_rng(0)
    prompt = rng.integers(3, 250, 30).tolist()
    answers = [rng.integers(3, 250, 6).tolist(), rng.integers(3, 250, 11).tolist(), []]
    edit, plan = hand_edit(loaded)
    for use_edit in (False, True):
        got = answer_logprobs(loaded, prompt, answers, edit if use_edit else None)
        for answer, ours in zip(answers, got):
            assert ours.shape == (len(answer),)
            if not answer:
                continue
            full = reference_forward(loaded, prompt + answer, plan if use_edit else [])
            positions = torch.arange(len(prompt) - 1, len(prompt) + len(answer) - 1)
            expected = full[positions, torch.tensor(answer)].numpy()
            np.testing.assert_allclose(ours, expected, atol=2e-4)
    plain = answer_logprobs(loaded, prompt, answers[:1])[0]
    edited = answer_logprobs(loaded, prompt, answers[:1], edit)[0]
    assert not np.allclose(plain, edited)  # the edit reaches the scores


@pytest.mark.parametrize("kind", KINDS)
def test_batched_answer_logprobs_match_an_independent_forward(kind, tiny_model_dir):
    loaded = nnvalues.load_model(str(tiny_model_dir(kind)), dtype="float32")
    rng = np.random.default_rng(2)
    opening = rng.integers(3, 250, 20).tolist()
    prompts = [opening + rng.integers(3, 250, n).tolist() for n in (5, 12, 1)]
    answers = [[rng.integers(3, 250, 7).tolist(), rng.integers(3, 250, 3).tolist()],
               [[], rng.integers(3, 250, 9).tolist(), rng.integers(3, 250, 1).tolist()],
               [rng.integers(3, 250, 4).tolist()]]
    edit, plan = hand_edit(loaded)
    got = batch_answer_logprobs(loaded, prompts, answers, edit)
    for prompt, group, ours in zip(prompts, answers, got):
        assert len(ours) == len(group)
        for answer, scores in zip(group, ours):
            assert scores.shape == (len(answer),)
            if not answer:
                continue
            full = reference_forward(loaded, prompt + answer, plan)
            positions = torch.arange(len(prompt) - 1, len(prompt) + len(answer) - 1)
            np.testing.assert_allclose(scores, full[positions, torch.tensor(answer)].numpy(), atol=2e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_next_token_logprobs_share_the_opening_and_match_single_rows(kind, tiny_model_dir):
    loaded = nnvalues.load_model(str(tiny_model_dir(kind)))
    rng = np.random.default_rng(1)
    opening = rng.integers(3, 250, 24).tolist()
    rows = [opening + rng.integers(3, 250, n).tolist() for n in (3, 9, 1, 6)]
    edit, plan = hand_edit(loaded)
    got = next_token_logprobs(loaded, rows, edit)
    for row, ours in zip(rows, got):
        expected = reference_forward(loaded, row, plan)[-1].numpy()
        np.testing.assert_allclose(ours, expected, atol=2e-4)


def test_expected_rating_and_mass_on_hand_made_distributions():
    scale = (1, 2, 3, 4, 5, 6)
    probs = np.array([
        [0, 0, 0, 0, 0, 1.0],            # certain 6
        [0.1, 0.1, 0.1, 0.1, 0.1, 0.1],  # uniform over the scale, 60% of the mass
        [0.2, 0, 0, 0, 0, 0.2],          # 1 or 6 equally
        [0, 0, 0, 0, 0, 0],              # no digit at all
    ])
    expected, mass = expected_ratings(probs, scale)
    np.testing.assert_allclose(expected[:3], [6.0, 3.5, 3.5])
    np.testing.assert_allclose(mass, [1.0, 0.6, 0.4, 0.0])
    assert np.isnan(expected[3])


def instrument(centred: bool) -> Instrument:
    items = (LikertItem("a", "I like change.", ("openness_to_change",)),
             LikertItem("b", "I keep traditions.", ("conservation",)),
             LikertItem("c", "I dislike traditions.", ("conservation",), agreement=-1),
             LikertItem("d", "I enjoy life.", ("openness_to_change", "self_enhancement")))
    scale = (1, 2, 3, 4, 5, 6) if centred else (1, 2, 3, 4, 5)
    return Instrument("test", scale, "1 = no, 6 = yes", centred, items)


def test_scoring_keys_by_hand():
    ratings = np.array([5.0, 2.0, 4.0, 3.0])
    pvq = instrument(centred=True)
    # Reverse-keyed c: 1 + 6 - 4 = 3; centred on the mean of the raw ratings, 3.5.
    np.testing.assert_allclose(keyed_scores(pvq, ratings), [1.5, -1.5, -0.5, -0.5])
    scores = dimension_scores(pvq, ratings)
    assert scores == pytest.approx({"openness_to_change": 0.5, "conservation": -1.0,
                                    "self_enhancement": -0.5})
    plain = instrument(centred=False)
    np.testing.assert_allclose(keyed_scores(plain, ratings), [5.0, 2.0, 2.0, 3.0])


def test_ratings_of_a_tiny_model_match_single_prompt_forwards(tiny_model_dir):
    loaded = nnvalues.load_model(str(tiny_model_dir("llama")))
    pvq = instrument(centred=True)
    edit, plan = hand_edit(loaded)
    expected, mass = rate(loaded, pvq, edit, batch_size=3)
    digits = rating_token_ids(loaded.tokenizer, pvq.scale)
    for n, item in enumerate(pvq.items):
        text = pvq.prompt(item)
        ids = loaded.tokenizer.apply_chat_template([{"role": "user", "content": text}],
                                                   add_generation_prompt=True, tokenize=True,
                                                   return_dict=True)["input_ids"]
        probs = reference_forward(loaded, list(ids), plan)[-1].exp().numpy()
        table = np.array([[probs[list(digits[r])].sum() for r in pvq.scale]])
        want, want_mass = expected_ratings(table, pvq.scale)
        assert expected[n] == pytest.approx(want[0], abs=1e-4)
        assert mass[n] == pytest.approx(want_mass[0], rel=1e-3)
