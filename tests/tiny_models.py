"""Tiny random causal LMs of several architectures, built in code in milliseconds.

Each is saved with a byte-level tokenizer to a directory, so that tests load it through the
same `load_model` path that users take. No download is involved.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    Gemma3TextConfig,
    LlamaConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
)

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIALS = ["<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|end|>", "<|system|>"]


def byte_tokenizer(chat: bool) -> PreTrainedTokenizerFast:
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    for special in SPECIALS:
        vocab[special] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        additional_special_tokens=SPECIALS[3:],
    )
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


VOCAB = 256 + len(SPECIALS)
SMALL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             vocab_size=VOCAB, max_position_embeddings=2048)

CONFIGS = {
    "llama": lambda: LlamaConfig(intermediate_size=96, **SMALL),
    "qwen2": lambda: Qwen2Config(intermediate_size=80, **SMALL),
    "gemma3": lambda: Gemma3TextConfig(intermediate_size=112, head_dim=16, sliding_window=64,
                                       **SMALL),
    "gpt2": lambda: GPT2Config(n_embd=48, n_layer=3, n_head=4, n_inner=72, vocab_size=VOCAB,
                               n_positions=2048, bos_token_id=257, eos_token_id=258),
}
CHAT = {"llama": True, "qwen2": True, "gemma3": True, "gpt2": False}


def build(kind: str, directory: Path, seed: int = 0) -> Path:
    """Write a tiny `kind` model with its tokenizer to `directory` and return it."""
    torch.manual_seed(seed)
    config = CONFIGS[kind]()
    tokenizer = byte_tokenizer(CHAT[kind])
    for field in ("pad_token_id", "bos_token_id", "eos_token_id"):
        setattr(config, field, getattr(tokenizer, field))
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():  # random init leaves many tiny weights; widen them for clearer signs
        for parameter in model.parameters():
            if parameter.dim() == 2:
                parameter.normal_(0.0, 0.2)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
