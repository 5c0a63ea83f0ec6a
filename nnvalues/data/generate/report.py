"""What a generation run did, or in a dry run would do, stage by stage.

A dry run fills the planning columns (requests, how many the journal already answers, how
many would be sent, tokens estimated); a live run fills the outcome columns too. Every
answer and item is accounted for: answers are parsed or kept aside, items are written or
kept aside with a reason (`rejected`), so nothing disappears without a count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from nnvalues.data.validate import Violation

STAGES = ("examples", "descriptions", "questions", "refine")

WORDS_PER_TOKEN = 0.75
"""English prose with GPT-style tokenisers: about 3 words per 4 tokens."""
CHARS_PER_TOKEN = 4


@dataclass
class StageReport:
    stage: str
    requests: int = 0
    """Distinct requests the stage needs (journal hits included)."""
    cached: int = 0
    """Answered from the journal, so not paid for again."""
    to_send: int = 0
    """Requests that a live run would send (dry run) or did send (live run)."""
    estimated: bool = False
    """Counts depend on answers not known yet (dry run before the earlier stage ran)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    """Estimated for the requests to send (dry run) or as the endpoint reported (live run)."""
    answers_kept_aside: int = 0
    """Answers that could not be parsed (in rejects.jsonl)."""
    items: int = 0
    """Items parsed from the answers."""
    already_present: int = 0
    written: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    """Items kept aside, by reason: truncated, extra, duplicate, near_duplicate, invalid."""


@dataclass
class Report:
    out: Path
    dry_run: bool
    stages: dict[str, StageReport] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    """What validate_dataset says about the output directory after the run."""
    notes: list[str] = field(default_factory=list)

    def stage(self, name: str) -> StageReport:
        if name not in self.stages:
            self.stages[name] = StageReport(name)
            order = {s: i for i, s in enumerate(STAGES)}
            self.stages = dict(sorted(self.stages.items(), key=lambda kv: order.get(kv[0], 99)))
        return self.stages[name]

    @property
    def to_send(self) -> int:
        return sum(s.to_send for s in self.stages.values())

    @property
    def written(self) -> int:
        return sum(s.written for s in self.stages.values())


def estimate_prompt_tokens(prompt: str) -> int:
    return -(-len(prompt) // CHARS_PER_TOKEN)


def estimate_completion_tokens(expected_words: int, max_tokens: int) -> int:
    return min(max_tokens, round(expected_words / WORDS_PER_TOKEN))
