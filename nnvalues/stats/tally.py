"""Running totals of a measurement, small enough to checkpoint after every batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnvalues.storage import load_checkpoint, save_checkpoint
from nnvalues.stats.batching import Batch
from nnvalues.stats.counting import SUMMARY_ROWS


TOTALS = ("active", "activation_sum", "positive_only", "negative_only", "pair_mean_diff",
          "pair_mean_diff_sq", "prompts", "tokens")
"""The running totals a checkpoint holds."""


@dataclass
class Tally:
    n_layers: int
    n_neurons: int
    active: np.ndarray = field(init=False)
    """[layer, polarity, neuron] active units (prompts or tokens, by counting rule)."""
    activation_sum: np.ndarray = field(init=False)
    positive_only: np.ndarray = field(init=False)
    negative_only: np.ndarray = field(init=False)
    pair_mean_diff: np.ndarray = field(init=False)
    """[layer, neuron] sum over pairs of the per-token mean difference (positive - negative)."""
    pair_mean_diff_sq: np.ndarray = field(init=False)
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
        self.pair_mean_diff = np.zeros((self.n_layers, self.n_neurons), dtype=np.float64)
        self.pair_mean_diff_sq = np.zeros((self.n_layers, self.n_neurons), dtype=np.float64)
        self.prompts = np.zeros(2, dtype=np.int64)
        self.tokens = np.zeros(2, dtype=np.int64)

    def add(self, summary: Any, batch: Batch, units: int) -> None:
        """Fold in one batch's [layers, 8, neurons] summary."""
        values = np.asarray(summary.detach().cpu().numpy(), dtype=np.float64)
        row = {name: values[:, rows] for name, rows in SUMMARY_ROWS.items()}
        self.active += np.rint(row["active"]).astype(np.int64)
        self.activation_sum += row["activation_sum"]
        self.positive_only += np.rint(row["positive_only"][:, 0]).astype(np.int64)
        self.negative_only += np.rint(row["negative_only"][:, 0]).astype(np.int64)
        self.pair_mean_diff += row["pair_mean_diff"][:, 0]
        self.pair_mean_diff_sq += row["pair_mean_diff_sq"][:, 0]
        polarity = batch.polarity.cpu().numpy()
        self.prompts += polarity.sum(axis=0).astype(np.int64)
        self.tokens += (batch.tokens_per_row().cpu().numpy() @ polarity).astype(np.int64)
        self.pairs += int(batch.pairs.shape[1])
        self.units_done += units

    def save(self, path: Path, meta: dict[str, Any]) -> None:
        save_checkpoint(path, {
            **{name: getattr(self, name) for name in TOTALS},
            "counters": np.array([self.pairs, self.units_done], dtype=np.int64)}, meta)

    @classmethod
    def load(cls, path: Path) -> tuple["Tally", dict[str, Any]]:
        data, meta = load_checkpoint(path)
        tally = cls(data["active"].shape[0], data["active"].shape[2])
        for name in TOTALS:
            setattr(tally, name, data[name])
        tally.pairs, tally.units_done = (int(v) for v in data["counters"])
        return tally, meta
