"""Batched generation, plain or with an edit applied on every forward step.

Prompts are token ids, padded on the left with an attention mask, so a batch of questions
of different lengths generates as each would alone. Every position the model ever computes
(the prompt's forward pass, then one step per new token) sees the edited activations.
Here the edit is a forward hook on each edited layer's activation module (`Edit.applied`):
plain `transformers` generation with no tracing cost per step. When the weights are
elsewhere (NDIF, a serialised execution), the same edit runs inside nnsight's
`tracer.all()` step loop instead; the loop is open-ended, so the result is read in a second
invoke that runs after the generation. Both give the same tokens (tests/test_remote.py).

With `share_prefix`, the tokens every prompt of a batch starts with (system prompt and
template, about half of each question's prompt) run once, edited like the rest, and their
key/value cache is repeated over the batch; the padding then sits between that prefix and
each prompt's own tokens, where the attention mask hides it and the positions skip it.
Generation grows that cache as usual, so it is a fresh one per batch.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import torch

from nnvalues.errors import UsageError
from nnvalues.execution import Execution
from nnvalues.intervene.edits import Edit, hooked
from nnvalues.models.loading import LoadedModel
from nnvalues.stats.batching import MIN_SHARED_PREFIX, left_pad, shared_prefix_length

SHARE_PREFIX = True
"""Default of `generate(share_prefix=...)`: 1.2-1.9x the tokens per second (bench_intervene)."""


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 128
    do_sample: bool = False
    """Greedy by default; sampling draws from a generator seeded per batch."""
    seed: int = 0
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 8
    min_new_tokens: int = 0
    """Generate at least this many tokens, end of sequence or not (for fixed-length timing)."""

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise UsageError(f"`max_new_tokens` must be at least 1 (got {self.max_new_tokens})")
        if self.batch_size < 1:
            raise UsageError(f"`batch_size` must be at least 1 (got {self.batch_size})")
        if self.do_sample and not self.temperature > 0:
            raise UsageError(f"`temperature` must be > 0 (got {self.temperature})")

    def generate_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.min_new_tokens:
            kwargs["min_new_tokens"] = min(self.min_new_tokens, self.max_new_tokens)
        if self.do_sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p, top_k=None)
        else:  # the model's own sampling defaults would only raise warnings here
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Generated:
    token_ids: tuple[int, ...]
    """New tokens up to and including the first end-of-sequence token."""
    text: str


def pad_batch(loaded: LoadedModel, prompts: Sequence[Sequence[int]], prefix: int = 0,
              ) -> dict[str, torch.Tensor]:
    """Left-padded input ids and attention mask on the model's device.

    The first `prefix` tokens, which every prompt starts with, stay in front of the padding.
    """
    ids, mask = left_pad([p[prefix:] for p in prompts], loaded.tokenizer.pad_token_id)
    if prefix:
        shared = torch.as_tensor([list(prompts[0][:prefix])], dtype=torch.long).expand(len(prompts), -1)
        ids = torch.cat([shared, ids], dim=1)
        mask = torch.cat([torch.ones_like(shared), mask], dim=1)
    return {"input_ids": ids.to(loaded.device), "attention_mask": mask.to(loaded.device)}


def shareable_prefix(loaded: LoadedModel, prompts: Sequence[Sequence[int]]) -> int:
    """Tokens all `prompts` start with, when worth running once (else 0)."""
    if len(prompts) < 2 or not loaded.architecture.prefix_cache:
        return 0
    length = shared_prefix_length(prompts)
    return length if length >= MIN_SHARED_PREFIX else 0


def prefix_cache(loaded: LoadedModel, prefix_ids: Sequence[int], rows: int,
                 edit: Edit | None = None) -> Any:
    """The key/value cache of `prefix_ids` run once (with `edit`), repeated over `rows`."""
    ids = torch.as_tensor([list(prefix_ids)], dtype=torch.long, device=loaded.device)
    with hooked(loaded, edit):  # the base model: the prefix's logits are never needed
        cache = loaded.hf_model.base_model(input_ids=ids, use_cache=True).past_key_values
    cache.batch_repeat_interleave(rows)
    return cache


def _generate_edited(loaded: LoadedModel, inputs: dict[str, torch.Tensor], edit: Edit,
                     kwargs: dict[str, Any], trace_options: dict[str, Any] | None = None,
                     ) -> torch.Tensor:
    envoy = loaded.envoy
    with warnings.catch_warnings():
        # nnsight warns that the open-ended step loop stops when generation does: expected.
        warnings.filterwarnings("ignore", message=".*was never reached.*")
        with envoy.generate(**kwargs, **(trace_options or {})) as tracer:
            with tracer.invoke(inputs):
                # An open step loop that touches no module would wait forever: skip it.
                if edit.layers:
                    for _ in tracer.all():
                        edit.apply(loaded)
            with tracer.invoke():
                sequences = tracer.result.save()
    return sequences


def stop_ids(loaded: LoadedModel) -> set[int]:
    eos = loaded.hf_model.generation_config.eos_token_id
    if eos is None:
        eos = loaded.tokenizer.eos_token_id
    return set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}


def _trim(new_tokens: list[int], stop: set[int]) -> list[int]:
    for position, token in enumerate(new_tokens):
        if token in stop:
            return new_tokens[:position + 1]
    return new_tokens


def generate(loaded: LoadedModel, prompts: Sequence[Sequence[int]], edit: Edit | None = None,
             settings: GenerationSettings = GenerationSettings(),
             on_batch: Callable[[int], None] | None = None,
             execution: Execution | None = None,
             share_prefix: bool = SHARE_PREFIX) -> list[Generated]:
    """Answers to `prompts` (token ids), with `edit` applied on every step when given.

    With a serialised `execution` (NDIF or its simulation) every batch, edited or not, is
    one nnsight generation request: the weights are not here. `share_prefix` runs a batch's
    common prefix once (local runs); the answers are the same up to float rounding.
    """
    serialised = execution is not None and execution.serialised
    if not prompts:
        return []
    kwargs = settings.generate_kwargs()
    device_edit = None
    if edit is not None:
        device_edit = edit.to(loaded.device, loaded.hf_model.dtype)
    stop = stop_ids(loaded)
    answers: list[Generated] = []
    for number, start in enumerate(range(0, len(prompts), settings.batch_size)):
        chunk = prompts[start:start + settings.batch_size]
        prefix = shareable_prefix(loaded, chunk) if share_prefix and not serialised else 0
        inputs = pad_batch(loaded, chunk, prefix)
        if settings.do_sample:
            torch.manual_seed(settings.seed + number)
        with torch.inference_mode():
            step_kwargs = dict(kwargs)
            if prefix:
                step_kwargs["past_key_values"] = prefix_cache(loaded, chunk[0][:prefix],
                                                              len(chunk), device_edit)
            if serialised:
                sequences = _generate_edited(loaded, inputs, device_edit or Edit.empty(), kwargs,
                                             execution.trace_options(loaded, generating=True))
            else:
                with hooked(loaded, device_edit):
                    sequences = loaded.hf_model.generate(**inputs, **step_kwargs)
        width = inputs["input_ids"].shape[1]
        for row in sequences[:, width:].tolist():
            tokens = _trim(row, stop)
            text = loaded.tokenizer.decode(tokens, skip_special_tokens=True).strip()
            answers.append(Generated(tuple(tokens), text))
        if on_batch is not None:
            on_batch(len(chunk))
    return answers
