"""A batch's shared prompt prefix, run once while generating, changes no greedy token."""

from __future__ import annotations

import pytest
import torch

from nnvalues.intervene import Edit, GenerationSettings, LayerEdit, generate
from nnvalues.intervene.generation import pad_batch, shareable_prefix
from nnvalues.intervene.questions import render_questions
from nnvalues.models.loading import load_model
from tests.conftest import QUESTIONS


def strong_edit(n_layers: int) -> Edit:
    """Triple 30 neurons of every layer and clamp 30 others at 0: it changes the answers."""
    return Edit(tuple(
        LayerEdit(layer, torch.cat([torch.arange(0, 30), torch.arange(30, 60)]),
                  torch.cat([torch.full((30,), 3.0), torch.ones(30)]), torch.zeros(60),
                  torch.cat([torch.full((30,), float("inf")), torch.zeros(30)]), 30, 30)
        for layer in range(n_layers)))


class TokenCounter:
    """Counts the positions the embedding computes: what the prefix cache saves."""

    def __init__(self, loaded):
        self.count = 0
        self.handle = loaded.hf_model.get_input_embeddings().register_forward_hook(self.hook)

    def hook(self, _module, inputs, _output):
        self.count += int(inputs[0].numel())


@pytest.mark.parametrize("kind", ["llama", "qwen2", "gpt2"])
def test_shared_prefix_gives_the_same_greedy_tokens(tiny_model_dir, kind):
    loaded = load_model(str(tiny_model_dir(kind)), dtype="float32")
    rendered, _ = render_questions(loaded.tokenizer, [q + " Why?" * i for i, q in enumerate(QUESTIONS)])
    prompts = [p.input_ids for p in rendered]
    prefix = shareable_prefix(loaded, prompts)
    assert prefix >= 16 and len({len(p) for p in prompts}) > 2  # padded rows
    settings = GenerationSettings(max_new_tokens=16, min_new_tokens=16, batch_size=len(prompts))
    edit = strong_edit(loaded.architecture.n_layers)
    answers = {}
    for name, run_edit in (("plain", None), ("edited", edit)):
        for share in (False, True):
            counter = TokenCounter(loaded)
            try:
                answers[name, share] = [a.token_ids for a in generate(loaded, prompts, run_edit,
                                                                       settings, share_prefix=share)]
            finally:
                counter.handle.remove()
            computed = counter.count
            answers[name, share, "computed"] = computed
        # The prefix ran once instead of once per row: (rows - 1) x prefix positions fewer.
        saved = answers[name, False, "computed"] - answers[name, True, "computed"]
        assert saved == (len(prompts) - 1) * prefix
        assert answers[name, True] == answers[name, False]
    assert answers["edited", True] != answers["plain", True]  # the edit reached the prefix too
    # Each prompt alone, edited, without padding or sharing: the same answers again.
    alone = [generate(loaded, [p], edit, settings, share_prefix=False)[0].token_ids for p in prompts]
    assert alone == answers["edited", True]


def test_the_prefix_stays_in_front_of_the_padding(tiny_model_dir):
    loaded = load_model(str(tiny_model_dir("llama")), dtype="float32")
    prompts = [[5, 6, 7, 8, 9], [5, 6, 7, 1]]
    inputs = pad_batch(loaded, prompts, prefix=3)
    pad = loaded.tokenizer.pad_token_id
    assert inputs["input_ids"].tolist() == [[5, 6, 7, 8, 9], [5, 6, 7, pad, 1]]
    assert inputs["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 1]]
    assert pad_batch(loaded, prompts)["input_ids"].tolist() == [[5, 6, 7, 8, 9], [pad, 5, 6, 7, 1]]


def test_no_sharing_for_one_row_short_prefixes_or_sliding_windows(tiny_model_dir):
    llama = load_model(str(tiny_model_dir("llama")), dtype="float32")
    long_prefix = list(range(40))
    assert shareable_prefix(llama, [long_prefix + [1]]) == 0
    assert shareable_prefix(llama, [list(range(10)) + [1], list(range(10)) + [2]]) == 0
    assert shareable_prefix(llama, [long_prefix + [1], long_prefix + [2, 3]]) == 40
    gemma = load_model(str(tiny_model_dir("gemma3")), dtype="float32")
    assert shareable_prefix(gemma, [long_prefix + [1], long_prefix + [2]]) == 0
