"""The edit while generating: it is exactly eq. 6 on every step, it changes nothing when it
edits nothing, batching and seeds behave, and the command line answers side by side."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import nnvalues
from nnvalues.intervene import (
    Edit, GenerationSettings, LayerEdit, build_edit, choose_neuron_set, generate, intervene,
)
from nnvalues.select import RandomLike, TopK
from nnvalues.intervene.generation import shareable_prefix
from nnvalues.intervene.questions import render_questions
from nnvalues.models.loading import load_model
from nnvalues.select import NeuronSet, Selection
from tests.cli import assert_one_line_error, run_cli
from tests.conftest import QUESTIONS

# (layer, neuron, delta): value neurons have delta > 0, opposite neurons delta < 0.
PICKED = [(0, 2, 0.4), (0, 9, -0.3), (0, 30, 0.05), (1, 4, -0.6), (1, 11, 0.25), (1, 50, 0.8)]


def hand_set(loaded, picked=PICKED) -> NeuronSet:
    layer, neuron, delta = (np.array(c) for c in zip(*picked)) if picked else ([], [], [])
    delta = np.asarray(delta, dtype=float)
    selection = Selection(np.asarray(layer, dtype=int), np.asarray(neuron, dtype=int), delta,
                          np.where(delta > 0, "value", "opposite"))
    arch = loaded.architecture
    return NeuronSet(loaded.name, loaded.revision, "conservation", "hand", {}, "", "", arch.n_layers,
                     arch.n_neurons, "prompt", "", "", selection, np.zeros(len(delta)),
                     np.zeros(len(delta)), activation_scale=np.array([0.7, 1.3]))


def prompt_ids(loaded, n=3):
    rendered, _ = render_questions(loaded.tokenizer, [q * (i + 1) for i, q in enumerate(QUESTIONS[:n])])
    return [p.input_ids for p in rendered]


@pytest.fixture(scope="module")
def llama(tiny_model_dir):
    return load_model(str(tiny_model_dir("llama")))


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_an_empty_edit_changes_no_token(tiny_model_dir, kind):
    loaded = load_model(str(tiny_model_dir(kind)))
    ids = prompt_ids(loaded)
    assert len({len(p) for p in ids}) == 3  # the batch really is padded
    settings = GenerationSettings(max_new_tokens=12, batch_size=3)
    plain = generate(loaded, ids, None, settings)
    through_nnsight = generate(loaded, ids, Edit.empty(), settings)
    assert [a.token_ids for a in through_nnsight] == [a.token_ids for a in plain]
    # The step loop itself, rewriting neurons of every layer with the identity, changes nothing.
    n_layers = loaded.architecture.n_layers
    identity = Edit(tuple(
        LayerEdit(layer, torch.arange(0, 40, 3), torch.ones(14), torch.zeros(14),
                  torch.full((14,), float("inf")), 14, 0) for layer in range(n_layers)))
    looped = generate(loaded, ids, identity, settings)
    assert [a.token_ids for a in looped] == [a.token_ids for a in plain]
    assert all(len(a.token_ids) > 1 for a in plain)


def expected_activation(act: torch.Tensor, direction: str, rule: str, gamma: float,
                        layer: int, scale_of_layer: float) -> torch.Tensor:
    """Eq. 6 written out from the paper, independently of the library's edit tensors."""
    out = act.clone()
    for l, n, delta in PICKED:
        if l != layer:
            continue
        promoted = delta > 0 if direction == "positive" else delta < 0
        if not promoted:
            out[..., n] = torch.clamp(act[..., n], max=0.0)
        elif rule == "multiply":
            out[..., n] = act[..., n] * (1 + abs(delta) * gamma)
        else:
            gate = 1 / (1 + np.exp(-10 * (abs(delta) - 0.15)))
            out[..., n] = act[..., n] + gamma * gate * scale_of_layer
    return out


@pytest.mark.parametrize(("direction", "rule"), [("positive", "multiply"), ("negative", "multiply"),
                                                 ("positive", "add")])
def test_the_next_layer_sees_eq6_on_every_step(llama, direction, rule):
    """Plain PyTorch hooks (not nnsight) record gate, up and what down_proj receives."""
    gamma = 2.5
    neuron_set = hand_set(llama)
    edit = build_edit(neuron_set, direction, gamma, rule)
    seen: dict[int, dict[str, list[torch.Tensor]]] = {}
    handles = []
    for layer, block in enumerate(llama.hf_model.model.layers):
        record = seen.setdefault(layer, {"gate": [], "up": [], "down": []})
        mlp = block.mlp
        handles += [
            mlp.gate_proj.register_forward_hook(lambda m, i, o, r=record: r["gate"].append(o.clone())),
            mlp.up_proj.register_forward_hook(lambda m, i, o, r=record: r["up"].append(o.clone())),
            mlp.down_proj.register_forward_pre_hook(lambda m, i, r=record: r["down"].append(i[0].clone())),
        ]
    ids = prompt_ids(llama, 2)
    try:
        answers = generate(llama, ids, edit, GenerationSettings(max_new_tokens=6))
    finally:
        for handle in handles:
            handle.remove()
    steps = max(len(a.token_ids) for a in answers)
    prefix_pass = int(shareable_prefix(llama, ids) > 0)  # the shared prefix, run once, edited
    changed = 0
    for layer, record in seen.items():
        # (prefix pass) + prompt pass + one per further new token
        assert len(record["down"]) == prefix_pass + steps
        for gate, up, down in zip(record["gate"], record["up"], record["down"]):
            act = torch.nn.functional.silu(gate)
            want = expected_activation(act, direction, rule, gamma, layer,
                                       float(neuron_set.activation_scale[layer]))
            torch.testing.assert_close(down, want * up, rtol=1e-5, atol=1e-6)
            changed += int(not torch.allclose(want, act))
    assert changed >= steps  # the edit really moved activations on (nearly) every step


def test_batched_equals_one_by_one_with_an_edit(llama):
    ids = prompt_ids(llama)
    edit = build_edit(hand_set(llama), "positive", 3.0)
    together = generate(llama, ids, edit, GenerationSettings(max_new_tokens=8, batch_size=3))
    alone = [generate(llama, [p], edit, GenerationSettings(max_new_tokens=8))[0] for p in ids]
    assert [a.token_ids for a in together] == [a.token_ids for a in alone]


def test_sampling_is_seeded(llama):
    ids = prompt_ids(llama, 2)
    edit = build_edit(hand_set(llama), "negative", 2.0)

    def sample(seed):
        settings = GenerationSettings(max_new_tokens=10, do_sample=True, seed=seed)
        return [a.token_ids for a in generate(llama, ids, edit, settings)]

    assert sample(3) == sample(3)
    assert sample(3) != sample(4)


def test_the_edit_spans_the_chosen_neurons_only(llama):
    edit = build_edit(hand_set(llama), "negative", 2.0)
    assert edit.size == len(PICKED)
    assert edit.per_layer() == {0: (1, 2), 1: (1, 2)}  # (amplified, suppressed) per layer
    (first, second) = edit.layers
    assert first.index.tolist() == [2, 9, 30]
    torch.testing.assert_close(first.scale, torch.tensor([1.0, 1.6, 1.0]))
    assert first.upper.tolist() == [0.0, float("inf"), 0.0]


# --- the API and command line on a store measured from the tiny model ---------------------

@pytest.fixture(scope="module")
def measured(tiny_model_dir, tmp_path_factory):
    from tests.conftest import make_records, write_jsonl

    folder = tmp_path_factory.mktemp("intervene")
    prompts = write_jsonl(folder / "p.jsonl", make_records(paired=5))
    store = folder / "s.zarr"
    nnvalues.locate(str(tiny_model_dir("llama")), prompts=prompts, store=store, show_progress=False)
    return store


def test_intervene_api(llama, measured):
    neurons = choose_neuron_set(llama, store=measured, rule=TopK(5))
    result = intervene(llama, QUESTIONS[:2], Edit.from_neurons(neurons),
                       settings=GenerationSettings(max_new_tokens=6))
    assert result.neuron_set.dimension == "openness_to_change" and len(result.neuron_set) <= 10
    data = result.to_json()
    assert [a["question"] for a in data["answers"]] == QUESTIONS[:2]
    assert data["edit"]["direction"] == "positive" and data["edit"]["gamma"] == 2.0
    assert data["neuron_set"]["rule"] == "top-k" and data["template"]["template"] == "answer-question"
    assert "Imagine you are a real person" in data["answers"][0]["prompt"]
    assert sum(v["amplified"] + v["suppressed"] for v in data["edit"]["per_layer"].values()) == \
        len(result.neuron_set)
    random_set = choose_neuron_set(llama, store=measured, rule=RandomLike(TopK(5)))
    control = intervene(llama, QUESTIONS[:1], Edit.from_neurons(random_set),
                        settings=GenerationSettings(max_new_tokens=4))
    assert control.neuron_set.random and len(control.neuron_set) == len(result.neuron_set)


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(capsys, monkeypatch, *args)


def test_intervene_command(cli, tiny_model_dir, measured, tmp_path):
    model = tiny_model_dir("llama")
    shown = cli("intervene", "--model", model, "--store", measured, "--max-new-tokens", "4",
                "--direction", "negative", "--gamma", "1.5", QUESTIONS[0])
    assert shown.code == 0, shown.err
    assert "unedited" in shown.out and "edited (negative, gamma 1.5)" in shown.out
    assert "amplified" in shown.out and QUESTIONS[0] in shown.out
    assert cli("select", "--store", measured, "--dimension", "openness_to_change", "--top-k", "3",
               "--name", "three").code == 0
    questions = tmp_path / "q.txt"
    questions.write_text("\n".join(QUESTIONS[:3]) + "\n")
    out = tmp_path / "result.json"
    printed = cli("intervene", "--model", model, "--store", measured, "--neuron-set", "three",
                  "--questions", questions, "--max-new-tokens", "3", "--json", "--out", out,
                  "--quiet")
    assert printed.code == 0, printed.err
    data = json.loads(printed.out)
    assert data == json.loads(out.read_text())
    assert len(data["answers"]) == 3 and data["neuron_set"]["name"] == "three"
    assert set(data["answers"][0]) >= {"question", "unedited", "edited"}


@pytest.mark.parametrize(("args", "fragment"), [
    (("--dimension", "kindness"), "unknown dimension 'kindness'"),
    (("--direction", "sideways"), "unknown direction 'sideways'"),
    (("--neuron-set", "nope"), "no neuron set 'nope'"),
    (("--gamma", "-1"), "gamma must be a number >= 0"),
    (("--gamma", "lots"), "gamma must be a number >= 0"),
    (("--threshold", "0.99"), "try --threshold"),
    (("--edit", "replace"), "unknown edit rule 'replace'"),
])
def test_intervene_bad_input(cli, tiny_model_dir, measured, args, fragment):
    result = cli("intervene", "--model", tiny_model_dir("llama"), "--store", measured,
                 "--max-new-tokens", "2", *args, "A question?")
    assert_one_line_error(result, fragment)


def test_a_store_of_another_model_is_refused(cli, tiny_model_dir, measured):
    result = cli("intervene", "--model", tiny_model_dir("qwen2"), "--store", measured, "Why?")
    assert_one_line_error(result, "not tiny-qwen2")


@pytest.mark.embedded
def test_edits_change_the_embedded_models_answers(tmp_path):
    store = tmp_path / "s.zarr"
    nnvalues.locate("smollm2-135m", dimensions=["self_transcendence"], limit=2, store=store,
                    show_progress=False)
    question = "Your neighbour asks you to water their plants all summer. What would you do?"
    settings = GenerationSettings(max_new_tokens=10)
    model = nnvalues.load_model("smollm2-135m")
    neurons = choose_neuron_set(model, store=store)
    toward = intervene(model, question, Edit.from_neurons(neurons, "positive"), settings=settings)
    away = intervene(model, question, Edit.from_neurons(neurons, "negative"), settings=settings)
    (up,), (down,) = toward.answers, away.answers
    assert up.unedited == down.unedited and up.unedited
    assert up.edited != up.unedited and down.edited != down.unedited and up.edited != down.edited
