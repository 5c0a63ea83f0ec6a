"""The judge-free part of a cell: teacher-forced likelihoods of the reference answers and
questionnaire self-ratings, under the cell's edit. Nothing is generated per edit.

Self-ratings depend on the edit only, not on the measured dimension or the question set,
so they are computed once per edit and run and shared by the cells that need them.
"""

from __future__ import annotations

from typing import Hashable

import numpy as np

from nnvalues.evaluate.cells import Likelihoods, Ratings
from nnvalues.evaluate.context import RunContext
from nnvalues.evaluate.likelihood import batch_answer_logprobs, mean_logprob
from nnvalues.evaluate.likert import rate
from nnvalues.evaluate.questions import Item
from nnvalues.evaluate.references import cached_references
from nnvalues.intervene.edits import Edit
from nnvalues.intervene.questions import render_questions
from nnvalues.models.loading import LoadedModel


def likelihoods(context: RunContext, loaded: LoadedModel, key: str, set_name: str, measured: str,
                items: list[Item], edit: Edit | None) -> Likelihoods:
    """Per question: mean log-likelihood per token of the value and the reversed reference
    answer after the question in the plain answer template, a batch of questions at a time."""
    references = cached_references(context.store.path, key, set_name, measured, loaded, items,
                                   context.seed, context.reference_tokens, context.template_mode,
                                   on_batch=context.progress.update)
    prompts, _ = render_questions(loaded.tokenizer, [i.text for i in items], context.template_mode)
    value = np.full(len(items), np.nan)
    reverse = np.full(len(items), np.nan)
    device_edit = edit.to(loaded.device, loaded.hf_model.dtype) if edit is not None else None
    step = context.settings.batch_size
    for start in range(0, len(items), step):
        chunk = range(start, min(start + step, len(items)))
        scores = batch_answer_logprobs(
            loaded, [prompts[n].input_ids for n in chunk],
            [[references[n].value_ids, references[n].reversed_ids] for n in chunk], device_edit)
        for n, (value_scores, reverse_scores) in zip(chunk, scores):
            value[n], reverse[n] = mean_logprob(value_scores), mean_logprob(reverse_scores)
        context.progress.update(len(chunk))
    return Likelihoods(value, reverse)


class RatingMemo:
    """Self-ratings per edit, computed once in a run."""

    def __init__(self) -> None:
        self._held: dict[Hashable, list[Ratings]] = {}

    def ratings(self, context: RunContext, loaded: LoadedModel, edit_key: Hashable,
                edit: Edit | None) -> list[Ratings]:
        if edit_key not in self._held:
            device_edit = edit.to(loaded.device, loaded.hf_model.dtype) if edit is not None else None
            found = []
            for instrument in context.instruments:
                expected, mass = rate(loaded, instrument, device_edit, context.template_mode,
                                      context.settings.batch_size)
                found.append(Ratings(instrument, expected, mass))
            self._held[edit_key] = found
        context.progress.update(sum(len(i.items) for i in context.instruments))
        return self._held[edit_key]
