"""The target tokens every baseline attributes to: one recorded rule, the same for all methods.

The value-neurons paper does not say which tokens its baselines were scored on. Two rules:

- `greedy` (default): the model's own greedy continuation of each prompt (the description
  and the question under the answer template), its first `tokens` tokens; what the model
  would say, so no reference text is needed;
- `reference`: the record's own `answer` field (a prompts file with an "answer" per record),
  tokenised without special tokens and cut to `tokens` tokens.

Single-position methods (LPIP, QRNCA) score the first target token, predicted at the last
prompt position; answer-level methods (CGVST, attribution patching) the whole target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from nnvalues.data.records import PromptRecord
from nnvalues.errors import UsageError
from nnvalues.models.loading import LoadedModel
from nnvalues.prompts.render import RenderedPrompt

if TYPE_CHECKING:
    from nnvalues.execution import Execution

TARGET_RULES = {
    "greedy": "the model's own greedy continuation of each prompt",
    "reference": "the `answer` field of each prompt record",
}


@dataclass(frozen=True)
class TargetRule:
    kind: str = "greedy"
    tokens: int = 8
    """Target tokens per prompt (answer-level methods score them all)."""

    def __post_init__(self) -> None:
        if self.kind not in TARGET_RULES:
            raise UsageError(f"unknown target rule {self.kind!r}; choose from {', '.join(TARGET_RULES)}")
        if self.tokens < 1:
            raise UsageError(f"`target_tokens` must be at least 1 (got {self.tokens})")

    def settings(self) -> dict[str, Any]:
        return {"target_rule": self.kind, "target_tokens": self.tokens}

    def check(self, records: Sequence[PromptRecord]) -> None:
        """Before any model work: reference targets need an answer in every record."""
        if self.kind != "reference":
            return
        missing = [r.id for r in records if not str(r.extra.get("answer", "")).strip()]
        if missing:
            raise UsageError(
                f"--targets reference needs an \"answer\" in every prompt record ({len(missing)} "
                f"lack one, e.g. {missing[0]}): give --prompts FILE with answers, or --targets greedy"
            )

    def targets(self, loaded: LoadedModel, records: Sequence[PromptRecord],
                prompts: Sequence[RenderedPrompt],
                execution: "Execution | None" = None) -> list[tuple[int, ...]]:
        """The target token ids of each prompt (at least one each); greedy targets are
        generated where `execution` runs the model (here when None)."""
        if self.kind == "reference":
            found = [tuple(loaded.tokenizer(str(r.extra["answer"]), add_special_tokens=False)
                           ["input_ids"][:self.tokens]) for r in records]
        else:
            from nnvalues.intervene.generation import GenerationSettings, generate

            settings = GenerationSettings(max_new_tokens=self.tokens, batch_size=max(1, len(prompts)))
            found = [g.token_ids for g in generate(loaded, [p.input_ids for p in prompts],
                                                   settings=settings, execution=execution)]
        empty = [r.id for r, ids in zip(records, found) if not ids]
        if empty:
            raise UsageError(f"prompt {empty[0]} has an empty target: its answer tokenises to nothing")
        return found
