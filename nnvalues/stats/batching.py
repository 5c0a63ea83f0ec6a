"""Group rendered prompts into left-padded batches that keep each pair together.

A pair (the same question after a positive and after a reversed description) always lands
in one batch, so that the paired statistics can be reduced inside the trace. Units are
ordered by length so that a batch wastes little compute on padding; the order depends only
on the prompts, which lets an interrupted run resume at a unit index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from nnvalues.data.records import PromptRecord
from nnvalues.prompts.render import RenderedPrompt
from nnvalues.taxonomy import POLARITIES


@dataclass(frozen=True)
class Row:
    prompt: RenderedPrompt
    polarity: int
    """Index into POLARITIES."""


Unit = tuple[Row, ...]
"""One pair (positive row first) or one unpaired row."""


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    polarity: torch.Tensor
    """[batch, 2] one-hot polarity of each row."""
    pairs: torch.Tensor
    """[2, n_pairs, batch] selects the positive (0) and negative (1) row of each pair."""

    def inputs(self) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "position_ids": self.position_ids,
        }

    @property
    def size(self) -> int:
        return int(self.input_ids.shape[0])


def make_units(records: Sequence[PromptRecord], prompts: Sequence[RenderedPrompt]) -> list[Unit]:
    """Pairs and single rows, shortest first (ties broken by record id, so it is stable)."""
    by_pair: dict[str, list[Row]] = {}
    units: list[Unit] = []
    for record, prompt in zip(records, prompts, strict=True):
        row = Row(prompt, POLARITIES.index(record.polarity))
        if record.pair is None:
            units.append((row,))
        else:
            by_pair.setdefault(record.pair, []).append(row)
    for rows in by_pair.values():
        units.append(tuple(sorted(rows, key=lambda r: r.polarity)))
    return sorted(units, key=lambda u: (max(len(r.prompt.input_ids) for r in u), u[0].prompt.id))


def batch_units(units: Sequence[Unit], batch_size: int) -> list[list[Unit]]:
    """Fill batches of at most `batch_size` rows (a pair counts two and is never split)."""
    batches: list[list[Unit]] = []
    current: list[Unit] = []
    rows = 0
    for unit in units:
        if current and rows + len(unit) > batch_size:
            batches.append(current)
            current, rows = [], 0
        current.append(unit)
        rows += len(unit)
    if current:
        batches.append(current)
    return batches


def collate(units: Sequence[Unit], pad_id: int, device: str | torch.device = "cpu") -> Batch:
    rows = [row for unit in units for row in unit]
    width = max(len(r.prompt.input_ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row.prompt.input_ids)
        ids[i, width - n:] = torch.tensor(row.prompt.input_ids, dtype=torch.long)
        mask[i, width - n:] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    polarity = torch.zeros((len(rows), len(POLARITIES)))
    polarity[torch.arange(len(rows)), torch.tensor([r.polarity for r in rows])] = 1.0
    pair_starts = []
    offset = 0
    for unit in units:
        if len(unit) == 2:
            pair_starts.append(offset)
        offset += len(unit)
    pairs = torch.zeros((2, len(pair_starts), len(rows)))
    for p, start in enumerate(pair_starts):
        pairs[0, p, start] = 1.0
        pairs[1, p, start + 1] = 1.0
    return Batch(
        ids.to(device), mask.to(device), positions.to(device), polarity.to(device), pairs.to(device)
    )
