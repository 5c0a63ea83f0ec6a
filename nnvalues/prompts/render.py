"""Render records with the model's chat template when it has one, as raw text otherwise.

What is measured is the token ids returned here: they are built once and passed to the
model as ids, never re-tokenised from a string (which on Gemma adds a second <bos>).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nnvalues.choices import TemplateMode, check_choice
from nnvalues.data.records import PromptRecord
from nnvalues.errors import UsageError
from nnvalues.fingerprint import hash_json
from nnvalues.prompts.templates import DEFAULT_TEMPLATE, TEMPLATES

Mode = TemplateMode


def resolve_mode(tokenizer: Any, mode: TemplateMode = "auto") -> str:
    """"chat" or "raw": auto takes the chat template when the tokenizer has one."""
    check_choice(mode, TemplateMode, "template mode")
    has_chat = bool(getattr(tokenizer, "chat_template", None))
    if mode == "auto":
        return "chat" if has_chat else "raw"
    if mode == "chat" and not has_chat:
        raise UsageError("this model's tokenizer has no chat template; use template mode raw "
                         "(`template_mode`)")
    return mode


def with_bos(tokenizer: Any, ids: list[int]) -> list[int]:
    """Raw prompts start with the model's BOS token when it has a distinct one.

    Tokenizers converted from GGUF (Gemma among them) may not add it themselves, and
    Gemma degrades badly without it; GPT-2 style tokenizers, whose BOS is also their
    EOS, are left as they are.
    """
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    if bos is None or bos == eos or (ids and ids[0] == bos):
        return list(ids)
    return [bos, *ids]


def chat_ids(tokenizer: Any, content: str) -> list[int]:
    """Token ids of one user message in the chat template, ready for the assistant's turn."""
    encoded = tokenizer.apply_chat_template([{"role": "user", "content": content}],
                                            add_generation_prompt=True, tokenize=True,
                                            return_dict=True)
    return list(encoded["input_ids"])


@dataclass(frozen=True)
class RenderedPrompt:
    id: str
    text: str
    input_ids: tuple[int, ...]


class Renderer:
    """Fills a template and turns it into token ids for one tokenizer."""

    def __init__(self, tokenizer: Any, mode: Mode = "auto", template: str = DEFAULT_TEMPLATE):
        if template not in TEMPLATES:
            raise UsageError(f"unknown template {template!r}; choose from {', '.join(TEMPLATES)}")
        self.tokenizer = tokenizer
        self.mode: str = resolve_mode(tokenizer, mode)
        self.template_name = template
        self.template = TEMPLATES[template]

    def fill(self, record: PromptRecord) -> str:
        return self.template.format(description=record.description, question=record.question)

    def render(self, record: PromptRecord) -> RenderedPrompt:
        content = self.fill(record)
        if self.mode == "raw":
            ids = with_bos(self.tokenizer, self.tokenizer(content, add_special_tokens=True)["input_ids"])
            text = self.tokenizer.decode(ids, skip_special_tokens=False)
            return RenderedPrompt(record.id, text, tuple(ids))
        messages = [{"role": "user", "content": content}]
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return RenderedPrompt(record.id, text, tuple(chat_ids(self.tokenizer, content)))

    def settings(self) -> dict[str, str]:
        """What a store records about how prompts were built."""
        chat = getattr(self.tokenizer, "chat_template", None) if self.mode == "chat" else None
        return {
            "template": self.template_name,
            "template_mode": self.mode,
            "template_sha256": hash_json([self.template, self.mode, chat]),
        }
