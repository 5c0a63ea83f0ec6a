"""The tokens `locate` counts: the prompt (paper), the model's own answer to it, or both.

The authors' public code counts the activations of the tokens the model decodes while it
answers, where the paper's eq. 3 sums over the prompt. With span "answer" or "all" each
prompt is first answered greedily by the unedited model (at most `answer_tokens` tokens,
the end-of-sequence token dropped), then measured as prompt + answer in one forward pass:
each answer token is read where the model read it while decoding. "answer" counts only
those tokens, "all" the prompt's as well.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from nnvalues.choices import Span, check_choice
from nnvalues.errors import UsageError
from nnvalues.prompts.render import RenderedPrompt
from nnvalues.stats.batching import Row, Unit

if TYPE_CHECKING:
    from nnvalues.execution import Execution
    from nnvalues.models.loading import LoadedModel

DEFAULT_ANSWER_TOKENS = 32


def check_span(span: str, answer_tokens: int) -> dict[str, object]:
    """The store settings of a span (answer_tokens is 0 when no answer is generated)."""
    check_choice(span, Span, "span")
    if span == "prompt":
        return {"span": "prompt", "answer_tokens": 0}
    if isinstance(answer_tokens, bool) or not isinstance(answer_tokens, int) or answer_tokens < 1:
        raise UsageError(f"`answer_tokens` must be a whole number >= 1 (got {answer_tokens!r})")
    return {"span": span, "answer_tokens": answer_tokens}


def answering(loaded: "LoadedModel", span: str, answer_tokens: int,
              execution: "Execution | None" = None) -> Callable[[list[Unit]], list[Unit]] | None:
    """A function that appends each row's greedy answer to its prompt (None for "prompt")."""
    if span == "prompt":
        return None
    from nnvalues.intervene.generation import GenerationSettings, generate, stop_ids

    stop = stop_ids(loaded)

    def prepare(group: list[Unit]) -> list[Unit]:
        rows = [row for unit in group for row in unit]
        settings = GenerationSettings(max_new_tokens=answer_tokens, batch_size=max(len(rows), 1))
        answers = generate(loaded, [row.prompt.input_ids for row in rows], settings=settings,
                           execution=execution)
        extended = iter([_extend(row, [t for t in answer.token_ids if t not in stop], span)
                         for row, answer in zip(rows, answers, strict=True)])
        return [tuple(next(extended) for _ in unit) for unit in group]

    return prepare


def _extend(row: Row, answer: list[int], span: str) -> Row:
    ids = (*row.prompt.input_ids, *answer)
    prompt = RenderedPrompt(row.prompt.id, row.prompt.text, ids)
    return replace(row, prompt=prompt, count_from=len(row.prompt.input_ids) if span == "answer" else 0)
