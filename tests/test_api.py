"""The notebook API: locate in memory, the cube accessor, rules as values, nv.select, and an
Edit applied inside the user's own nnsight trace or around plain Hugging Face calls."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import xarray as xr

import nnvalues as nv
from nnvalues.choices import Direction, check_choice
from nnvalues.intervene.questions import render_questions
from tests.conftest import QUESTIONS
from tests.test_intervene import hand_set


@pytest.fixture(scope="module")
def llama(tiny_model_dir):
    return nv.load_model(str(tiny_model_dir("llama")))


@pytest.fixture(scope="module")
def cube(llama, tmp_path_factory):
    from tests.conftest import make_records, write_jsonl

    prompts = write_jsonl(tmp_path_factory.mktemp("api") / "p.jsonl", make_records(paired=5))
    return nv.locate(llama, prompts=prompts, show_progress=False), prompts


def test_locate_in_memory_returns_the_stored_cube_and_writes_nothing(llama, cube, tmp_path,
                                                                      monkeypatch):
    memory, prompts = cube
    assert isinstance(memory, xr.Dataset)
    assert memory["active"].dims == ("model", "dimension", "layer", "neuron", "polarity")
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir(tmp_path))
    again = nv.locate(llama, prompts=prompts, show_progress=False)
    assert set(os.listdir(tmp_path)) == before  # no store, no default store, no checkpoint
    stored = nv.locate(llama, prompts=prompts, store=tmp_path / "s.zarr", show_progress=False)
    opened = nv.open_cube(tmp_path / "s.zarr")
    for name in ("active", "activation_sum", "positive_only", "negative_only", "units"):
        np.testing.assert_array_equal(memory[name].values, again[name].values)
        np.testing.assert_array_equal(memory[name].values, opened[name].values)
        np.testing.assert_array_equal(stored[name].values, opened[name].values)
    assert str(memory["model_revision"].values[0]) == llama.revision


def test_accessor_statistics_and_selection(cube):
    memory, _ = cube
    p = memory["active"] / memory["units"]
    expected = p.sel(polarity="positive") - p.sel(polarity="negative")
    np.testing.assert_allclose(memory.nnv.delta().values, expected.values)
    means = memory["activation_sum"] / memory["tokens"]
    np.testing.assert_allclose(memory.nnv.mean_activation().values, means.values)
    np.testing.assert_allclose(memory.nnv.delta("mean").values,
                               (means.sel(polarity="positive") - means.sel(polarity="negative")).values)
    cell = memory.nnv.cell()
    assert "model" not in cell.dims and cell.sizes["layer"] == 2
    rule = nv.Threshold(0.1)
    by_accessor = memory.nnv.select(rule=rule)
    by_function = nv.select(memory, dimension="openness_to_change", rule=rule)
    assert by_accessor.table().equals(by_function.table())
    d = expected.isel(model=0, dimension=0).values
    assert by_function.count("value") == int(np.sum(d >= 0.1)) > 0
    assert by_function.store == "(in memory)"
    layers = memory.nnv.per_layer(rule=rule)
    assert layers.dims == ("layer", "role")
    assert int(layers.sel(role="value").sum()) == by_function.count("value")
    assert int(layers.sel(role="opposite").sum()) == by_function.count("opposite")
    control = nv.select(memory, rule=nv.RandomLike(rule, seed=3, match_layers=True))
    assert len(control) == len(by_function) and control.random
    with pytest.raises(nv.UsageError, match="no dimension 'conservation'"):
        memory.nnv.select(dimension="conservation")
    with pytest.raises(nv.UsageError, match="saves a set inside a store"):
        nv.select(memory, rule=rule, name="kept")


@pytest.mark.parametrize("make", [
    lambda: nv.Threshold(-0.1), lambda: nv.Threshold(float("nan")), lambda: nv.TopK(0),
    lambda: nv.TopK(2.5), lambda: nv.FDR(1.5), lambda: nv.FDR(0.05, test="chi2"),
    lambda: nv.RandomLike(nv.RandomLike()), lambda: nv.RandomLike(seed="x"),
])
def test_rules_are_checked_where_they_are_made(make):
    with pytest.raises(ValueError):  # a UsageError is a ValueError too
        make()


def test_check_choice_names_the_valid_values():
    assert check_choice("negative", Direction, "direction") == "negative"
    with pytest.raises(nv.UsageError, match="unknown direction 'up'; choose from positive, negative"):
        check_choice("up", Direction, "direction")


def _inputs(loaded):
    (prompt,), _ = render_questions(loaded.tokenizer, [QUESTIONS[0]])
    ids = torch.tensor([prompt.input_ids])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def test_an_edit_in_the_users_trace_matches_hooks_and_intervene(llama):
    edit = nv.Edit.from_neurons(hand_set(llama), direction="positive", gamma=3.0)
    inputs = _inputs(llama)
    with torch.inference_mode():
        plain = llama.hf_model(**inputs).logits
        with llama.envoy.trace(inputs):
            edit.apply(llama)
            traced = llama.envoy.lm_head.output.save()
        with edit.applied(llama):
            hooked = llama.hf_model(**inputs).logits
        after = llama.hf_model(**inputs).logits
    torch.testing.assert_close(traced, hooked)
    assert not torch.allclose(traced, plain)
    torch.testing.assert_close(after, plain)  # the hooks are gone
    # The intervene path generates with the same edit: its first token is the traced argmax,
    # and hooked greedy generation gives the very same answer.
    settings = nv.GenerationSettings(max_new_tokens=6, batch_size=1)
    result = nv.intervene(llama, QUESTIONS[0], edit, settings=settings)
    first = llama.tokenizer.decode([int(traced[0, -1].argmax())])
    assert result.answers[0].edited.startswith(first.strip()) or not first.strip()
    with torch.inference_mode(), edit.applied(llama):
        out = llama.hf_model.generate(**inputs, max_new_tokens=6, do_sample=False,
                                      pad_token_id=llama.tokenizer.pad_token_id)
    generated = llama.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:],
                                       skip_special_tokens=True).strip()
    assert generated == result.answers[0].edited


def test_an_edit_works_on_a_plain_nnsight_model_and_hooks_go_after_errors(llama):
    from nnsight import LanguageModel

    edit = nv.Edit.from_neurons(hand_set(llama), direction="negative", gamma=2.0)
    inputs = _inputs(llama)
    wrapped = LanguageModel(llama.hf_model, tokenizer=llama.tokenizer)
    with torch.inference_mode():
        with wrapped.trace(inputs):
            edit.apply(wrapped)
            traced = wrapped.lm_head.output.save()
        with edit.applied(llama):
            hooked = llama.hf_model(**inputs).logits
        with pytest.raises(RuntimeError, match="inside"):
            with edit.applied(llama):
                raise RuntimeError("inside")
        plain = llama.hf_model(**inputs).logits
        with llama.envoy.trace(inputs):
            clean = llama.envoy.lm_head.output.save()
    torch.testing.assert_close(traced, hooked)
    torch.testing.assert_close(clean, plain)
    assert not any(m._forward_hooks for m in llama.hf_model.modules())
