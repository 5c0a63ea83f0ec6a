"""The paper's data generation pipeline (section 3, appendix A) against any chat endpoint.

Descriptions: one value/antonym example pair per atomic value (kept in
`generation/examples.jsonl`, where the paper refines them by hand), then more descriptions
by rephrasing each pair. Questions: a set per atomic value x topic, each question then
refined to drop bias and tendency qualifiers. Every request goes through the journal, so a
rerun pays only for what is missing; a dry run goes through the same steps without
sending anything and counts what a live run would send.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from nnvalues.data.valueinsight import DataSet, Description, Question, load_dataset
from nnvalues.errors import UsageError
import nnvalues.data.generate.templates as templates
from nnvalues.data.generate.client import Endpoint, Request
from nnvalues.data.generate.items import item_id, split_for
from nnvalues.data.generate.journal import Answer
from nnvalues.data.generate.options import (
    DESCRIPTION_WORDS, QUESTION_WORDS, REFINE_WORDS, GenerateOptions, RefineOptions, Target,
    check_count, check_generate_options, check_topics, targets_of,
)
from nnvalues.data.generate.parsing import ParseFailure, parse_list, parse_revision, parse_views
from nnvalues.data.generate.report import Report
from nnvalues.data.generate.run import Candidate, ProgressFactory, Run, request_context
from nnvalues.data.generate.workspace import ExampleBook, Workspace

def generate(options: GenerateOptions, endpoint: Endpoint, *, dry_run: bool = False,
             progress: ProgressFactory | None = None) -> Report:
    """Grow the data set in `options.out`; with `dry_run`, only count what that would cost."""
    targets = targets_of(options.dimensions, options.atomic_values)
    check_generate_options(options)
    run = Run(Workspace(options.out), endpoint, options.concurrency, dry_run, progress)
    with run:
        if options.stage in ("all", "examples", "descriptions"):
            book, pending = _examples(run, targets)
            if options.stage != "examples":
                _descriptions(run, targets, book, pending, options)
        if options.stage in ("all", "questions"):
            _questions(run, targets, options)
    return run.report


def refine(options: RefineOptions, endpoint: Endpoint, *, dry_run: bool = False,
           progress: ProgressFactory | None = None) -> Report:
    """Refine the questions of `options.source` into `options.out` (same ids, new text)."""
    if options.out.resolve() == options.source.resolve():
        raise UsageError("refine writes a new directory: --out must differ from --source")
    check_count("--concurrency", options.concurrency)
    if options.limit is not None:
        check_count("--limit", options.limit)
    targets = {(t.dimension.id, t.atomic.id): t for t in targets_of(options.dimensions, options.atomic_values)}
    topics = set(check_topics(options.topics))
    source = load_dataset(options.source)
    parts = _question_parts(options.source)
    chosen: list[Question] = []
    for dimension in dict.fromkeys(options.dimensions):
        found = sorted((q for q in source.questions if q.dimension == dimension
                        and (dimension, q.atomic_value) in targets and q.topic in topics),
                       key=lambda q: q.id)
        chosen.extend(found[:options.limit])
    run = Run(Workspace(options.out), endpoint, options.concurrency, dry_run, progress)
    with run:
        revised = _refine(run, [(targets[q.dimension, q.atomic_value], q.topic, q.text) for q in chosen])
        if dry_run:
            return run.report
        stage = run.report.stage("refine")
        stage.items = len(chosen)
        candidates = []
        for question, text in zip(chosen, revised):
            if text is None:
                run.set_aside("refine", "unrefined", "its refine answer could not be parsed",
                              question.text, origin=question.id)
                continue
            candidates.append(Candidate(Question(question.id, question.dimension, question.atomic_value,
                                                  question.topic, question.split, text),
                                         parts[question.id], question.id))
        run.add_items("refine", candidates, against=(), keep_invalid=options.keep_invalid)
    return run.report


def _examples(run: Run, targets: Sequence[Target]) -> tuple[ExampleBook, set[Target]]:
    """One value/antonym pair per atomic value that has none yet (paper: baseline B_d),
    and the targets whose pair a dry run cannot know yet (not asked for so far)."""
    book = ExampleBook(run.ws.examples_path)
    requests = {t: Request.make("examples", templates.example_description_prompt(t.dimension, t.basic, t.atomic),
                                run.endpoint, expect_words=2 * DESCRIPTION_WORDS, **t.context)
                for t in targets if book.get(t.dimension.id, t.atomic.id) is None}
    answers = run.resolve("examples", list(requests.values()))
    changed = False
    pending: set[Target] = set()
    for target, request in requests.items():
        answer = answers[request.key]
        if answer is None:
            pending.add(target)
            continue
        try:
            positive, negative = parse_views(answer.text)
        except ParseFailure as exc:
            run.keep_aside(request, answer, str(exc))
            continue
        if answer.truncated:
            run.keep_aside(request, answer, "the answer hit max_tokens, so its antonym view is cut short")
            continue
        book.set(target.dimension.id, target.atomic.id, positive[0], negative[0])
        changed = True
    if changed and not run.dry_run:
        book.save()
    return book, pending


_PLACEHOLDER_EXAMPLE = " ".join(["word"] * DESCRIPTION_WORDS)


def _descriptions(run: Run, targets: Sequence[Target], book: ExampleBook, pending: set[Target],
                  options: GenerateOptions) -> None:
    """More descriptions by rephrasing each example pair (paper: R_d as exemplars)."""
    per_dimension = {d: sum(1 for t in targets if t.dimension.id == d) for d in {t.dimension.id for t in targets}}
    requests: dict[Target, Request] = {}
    placeholders: list[Request] = []
    for target in targets:
        count = math.ceil(options.descriptions / per_dimension[target.dimension.id])
        pair = book.get(target.dimension.id, target.atomic.id)
        if pair is None and target not in pending:
            run.report.notes.append(f"no example pair for {target.dimension.id}/{target.atomic.id}: "
                                    "no descriptions generated for it")
            continue
        positive, negative = pair or (_PLACEHOLDER_EXAMPLE, _PLACEHOLDER_EXAMPLE)
        prompt = templates.more_descriptions_prompt(target.dimension, target.basic, target.atomic,
                                                    count, positive, negative)
        request = Request.make("descriptions", prompt, run.endpoint, count=count,
                               expect_words=2 * count * DESCRIPTION_WORDS, **target.context)
        if pair is None:
            placeholders.append(request)
        else:
            requests[target] = request
    answers = run.resolve("descriptions", list(requests.values()))
    if placeholders:
        run.resolve("descriptions", placeholders, estimated=True)
    if run.dry_run:
        return
    report = run.report.stage("descriptions")
    candidates: list[Candidate] = []
    for target, request in requests.items():
        answer = answers[request.key]
        if answer is None:
            continue
        try:
            views = parse_views(answer.text)
        except ParseFailure as exc:
            run.keep_aside(request, answer, str(exc))
            continue
        for polarity, texts in zip(("positive", "negative"), views):
            report.items += len(texts)
            kind = "pos" if polarity == "positive" else "neg"
            accepted = _accept(run, request, answer, texts, request.meta["count"],
                               ends_answer=polarity == "negative", label=kind, polarity=polarity)
            for origin, text in accepted:
                candidates.append(Candidate(Description(item_id(target.dimension.id, kind, text),
                                                         target.dimension.id, polarity, (target.atomic.id,),
                                                         text), "", origin))
    run.add_items("descriptions", candidates, _reference_texts(options.reference), options.keep_invalid)


def _questions(run: Run, targets: Sequence[Target], options: GenerateOptions) -> None:
    """Situational questions per atomic value x topic, each then refined (paper: q = f(P(a, t)))."""
    topics = check_topics(options.topics)
    examples = _ExamplePicker(options.reference)
    requests: dict[tuple[Target, str], Request] = {}
    for target in targets:
        for topic in topics:
            prompt = templates.questions_prompt(target.atomic, topic, options.questions_per_pair,
                                                examples.pick(target, topic))
            requests[target, topic] = Request.make(
                "questions", prompt, run.endpoint, topic=topic,
                expect_words=options.questions_per_pair * QUESTION_WORDS, **target.context)
    answers = run.resolve("questions", list(requests.values()))
    report = run.report.stage("questions")  # in a dry run, parsing tells how many refine requests follow
    drafts: list[tuple[Target, str, str]] = []
    origins: list[str] = []
    unknown = 0
    for (target, topic), request in requests.items():
        answer = answers[request.key]
        if answer is None:
            unknown += 1
            continue
        try:
            texts = parse_list(answer.text)
        except ParseFailure as exc:
            run.keep_aside(request, answer, str(exc))
            continue
        report.items += len(texts)
        for origin, text in _accept(run, request, answer, texts, options.questions_per_pair,
                                    ends_answer=True, label="q", topic=topic):
            drafts.append((target, topic, text))
            origins.append(origin)
    if options.refine:
        if unknown:
            sample = templates.refine_prompt(targets[0].dimension, targets[0].atomic, topics[0],
                                             " ".join(["word"] * QUESTION_WORDS))
            run.estimate("refine", unknown * options.questions_per_pair, sample, REFINE_WORDS)
        finals = _refine(run, drafts)
    else:
        finals = [text for _, _, text in drafts]
    if run.dry_run:
        return
    candidates: list[Candidate] = []
    for (target, topic, draft), text, origin in zip(drafts, finals, origins):
        if text is None:
            run.set_aside("questions", "unrefined", "its refine answer could not be parsed", draft,
                          topic=topic, origin=origin, **target.context)
            continue
        question = Question(item_id(target.dimension.id, "q", text), target.dimension.id, target.atomic.id,
                            topic, split_for(text, options.evaluate_fraction), text)
        candidates.append(Candidate(question, options.part, origin))
    run.add_items("questions", candidates, _reference_texts(options.reference), options.keep_invalid)


def _refine(run: Run, drafts: Sequence[tuple[Target, str, str]]) -> list[str | None]:
    """The revised text of each (target, topic, question); None where the answer is unusable.
    A question that appears twice is one request, read (and, if need be, kept aside) once."""
    requests = [Request.make("refine", templates.refine_prompt(t.dimension, t.atomic, topic, text),
                             run.endpoint, topic=topic, expect_words=REFINE_WORDS, **t.context)
                for t, topic, text in drafts]
    answers = run.resolve("refine", requests)
    revised: dict[str, str | None] = {}
    for request in requests:
        answer = answers[request.key]
        if request.key in revised or answer is None:
            revised.setdefault(request.key, None)
            continue
        revised[request.key] = None
        try:
            text = parse_revision(answer.text)
        except ParseFailure as exc:
            run.keep_aside(request, answer, str(exc))
            continue
        if answer.truncated:
            run.keep_aside(request, answer, "the answer hit max_tokens, so the revision is cut short")
            continue
        revised[request.key] = text
    return [revised[r.key] for r in requests]


def _accept(run: Run, request: Request, answer: Answer, texts: list[str], wanted: int, *,
            ends_answer: bool, label: str, **context: Any) -> list[tuple[str, str]]:
    """(origin, text) of the items to keep: a last item cut off by max_tokens and items
    beyond the number asked for are set aside."""
    numbered = [(f"{request.key[:16]}#{label}{i}", text) for i, text in enumerate(texts)]
    context = {**request_context(request), **context}
    if answer.truncated and ends_answer and numbered:
        origin, text = numbered.pop()
        run.set_aside(request.stage, "truncated", "the answer hit max_tokens; its last item is likely cut short",
                      text, origin=origin, **context)
    for origin, text in numbered[wanted:]:
        run.set_aside(request.stage, "extra", f"beyond the {wanted} item(s) asked for", text,
                      origin=origin, **context)
    return numbered[:wanted]


class _ExamplePicker:
    """The EXAMPLE of the question template: a reference question of the same atomic value
    (same topic first). Only the reference counts, never the growing output, so the prompts
    and with them the journal keys stay the same from one run to the next."""

    def __init__(self, reference: DataSet | None) -> None:
        pool = reference.questions if reference else ()
        self._by_value: dict[tuple[str, str], list[Question]] = {}
        for question in sorted(pool, key=lambda q: q.id):
            self._by_value.setdefault((question.dimension, question.atomic_value), []).append(question)

    def pick(self, target: Target, topic: str) -> str:
        found = self._by_value.get((target.dimension.id, target.atomic.id), [])
        same_topic = [q for q in found if q.topic == topic] or found
        if not same_topic:
            return (f"A situation where someone has to choose between {target.atomic.meaning} "
                    f"and {target.atomic.opposite}. What would you do?")
        return same_topic[_stable_index(f"{target.atomic.id}:{topic}", len(same_topic))].text


def _stable_index(text: str, size: int) -> int:
    import hashlib

    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % size


def _reference_texts(reference: DataSet | None) -> list[tuple[str, str]]:
    if reference is None:
        return []
    return [(i.id, i.text) for i in (*reference.descriptions, *reference.questions)]


def _question_parts(directory: Path) -> dict[str, str]:
    """Which `<dimension>.questions.<part>.jsonl` each question id came from."""
    from nnvalues.data.records import read_jsonl

    parts: dict[str, str] = {}
    for path in sorted(directory.glob("*.questions.*.jsonl")):
        part = path.name.split(".")[2]
        for _, raw in read_jsonl(path):
            parts[raw["id"]] = part
    return parts
