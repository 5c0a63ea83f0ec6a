"""Questions to ask an edited model: read from the command line or a file, and rendered
with the paper's "answer questions" template (chat template when the model has one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from nnvalues.data.records import PromptRecord
from nnvalues.errors import UsageError
from nnvalues.prompts.render import Renderer, RenderedPrompt

ANSWER_TEMPLATE = "answer-question"


def render_questions(tokenizer: Any, questions: Sequence[str], mode: str = "auto") -> tuple[list[RenderedPrompt], Renderer]:
    """Token ids of each question inside the answer template, and the renderer used."""
    renderer = Renderer(tokenizer, mode, ANSWER_TEMPLATE)  # type: ignore[arg-type]
    rendered = [renderer.render(PromptRecord(f"q{i}", "", "", "", question))
                for i, question in enumerate(questions)]
    return rendered, renderer


def check_questions(questions: Sequence[str]) -> list[str]:
    cleaned = [q.strip() for q in questions]
    if not cleaned or not all(cleaned):
        raise UsageError("give a question (or --questions FILE with one question per line)")
    return cleaned


def read_questions(path: Path) -> list[str]:
    """Questions from a text file (one per line) or a JSONL file with a "question" field
    (or "text", as in the shipped data set's question files)."""
    try:
        lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read ({exc})") from None
    lines = [line for line in lines if line]
    if Path(path).suffix != ".jsonl":
        return check_questions(lines)
    questions = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise UsageError(f"{path}:{number}: not a JSON object") from None
        text = record.get("question", record.get("text")) if isinstance(record, dict) else None
        if not isinstance(text, str):
            raise UsageError(f"{path}:{number}: needs a \"question\" (or \"text\") string field")
        questions.append(text)
    return check_questions(questions)
