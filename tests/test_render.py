"""Prompt rendering: the paper's template, chat or raw, and the BOS token of raw prompts."""

from __future__ import annotations

import pytest

from nnvalues.data.records import PromptRecord
from nnvalues.errors import UsageError
from nnvalues.prompts.render import Renderer
from tests.tiny_models import byte_tokenizer

RECORD = PromptRecord("r1", "conservation", "positive", "You keep old customs.",
                      "Your friend invites you to skip a family dinner. What would you do?")


def test_chat_mode_uses_the_chat_template():
    tokenizer = byte_tokenizer(chat=True)
    rendered = Renderer(tokenizer).render(RECORD)
    expected = tokenizer.apply_chat_template(
        [{"role": "user", "content": Renderer(tokenizer).fill(RECORD)}],
        add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    assert list(rendered.input_ids) == list(expected)
    assert rendered.text.startswith("<|user|>You will find a value description")
    assert "Value description: You keep old customs.\n\nQuestion: Your friend" in rendered.text
    assert rendered.text.endswith("Response:<|end|><|assistant|>")


def test_raw_mode_starts_with_one_bos():
    tokenizer = byte_tokenizer(chat=False)
    renderer = Renderer(tokenizer)
    assert renderer.mode == "raw"
    ids = renderer.render(RECORD).input_ids
    assert ids[0] == tokenizer.bos_token_id and ids[1] != tokenizer.bos_token_id
    assert tokenizer.decode(ids[1:]).startswith("You will find")


def test_raw_mode_leaves_gpt2_style_tokenizers_alone():
    tokenizer = byte_tokenizer(chat=False)
    tokenizer.bos_token = tokenizer.eos_token  # GPT-2: one token is both BOS and EOS
    ids = Renderer(tokenizer).render(RECORD).input_ids
    assert tokenizer.decode(ids).startswith("You will find")


def test_settings_record_the_choice():
    chat = Renderer(byte_tokenizer(chat=True)).settings()
    raw = Renderer(byte_tokenizer(chat=True), "raw").settings()
    assert chat["template_mode"] == "chat" and raw["template_mode"] == "raw"
    assert chat["template_sha256"] != raw["template_sha256"]


def test_chat_mode_needs_a_chat_template():
    with pytest.raises(UsageError, match="no chat template"):
        Renderer(byte_tokenizer(chat=False), "chat")
    with pytest.raises(UsageError, match="template mode"):
        Renderer(byte_tokenizer(chat=True), "fancy")  # type: ignore[arg-type]
