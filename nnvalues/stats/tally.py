"""Running totals of a measurement, small enough to checkpoint after every batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnvalues.storage import load_checkpoint, save_checkpoint
from nnvalues.stats.batching import Batch
from nnvalues.stats.counting import SUMMARY_ROWS


@dataclass
class Tally:
    n_layers: int
    n_neurons: int
    active: np.ndarray = field(init=False)
    """[layer, polarity, neuron] active units (prompts or tokens, by counting rule)."""
    activation_sum: np.ndarray = field(init=False)
    positive_only: np.ndarray = field(init=False)
    negative_only: np.ndarray = field(init=False)
    prompts: np.ndarray = field(init=False)
    tokens: np.ndarray = field(init=False)
    pairs: int = 0
    units_done: int = 0

    def __post_init__(self) -> None:
        shape = (self.n_layers, 2, self.n_neurons)
        self.active = np.zeros(shape, dtype=np.int64)
        self.activation_sum = np.zeros(shape, dtype=np.float64)
        self.positive_only = np.zeros((self.n_layers, self.n_neurons), dtype=np.int64)
        self.negative_only = np.zeros((self.n_layers, self.n_neurons), dtype=np.int64)
        self.prompts = np.zeros(2, dtype=np.int64)
        self.tokens = np.zeros(2, dtype=np.int64)

    def add(self, summary: Any, batch: Batch, units: int) -> None:
        """Fold in one batch's [layers, 6, neurons] summary."""
        values = np.asarray(summary.detach().cpu().numpy(), dtype=np.float64)
        row = {name: values[:, rows] for name, rows in SUMMARY_ROWS.items()}
        self.active += np.rint(row["active"]).astype(np.int64)
        self.activation_sum += row["activation_sum"]
        self.positive_only += np.rint(row["positive_only"][:, 0]).astype(np.int64)
        self.negative_only += np.rint(row["negative_only"][:, 0]).astype(np.int64)
        polarity = batch.polarity.cpu().numpy()
        self.prompts += polarity.sum(axis=0).astype(np.int64)
        self.tokens += (batch.tokens_per_row().cpu().numpy() @ polarity).astype(np.int64)
        self.pairs += int(batch.pairs.shape[1])
        self.units_done += units

    def save(self, path: Path, meta: dict[str, Any]) -> None:
        save_checkpoint(path, {
            "active": self.active, "activation_sum": self.activation_sum,
            "positive_only": self.positive_only, "negative_only": self.negative_only,
            "prompts": self.prompts, "tokens": self.tokens,
            "counters": np.array([self.pairs, self.units_done], dtype=np.int64)}, meta)

    @classmethod
    def load(cls, path: Path) -> tuple["Tally", dict[str, Any]]:
        data, meta = load_checkpoint(path)
        tally = cls(data["active"].shape[0], data["active"].shape[2])
        for name in ("active", "activation_sum", "positive_only", "negative_only", "prompts", "tokens"):
            setattr(tally, name, data[name])
        tally.pairs, tally.units_done = (int(v) for v in data["counters"])
        return tally, meta
