"""Group rendered prompts into left-padded batches that keep each pair together.

A pair (the same question after a positive and after a reversed description) always lands
in one batch, so that the paired statistics can be reduced inside the trace. Units are
ordered by length so that a batch wastes little compute on padding; the order depends only
on the prompts, which lets an interrupted run resume at a unit index. Tokens that every row
of a batch starts with (the system prompt and the template's instructions) can be split off
and run once per batch, their activations added to every row's.
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
    count_from: int = 0
    """The first token counted (after a prompt when only its answer is counted)."""


Unit = tuple[Row, ...]
"""One pair (positive row first) or one unpaired row."""


@dataclass
class Batch:
    input_ids: torch.Tensor
    """[batch, seq] the tokens after the shared prefix, left-padded."""
    attention_mask: torch.Tensor
    """[batch, seq] 1 on real tokens of `input_ids`."""
    position_ids: torch.Tensor
    polarity: torch.Tensor
    """[batch, 2] one-hot polarity of each row."""
    pairs: torch.Tensor
    """[2, n_pairs, batch] selects the positive (0) and negative (1) row of each pair."""
    prefix_ids: torch.Tensor
    """[1, prefix] tokens every row starts with (may be empty), run once for the batch."""
    count_mask: torch.Tensor | None = None
    """[batch, seq] 1 on the tokens of `input_ids` that are counted (default: every real one)."""
    prefix_counted: bool = True
    """Whether the shared prefix's tokens are counted."""

    def __post_init__(self) -> None:
        if self.count_mask is None:
            self.count_mask = self.attention_mask

    def inputs(self, past_key_values: object | None = None) -> dict[str, object]:
        """Model inputs for the part after the prefix; the prefix lives in the cache."""
        mask = self.attention_mask
        if self.prefix_length:
            prefix_mask = torch.ones((self.size, self.prefix_length), dtype=mask.dtype,
                                     device=mask.device)
            mask = torch.cat([prefix_mask, mask], dim=1)
        inputs: dict[str, object] = {"input_ids": self.input_ids, "attention_mask": mask,
                                     "position_ids": self.position_ids}
        if past_key_values is not None:
            inputs["past_key_values"] = past_key_values
        else:
            inputs["use_cache"] = False  # nothing reads it: building one only costs memory
        return inputs

    def prefix_inputs(self, past_key_values: object) -> dict[str, object]:
        positions = torch.arange(self.prefix_length, device=self.prefix_ids.device)[None]
        return {"input_ids": self.prefix_ids, "attention_mask": torch.ones_like(self.prefix_ids),
                "position_ids": positions, "past_key_values": past_key_values}

    @property
    def prefix_length(self) -> int:
        return int(self.prefix_ids.shape[1])

    @property
    def size(self) -> int:
        return int(self.input_ids.shape[0])

    def tokens_per_row(self) -> torch.Tensor:
        """Counted tokens of each row, the prefix's included when they count."""
        counted = self.count_mask.sum(dim=1)
        return counted + self.prefix_length if self.prefix_counted else counted


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


MIN_SHARED_PREFIX = 16
"""Shorter common prefixes are not worth a forward pass of their own."""


def shared_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Tokens that every sequence starts with, leaving each at least one token of its own."""
    first = sequences[0]
    limit = min(len(s) for s in sequences) - 1
    length = 0
    while length < limit and all(s[length] == first[length] for s in sequences):
        length += 1
    return length


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[rows, width] token ids padded on the left, and the mask that is 1 on real tokens.

    Left padding puts every row's last token in the last column, where generation and
    next-token scoring read it.
    """
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, sequence in enumerate(sequences):
        if len(sequence):
            ids[i, width - len(sequence):] = torch.as_tensor(list(sequence), dtype=torch.long)
            mask[i, width - len(sequence):] = 1
    return ids, mask


def collate(units: Sequence[Unit], pad_id: int, device: str | torch.device = "cpu",
            share_prefix: bool = False) -> Batch:
    """Left-pad a batch; with `share_prefix`, split off the tokens all rows start with."""
    rows = [row for unit in units for row in unit]
    sequences = [row.prompt.input_ids for row in rows]
    prefix = shared_prefix_length(sequences) if share_prefix and len(rows) > 1 else 0
    counted_from = [row.count_from for row in rows if row.count_from > 0]
    if counted_from:
        prefix = min(prefix, *counted_from)  # an uncounted prefix never swallows counted tokens
    if prefix < MIN_SHARED_PREFIX:
        prefix = 0
    ids, mask = left_pad([s[prefix:] for s in sequences], pad_id)
    count_mask = mask.clone()
    for i, row in enumerate(rows):
        skipped = max(row.count_from - prefix, 0)
        if skipped:
            start = ids.shape[1] - (len(sequences[i]) - prefix)
            count_mask[i, start:start + skipped] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0) + prefix
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
    prefix_ids = torch.tensor([list(sequences[0][:prefix])], dtype=torch.long).reshape(1, prefix)
    return Batch(ids.to(device), mask.to(device), positions.to(device), polarity.to(device),
                 pairs.to(device), prefix_ids.to(device), count_mask.to(device),
                 prefix_counted=not counted_from)
