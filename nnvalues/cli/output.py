"""Console helpers shared by the commands: tables, one-line errors, quiet libraries."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any, Iterable, Sequence

from rich.console import Console
from rich.table import Table

from nnvalues.zarrstore import StoreWarning

# Piped output (files, other programs) gets wide tables instead of folded cells.
console = Console(width=None if sys.stdout.isatty() else 200)


def quiet_libraries() -> None:
    """Keep the terminal for nnvalues' own output: no library progress bars or banners."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("always", category=StoreWarning)  # nnvalues' own: always shown
    logging.getLogger("transformers").setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    result = Table(title=title, title_justify="left")
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*(_cell(v) for v in row))
    return result


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def parse_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    return items or None
