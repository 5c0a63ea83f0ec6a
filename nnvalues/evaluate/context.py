"""What every cell of one evaluation run shares, and the metrics a run can measure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from nnvalues.errors import UsageError
from nnvalues.evaluate.grid import Cell, Grid
from nnvalues.evaluate.likert import Instrument
from nnvalues.evaluate.questions import Item
from nnvalues.evaluate.store import ResultsStore
from nnvalues.execution import Execution
from nnvalues.intervene.generation import GenerationSettings
from nnvalues.judge.base import Judge
from nnvalues.judge.cache import JudgeCache

METRIC_CHOICES: dict[str, str] = {
    "geval": "generate answers and judge them (G-Eval value alignment 1-5, text quality)",
    "contrast": "log-likelihood of the value reference answer minus the reversed one (no judge)",
    "fluency": "mean log-likelihood of the reference answers: the edit's cost to language modelling",
    "likert": "questionnaire self-ratings (PVQ40 1-6, ValueBench 1-5) from next-token probabilities",
}


def parse_metrics(names: Sequence[str], judge: Judge | None) -> tuple[str, ...]:
    """The metrics to measure, checked against the judge (none: judge-free metrics only)."""
    kept = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not kept:
        raise UsageError("give at least one metric with --metrics (e.g. --metrics contrast,likert)")
    for name in kept:
        if name not in METRIC_CHOICES:
            raise UsageError(f"unknown metric {name!r}; choose from {', '.join(METRIC_CHOICES)}")
    if "geval" in kept and judge is None:
        raise UsageError("the geval metric needs a judge: pass --judge openai:<model> or local:<model>, "
                         "or choose judge-free metrics (--metrics contrast,likert,fluency)")
    return tuple(m for m in METRIC_CHOICES if m in kept)


@dataclass(frozen=True)
class RunContext:
    grid: Grid
    judge: Judge | None
    metrics: tuple[str, ...]
    quality: bool
    runs: int
    settings: GenerationSettings
    template_mode: str
    edit_rule: str
    store: ResultsStore
    cache: JudgeCache | None
    questions: dict[tuple[str, str], list[Item]]
    instruments: tuple[Instrument, ...]
    reference_tokens: int
    seed: int
    progress: Any
    summary: Any
    on_cell: Callable[[Cell], None] | None
    execution: Execution

    @property
    def judged(self) -> bool:
        return "geval" in self.metrics

    @property
    def likelihoods(self) -> bool:
        return "contrast" in self.metrics or "fluency" in self.metrics

    @property
    def likert(self) -> bool:
        return "likert" in self.metrics
