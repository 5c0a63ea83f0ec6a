"""Run the real CLI entry point in-process and capture what a user would see."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from nnvalues.cli.main import app


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    capsys.readouterr()  # what earlier steps printed is not this command's output
    monkeypatch.setattr(sys, "argv", ["nnvalues", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        app()
    captured = capsys.readouterr()
    code = exit_info.value.code
    return Result(code if isinstance(code, int) else 1, captured.out, captured.err)


def assert_one_line_error(result: Result, fragment: str) -> None:
    assert result.code != 0
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.err
