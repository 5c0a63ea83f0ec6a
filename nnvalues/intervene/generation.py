"""Batched generation, plain or with an edit applied on every forward step through nnsight.

Prompts are token ids, padded on the left with an attention mask, so a batch of questions
of different lengths generates as each would alone. The edit runs inside nnsight's
`tracer.all()` loop: step 0 is the prompt's forward pass, then one step per new token, so
every position the model ever computes sees the edited activations. The loop is
open-ended, so the result is read in a second invoke that runs after the generation.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import torch

from nnvalues.errors import UsageError
from nnvalues.execution import Execution
from nnvalues.intervene.edits import Edit
from nnvalues.models.loading import LoadedModel
from nnvalues.stats.batching import left_pad


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
            raise UsageError(f"--max-new-tokens must be at least 1 (got {self.max_new_tokens})")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1 (got {self.batch_size})")
        if self.do_sample and not self.temperature > 0:
            raise UsageError(f"--temperature must be > 0 (got {self.temperature})")

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


def pad_batch(loaded: LoadedModel, prompts: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
    """Left-padded input ids and attention mask on the model's device."""
    ids, mask = left_pad(prompts, loaded.tokenizer.pad_token_id)
    return {"input_ids": ids.to(loaded.device), "attention_mask": mask.to(loaded.device)}


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


def _stop_ids(loaded: LoadedModel) -> set[int]:
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
             execution: Execution | None = None) -> list[Generated]:
    """Answers to `prompts` (token ids); plain transformers generation when `edit` is None.

    With a serialised `execution` (NDIF or its simulation) every batch, edited or not, is
    one nnsight generation request: the weights are not here.
    """
    serialised = execution is not None and execution.serialised
    if not prompts:
        return []
    kwargs = settings.generate_kwargs()
    device_edit = None
    if edit is not None:
        device_edit = edit.to(loaded.device, loaded.hf_model.dtype)
    stop = _stop_ids(loaded)
    answers: list[Generated] = []
    for number, start in enumerate(range(0, len(prompts), settings.batch_size)):
        chunk = prompts[start:start + settings.batch_size]
        inputs = pad_batch(loaded, chunk)
        if settings.do_sample:
            torch.manual_seed(settings.seed + number)
        with torch.inference_mode():
            if serialised:
                sequences = _generate_edited(loaded, inputs, device_edit or Edit.empty(), kwargs,
                                             execution.trace_options(loaded, generating=True))
            elif device_edit is None:
                sequences = loaded.hf_model.generate(**inputs, **kwargs)
            else:
                sequences = _generate_edited(loaded, inputs, device_edit, kwargs)
        width = inputs["input_ids"].shape[1]
        for row in sequences[:, width:].tolist():
            tokens = _trim(row, stop)
            text = loaded.tokenizer.decode(tokens, skip_special_tokens=True).strip()
            answers.append(Generated(tuple(tokens), text))
        if on_batch is not None:
            on_batch(len(chunk))
    return answers
