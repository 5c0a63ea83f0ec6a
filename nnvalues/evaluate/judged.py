"""The G-Eval part of a cell: answers generated under the edit (checkpointed, unedited ones
shared), then judged through the cache for the measured dimension and for text quality."""

from __future__ import annotations

from typing import Any

from nnvalues.evaluate.cells import Judged
from nnvalues.evaluate.context import RunContext
from nnvalues.evaluate.grid import UNEDITED, Cell
from nnvalues.evaluate.questions import Item, fingerprint
from nnvalues.evaluate.store import ResultsStore
from nnvalues.fingerprint import hash_json
from nnvalues.intervene.edits import Edit
from nnvalues.intervene.generation import generate
from nnvalues.intervene.questions import render_questions
from nnvalues.judge.prompts import quality_prompt, value_prompt
from nnvalues.judge.runs import Rating, judge_prompts
from nnvalues.models.loading import LoadedModel

Memo = dict[tuple[str, str], dict[str, Any]]
"""Unedited answers by (set, question id)."""


def stored_unedited(store: ResultsStore, key: str) -> Memo:
    """Unedited answers already in the store, by (set, question id)."""
    memo: Memo = {}
    unedited = [n for n in store.cells(key) if (store.cell_attrs(key, n) or {}).get("method") == UNEDITED]
    for _, data in store.readable_cells(key, unedited):  # damaged cells: skipped, warned
        attrs = data.attrs
        if "answer" not in data:
            continue
        for qid, text, tokens in zip(data["question"].values, data["answer"].values,
                                     data["answer_tokens"].values):
            memo[(attrs["set"], str(qid))] = {"text": str(text), "tokens": int(tokens)}
    return memo


def _answers(context: RunContext, loaded: LoadedModel, key: str, cell: Cell, edit: Edit | None,
             neurons_fingerprint: str | None, items: list[Item], memo: Memo) -> list[dict[str, Any]]:
    """The cell's answers: from its checkpoint, the unedited memo, or generated now."""
    store, settings = context.store, context.settings
    cell_fp = hash_json({"cell": cell.name, "questions": fingerprint(items),
                         "generation": settings.to_json(), "model": loaded.revision,
                         "neurons": neurons_fingerprint})
    unedited = edit is None
    held = store.read_checkpoint(key, cell.name, cell_fp)
    if held is not None and len(held) == len(items):
        context.progress.update(len(items))
        if unedited:
            memo.update({(cell.set, item.id): answer for item, answer in zip(items, held)})
        return held
    answers: list[dict[str, Any] | None] = [memo.get((cell.set, i.id)) if unedited else None for i in items]
    missing = [n for n, a in enumerate(answers) if a is None]
    if missing:
        context.progress.set_description(f"{cell.dimension} {cell.condition.name}: generating")
        prompts, _ = render_questions(loaded.tokenizer, [items[n].text for n in missing],
                                      context.template_mode)
        generated = generate(loaded, [p.input_ids for p in prompts], edit, settings,
                             on_batch=context.progress.update, execution=context.execution)
        for n, answer in zip(missing, generated):
            answers[n] = {"text": answer.text, "tokens": len(answer.token_ids)}
    done = [a for a in answers if a is not None]
    if unedited:
        for item, answer in zip(items, done):
            memo[(cell.set, item.id)] = answer
    store.write_checkpoint(key, cell.name, cell_fp, done)
    return done


def _judge(context: RunContext, prompts: list[str], criterion: str) -> list[Rating]:
    assert context.judge is not None
    ratings = judge_prompts(context.judge, prompts, runs=context.runs, cache=context.cache,
                            on_done=context.progress.update)
    context.summary.judgements += len(prompts) * context.runs
    context.summary.missing[criterion] += sum(r.missing_runs + context.runs - len(r.scores)
                                              for r in ratings)
    return ratings


def judged_part(context: RunContext, loaded: LoadedModel, key: str, cell: Cell, edit: Edit | None,
                neurons_fingerprint: str | None, items: list[Item], memo: Memo) -> Judged:
    answers = _answers(context, loaded, key, cell, edit, neurons_fingerprint, items, memo)
    context.progress.set_description(f"{cell.dimension} {cell.condition.name}: judging")
    value = _judge(context, [value_prompt(cell.measured, i.text, a["text"])
                             for i, a in zip(items, answers)], "value")
    quality = None
    if context.quality:
        quality = _judge(context, [quality_prompt(a["text"]) for a in answers], "quality")
    return Judged(answers, context.runs, value, quality)
