"""The command line on tiny models: normal use and every bad input of the locate issue."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModelForCausalLM, GPTNeoXConfig

from nnvalues.cube.store import CubeStore
from tests.cli import assert_one_line_error, run_cli
from tests.conftest import make_records, write_jsonl
from tests.tiny_models import byte_tokenizer


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(capsys, monkeypatch, *args)


def test_locate_show_and_slice(cli, tiny_model_dir, prompts_file, tmp_path):
    store = tmp_path / "s.zarr"
    result = cli("locate", "--model", tiny_model_dir("llama"), "--prompts", prompts_file,
                 "--store", store, "--quiet")
    assert result.code == 0, result.err
    assert "openness_to_change" in result.out and "measured" in result.out
    shown = cli("cube", "show", store)
    assert shown.code == 0 and "openness_to_change" in shown.out and "prompt" in shown.out
    sliced = cli("cube", "slice", store, "--layer", "1", "--top", "5")
    assert sliced.code == 0 and "delta" in sliced.out
    out = tmp_path / "slice.csv"
    exported = cli("cube", "slice", store, "--layer", "0:2", "--neuron", "0:10", "--top", "0",
                   "--out", out)
    assert exported.code == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("layer,neuron,p_positive,p_negative,delta") and len(lines) == 21


def test_render_prints_the_ids_the_model_receives(cli, tiny_model_dir, prompts_file):
    from nnvalues.models.loading import load_model

    result = cli("dataset", "render", "--model", tiny_model_dir("llama"), "--prompts", prompts_file)
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert len(lines) == 13 and lines[0]["template_mode"] == "chat"
    tokenizer = load_model(str(tiny_model_dir("llama"))).tokenizer
    first = lines[0]
    assert first["input_ids"] == tokenizer(first["text"], add_special_tokens=False)["input_ids"]
    assert "You will find a value description" in first["text"]
    assert first["text"].endswith("<|assistant|>")
    raw = cli("dataset", "render", "--model", tiny_model_dir("gpt2"), "--prompts", prompts_file)
    assert json.loads(raw.out.splitlines()[0])["template_mode"] == "raw"


def test_unknown_model(cli, tmp_path):
    assert_one_line_error(cli("locate", "--model", "no-such-model", "--store", tmp_path / "s"),
                          "unknown model")


def test_unknown_architecture(cli, tmp_path, prompts_file):
    config = GPTNeoXConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                           intermediate_size=64, vocab_size=263)
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / "neox")
    byte_tokenizer(chat=False).save_pretrained(tmp_path / "neox")
    result = cli("locate", "--model", tmp_path / "neox", "--prompts", prompts_file,
                 "--store", tmp_path / "s")
    assert_one_line_error(result, "architecture 'gpt_neox'")
    assert "llama" in result.err  # says which ones it does know


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda r: r.pop("question"), "missing or empty field(s) question"),
        (lambda r: r.update(dimension="kindness"), "unknown dimension 'kindness'"),
        (lambda r: r.update(polarity="neutral"), "unknown polarity 'neutral'"),
    ],
)
def test_bad_prompt_records(cli, tiny_model_dir, tmp_path, edit, fragment):
    rows = make_records(paired=2)
    edit(rows[2])
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    result = cli("locate", "--model", tiny_model_dir("llama"), "--prompts", path,
                 "--store", tmp_path / "s")
    assert_one_line_error(result, f"bad.jsonl:3: {fragment}")


def test_malformed_json_line(cli, tiny_model_dir, tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(make_records(paired=1)[0]) + "\n{not json\n")
    assert_one_line_error(cli("locate", "--model", tiny_model_dir("llama"), "--prompts", path,
                              "--store", tmp_path / "s"), "broken.jsonl:2: not valid JSON")


def test_empty_selection(cli, tiny_model_dir, prompts_file, tmp_path):
    result = cli("locate", "--model", tiny_model_dir("llama"), "--prompts", prompts_file,
                 "--dimensions", "conservation", "--store", tmp_path / "s")
    assert_one_line_error(result, "holds no prompts")


def test_unknown_dimension_option(cli, tmp_path):
    assert_one_line_error(cli("locate", "--dimensions", "kindness", "--store", tmp_path / "s"),
                          "unknown dimension 'kindness'")


def test_zero_prompts(cli, tiny_model_dir, tmp_path):
    rows = [r for r in make_records(paired=2) if r["polarity"] == "negative"]
    for row in rows:
        row.pop("pair")
    path = write_jsonl(tmp_path / "neg.jsonl", rows)
    assert_one_line_error(cli("locate", "--model", tiny_model_dir("llama"), "--prompts", path,
                              "--store", tmp_path / "s"), "N > 0")


def test_store_of_other_settings_is_left_alone(cli, tiny_model_dir, prompts_file, tmp_path):
    store = tmp_path / "s.zarr"
    model = tiny_model_dir("llama")
    assert cli("locate", "--model", model, "--prompts", prompts_file, "--store", store,
               "--quiet").code == 0
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    result = cli("locate", "--model", model, "--prompts", prompts_file, "--store", store,
                 "--counting", "token")
    assert_one_line_error(result, "other settings")
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before
    assert CubeStore.open(store).dimensions(CubeStore.open(store).models()[0]) == ["openness_to_change"]


def test_path_that_is_not_a_store(cli, tiny_model_dir, prompts_file, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file.txt").write_text("mine")
    assert_one_line_error(cli("cube", "show", tmp_path / "x"), "not an nnvalues store")
    result = cli("locate", "--model", tiny_model_dir("llama"), "--prompts", prompts_file,
                 "--store", tmp_path / "x")
    assert_one_line_error(result, "not an nnvalues store")
    assert (tmp_path / "x" / "file.txt").read_text() == "mine"


def test_bad_slice_requests(cli, tiny_model_dir, prompts_file, tmp_path):
    store = tmp_path / "s.zarr"
    cli("locate", "--model", tiny_model_dir("llama"), "--prompts", prompts_file, "--store", store,
        "--quiet")
    assert_one_line_error(cli("cube", "slice", store, "--layer", "7"), "out of range")
    assert_one_line_error(cli("cube", "slice", store, "--dimension", "conservation"),
                          "no dimension 'conservation'")
    assert_one_line_error(cli("cube", "slice", store, "--layer", "a:b"), "cannot read layer")


def test_models_lists_the_embedded_ones(cli):
    result = cli("models")
    assert result.code == 0 and "smollm2-135m" in result.out and "gemma3-270m" in result.out


@pytest.mark.parametrize("command", [["intervene", "What would you do?"],
                                     ["evaluate", "--dry-run", "--limit", "1"]])
def test_remote_without_an_api_key(cli, monkeypatch, command):
    monkeypatch.delenv("NDIF_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "judge-key")  # the judge is not what is tested here
    monkeypatch.setattr("nnsight.CONFIG.API.APIKEY", None, raising=False)
    assert_one_line_error(cli(*command, "--remote"), "no NDIF API key")
