"""A judge that reads the next-token distribution of a local Hugging Face model: no server.

The prompt is rendered as the model would see it from a chat endpoint (its chat template
with the assistant turn opened) or raw. The probability of every single-token form of a
rating ("4" and " 4") is added up, then renormalised over the ratings (paper eq. 7). Each
rating must have a single-token form in this tokenizer, or the table would be incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from nnvalues.errors import ModelError, UsageError
from nnvalues.intervene.generation import pad_batch
from nnvalues.judge.base import OnScore
from nnvalues.judge.prompts import RATINGS
from nnvalues.judge.scoring import Score, from_probabilities
from nnvalues.models.loading import LoadedModel, load_model
from nnvalues.prompts.render import chat_ids, resolve_mode, with_bos
from nnvalues.stats.batching import MIN_SHARED_PREFIX, shared_prefix_length


def rating_token_ids(tokenizer: Any, ratings: Sequence[int] = RATINGS) -> dict[int, tuple[int, ...]]:
    """rating -> the ids of its single-token forms; a ModelError when a rating has none."""
    found: dict[int, tuple[int, ...]] = {}
    for rating in ratings:
        ids = []
        for form in (str(rating), f" {rating}"):
            encoded = tokenizer(form, add_special_tokens=False)["input_ids"]
            if len(encoded) == 1 and encoded[0] not in ids:
                ids.append(encoded[0])
        if not ids:
            raise ModelError(f"the judge's tokenizer has no single token for the rating {rating}: "
                             "it cannot be scored from one next-token distribution")
        found[rating] = tuple(ids)
    owners: dict[int, int] = {}
    for rating, ids in found.items():
        for token in ids:
            if owners.setdefault(token, rating) != rating:
                raise ModelError(f"token {token} stands for both {owners[token]} and {rating}")
    return found


@dataclass
class LocalJudge:
    loaded: LoadedModel
    template_mode: str = "auto"
    batch_size: int = 8
    share_prefix: bool = True
    """Run the prompts' common opening once per batch (same scores, less work)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UsageError(f"the judge batch size must be at least 1 (got {self.batch_size})")
        self.template_mode = resolve_mode(self.loaded.tokenizer, self.template_mode)
        self.rating_ids = rating_token_ids(self.loaded.tokenizer)

    @classmethod
    def from_spec(cls, spec: str, *, template_mode: str = "auto", batch_size: int = 8,
                  device: str | None = None, dtype: str = "auto") -> "LocalJudge":
        return cls(load_model(spec, device=device, dtype=dtype), template_mode, batch_size)

    @property
    def identity(self) -> dict[str, Any]:
        return {"kind": "local", "model": self.loaded.name, "revision": self.loaded.revision,
                "dtype": self.loaded.dtype, "template_mode": self.template_mode}

    @property
    def deterministic(self) -> bool:
        return True

    def render(self, prompt: str) -> list[int]:
        """Token ids the model reads; its next token should be the rating."""
        tokenizer = self.loaded.tokenizer
        if self.template_mode == "chat":
            return chat_ids(tokenizer, prompt)
        if not any(len(ids) and tokenizer.decode([ids[-1]]).startswith(" ")
                   for ids in self.rating_ids.values()):
            prompt += " "  # the space is its own token here: the rating comes after it
        return with_bos(tokenizer, tokenizer(prompt, add_special_tokens=True)["input_ids"])

    def score(self, prompts: Sequence[str], seed: int = 0,
              on_score: OnScore | None = None) -> list[Score]:
        rows = [self.render(p) for p in prompts]
        # Sorted token lists put prompts with a common opening next to each other.
        order = sorted(range(len(rows)), key=lambda i: rows[i])
        scores: list[Score | None] = [None] * len(rows)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            for index, score in zip(chunk, self._score_ids([rows[i] for i in chunk])):
                scores[index] = score
                if on_score is not None:
                    on_score(index, score)
        return [s for s in scores if s is not None]

    def _score_ids(self, rows: list[list[int]]) -> list[Score]:
        with torch.inference_mode():
            logits = self._next_token_logits(rows)
            probs = torch.softmax(logits.float(), dim=-1).cpu()
        scores = []
        for row in probs:
            table = {r: float(row[list(token_ids)].sum()) for r, token_ids in self.rating_ids.items()}
            top = self.loaded.tokenizer.decode([int(row.argmax())])
            scores.append(from_probabilities(table, RATINGS, answer=top))
        return scores

    def _next_token_logits(self, rows: list[list[int]]) -> torch.Tensor:
        """[batch, vocab] logits of the next token after each row.

        Judge prompts of one criterion share a long opening (instructions, the dimension's
        description): it is run once, and its cache extended by each row's own rest.
        """
        model, device = self.loaded.hf_model, self.loaded.device
        shared = shared_prefix_length(rows) if self.share_prefix and len(rows) > 1 else 0
        past = None
        if shared >= MIN_SHARED_PREFIX:
            opening = torch.as_tensor([rows[0][:shared]], device=device)
            past = model(input_ids=opening, use_cache=True).past_key_values
            past.batch_repeat_interleave(len(rows))
        else:
            shared = 0
        inputs = pad_batch(self.loaded, [r[shared:] for r in rows])
        mask = inputs["attention_mask"]
        positions = shared + (mask.cumsum(-1) - 1).clamp(min=0)
        if shared:
            mask = torch.cat([torch.ones((len(rows), shared), dtype=mask.dtype, device=device), mask], 1)
        output = model(input_ids=inputs["input_ids"], attention_mask=mask, position_ids=positions,
                       past_key_values=past, use_cache=past is not None)
        return output.logits[:, -1, :]
