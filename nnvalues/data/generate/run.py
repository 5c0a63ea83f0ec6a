"""One generate or refine run: the journal, the rejects, sending, accounting and writing.

The stages in `pipeline` decide what to ask and how to read the answers; a `Run` decides
what is paid for (journal first, then the endpoint, or nothing in a dry run), counts every
answer and item in the report, keeps aside what is not written, and writes the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from nnvalues.data.validate import validate_dataset
from nnvalues.data.valueinsight import Description
from nnvalues.data.generate.client import Endpoint, Request, connect, send_all
from nnvalues.data.generate.items import Item, check_new, drop_duplicates
from nnvalues.data.generate.journal import Answer, Journal
from nnvalues.data.generate.report import Report, estimate_completion_tokens, estimate_prompt_tokens
from nnvalues.data.generate.workspace import RejectLog, Workspace
from nnvalues.storage import atomic_write_text

ProgressFactory = Callable[[str, int], Any]
"""`factory(stage, total)` returns an object with update(n) and close() (a tqdm bar fits)."""


@dataclass(frozen=True)
class Candidate:
    """A new item, the questions file part it goes to, and where in which answer it came from
    (`<request key>#<position>`, or the source id when refining), so each is reported once."""

    item: Item
    part: str
    origin: str


class Run:
    """Used as a context manager: on leaving, the rejects are saved (also after a failure)
    and, after a complete live run, the output directory is validated."""

    def __init__(self, workspace: Workspace, endpoint: Endpoint, concurrency: int, dry_run: bool,
                 progress: ProgressFactory | None) -> None:
        self.ws = workspace
        self.endpoint = endpoint
        self.concurrency = concurrency
        self.dry_run = dry_run
        self.progress = progress
        self.journal = Journal(workspace.journal_path)
        self.rejects = RejectLog(workspace.rejects_path)
        self.report = Report(workspace.out, dry_run)
        self._client: Any = None
        if self.journal.torn_lines:
            self.report.notes.append(f"{self.journal.torn_lines} torn journal line(s) skipped; "
                                     "their requests are sent again")

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        """Keep the rejects even when the endpoint fails; validate only after a full run."""
        if self.dry_run:
            return
        if len(self.rejects) or self.ws.rejects_path.exists():
            self.rejects.save()
        if kind is None:
            self.report.violations = validate_dataset(self.ws.dataset(), require_minimums=False)
            if self.report.violations or self.ws.violations_path.exists():
                atomic_write_text(self.ws.violations_path,
                                  "".join(f"{v}\n" for v in self.report.violations))

    def resolve(self, stage: str, requests: Sequence[Request], *,
                estimated: bool = False) -> dict[str, Answer | None]:
        """Answers by request key: from the journal, else sent (live) or None (dry run)."""
        unique = {r.key: r for r in requests}
        answers: dict[str, Answer | None] = {k: self.journal.get(k) for k in unique}
        missing = [r for k, r in unique.items() if answers[k] is None]
        report = self.report.stage(stage)
        report.requests += len(unique)
        report.cached += len(unique) - len(missing)
        report.estimated |= estimated
        if self.dry_run:
            report.to_send += len(missing)
            for request in missing:
                report.prompt_tokens += estimate_prompt_tokens(request.prompt)
                report.completion_tokens += estimate_completion_tokens(
                    request.meta.get("expect_words", 0), request.max_tokens)
            return answers
        if not missing:
            return answers
        if self._client is None:
            self._client = connect(self.endpoint)
        bar = self.progress(stage, len(missing)) if self.progress else None

        def arrived(request: Request, answer: Answer) -> None:
            report.to_send += 1
            report.prompt_tokens += answer.prompt_tokens
            report.completion_tokens += answer.completion_tokens
            if bar is not None:
                bar.update(1)

        try:
            answers.update(send_all(missing, self.endpoint, self.journal, concurrency=self.concurrency,
                                    client=self._client, on_answer=arrived))
        finally:
            if bar is not None:
                bar.close()
        return answers

    def estimate(self, stage: str, count: int, prompt: str, expected_words: int) -> None:
        """Dry run: `count` requests whose prompts depend on answers not known yet."""
        report = self.report.stage(stage)
        report.estimated = True
        report.requests += count
        report.to_send += count
        report.prompt_tokens += count * estimate_prompt_tokens(prompt)
        report.completion_tokens += count * estimate_completion_tokens(expected_words, self.endpoint.max_tokens)

    def keep_aside(self, request: Request, answer: Answer, detail: str) -> None:
        """An answer that could not be parsed: counted and stored, never dropped."""
        self.report.stage(request.stage).answers_kept_aside += 1
        if not self.dry_run:
            self.rejects.add(request.stage, "unparsed", detail, answer.text, request=request.key,
                             **request_context(request))

    def set_aside(self, stage: str, reason: str, detail: str, text: str, **context: Any) -> None:
        """A parsed item that is not written (truncated, extra, duplicate, invalid)."""
        self.report.stage(stage).rejected[reason] += 1
        if not self.dry_run:
            self.rejects.add(stage, reason, detail, text, **context)

    def add_items(self, stage: str, candidates: Sequence[Candidate],
                  against: Sequence[tuple[str, str]], keep_invalid: bool) -> None:
        """Write new items that are neither present, duplicates, nor (unless asked) invalid."""
        if self.dry_run:
            return
        report = self.report.stage(stage)
        existing = self.ws.dataset()
        present = {i.id for i in (*existing.descriptions, *existing.questions)}
        fresh: dict[str, Candidate] = {}
        for candidate in candidates:
            if candidate.item.id in present:
                report.already_present += 1
            elif candidate.item.id in fresh:
                self._set_item_aside(stage, candidate, "duplicate", f"the same text as {candidate.item.id}")
            else:
                fresh[candidate.item.id] = candidate
        others = [(i.id, i.text) for i in (*existing.descriptions, *existing.questions)] + list(against)
        kept, duplicates = drop_duplicates([c.item for c in fresh.values()], others)
        for item, rule, message in duplicates:
            self._set_item_aside(stage, fresh[item.id], rule, message)
        problems = check_new(existing, kept)
        to_write = []
        for item in kept:
            if item.id in problems and not keep_invalid:
                detail = "; ".join(f"{v.rule}: {v.message}" for v in problems[item.id])
                self._set_item_aside(stage, fresh[item.id], "invalid", detail)
            else:
                to_write.append((item, fresh[item.id].part))
        self.ws.append(to_write)
        report.written += len(to_write)

    def _set_item_aside(self, stage: str, candidate: Candidate, reason: str, detail: str) -> None:
        self.set_aside(stage, reason, detail, candidate.item.text, origin=candidate.origin,
                       **item_context(candidate.item))


def request_context(request: Request) -> dict[str, Any]:
    """What a request was for (dimension, atomic value, topic), for the rejects file."""
    return {k: v for k, v in request.meta.items() if k not in ("expect_words", "count")}


def item_context(item: Item) -> dict[str, Any]:
    if isinstance(item, Description):
        return {"id": item.id, "dimension": item.dimension, "polarity": item.polarity,
                "atomic_values": list(item.atomic_values)}
    return {"id": item.id, "dimension": item.dimension, "atomic_value": item.atomic_value,
            "topic": item.topic, "split": item.split}
