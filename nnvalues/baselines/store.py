"""The score cube: per-neuron baseline scores, stored like the activation cube and beside it.

Layout:  <store>/zarr.json                                root, marked as a score store
         <store>/<model key>/zarr.json                    model provenance
         <store>/<model key>/<method>/zarr.json           the method's settings: parameters,
                                                          target rule, template
         <store>/<model key>/<method>/<dimension>/...     one finished cell (xarray over zarr v3)
         <store>/.checkpoints/<model key>/<method>/<dimension>.npz   running totals
A cell holds `score` (layer x neuron x polarity) and the prompts it came from; it is
written in one rename, and a method's later cells must share its first cell's settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from nnvalues.cube.store import CubeStore, is_group, model_key, read_group_attrs
from nnvalues.errors import StoreError, UsageError
from nnvalues.stats.batching import Batch
from nnvalues.storage import load_checkpoint, save_checkpoint
from nnvalues.taxonomy import POLARITIES

SCORE_MODEL_SETTINGS = ("model_revision", "model_source", "n_layers", "n_neurons", "dtype")


class ScoreStore(CubeStore):
    marker = "nnvalues_scores"
    kind = "an nnvalues score store"
    made_by = "nnvalues baselines score"
    settings_keys = SCORE_MODEL_SETTINGS
    required_attrs = ()
    required_variables = ("score",)

    def methods(self, key: str) -> list[str]:
        folder = self.path / key
        return sorted(p.name for p in folder.iterdir() if is_group(p)) if folder.is_dir() else []

    def method_dimensions(self, key: str, method: str) -> list[str]:
        folder = self.path / key / method
        return sorted(p.name for p in folder.iterdir() if is_group(p)) if folder.is_dir() else []

    def ensure_method(self, key: str, method: str, settings: dict[str, Any]) -> None:
        """Create the method group, or refuse settings other than the ones it was run with."""
        clashes = self.ensure_group(f"{key}/{method}", settings, lambda held: [
            f"{k} {held.get(k)!r} here vs {v!r} now" for k, v in settings.items() if held.get(k) != v])
        if clashes:
            raise StoreError(f"{self.path} holds {method} scores of {key} made with other settings "
                             f"({'; '.join(clashes)}); use another --store")

    def open_scores(self, model: str, method: str, dimension: str) -> xr.Dataset:
        """The finished score cell, or a one-line error saying which command makes it."""
        key = model_key(model)
        if read_group_attrs(self.path / key / method / dimension) is None:
            held = ", ".join(f"{m}/{d}" for m in self.methods(key)
                             for d in self.method_dimensions(key, m)) or "none"
            raise StoreError(
                f"{self.path} holds no {method} scores of {model} on {dimension} (it has: {held}); "
                f"run `nnvalues baselines score --method {method} --dimensions {dimension} "
                f"--store {self.path}` first")
        return self.open_cell(key, f"{method}/{dimension}")


@dataclass
class ScoreTally:
    """Running per-neuron sums of one method on one cell, checkpointed after every batch."""

    n_layers: int
    n_neurons: int
    sums: np.ndarray = field(init=False)
    """[layer, polarity, neuron] the method's per-prompt scores summed."""
    aux: np.ndarray = field(init=False)
    """[layer, neuron] a method-specific count (QRNCA: clusters holding the neuron)."""
    prompts: np.ndarray = field(init=False)
    targets: np.ndarray = field(init=False)
    """Target tokens scored, per polarity."""
    pairs: int = 0
    units_done: int = 0

    def __post_init__(self) -> None:
        self.sums = np.zeros((self.n_layers, 2, self.n_neurons), dtype=np.float64)
        self.aux = np.zeros((self.n_layers, self.n_neurons), dtype=np.float64)
        self.prompts = np.zeros(2, dtype=np.int64)
        self.targets = np.zeros(2, dtype=np.int64)

    def add(self, sums: torch.Tensor, aux: torch.Tensor | None, batch: Batch,
            target_lengths: torch.Tensor, units: int) -> None:
        self.sums += sums.detach().double().cpu().numpy()
        if aux is not None:
            self.aux += aux.detach().double().cpu().numpy()
        polarity = batch.polarity.cpu().numpy()
        self.prompts += polarity.sum(axis=0).astype(np.int64)
        self.targets += (target_lengths.cpu().numpy() @ polarity).astype(np.int64)
        self.pairs += int(batch.pairs.shape[1])
        self.units_done += units

    def mean(self) -> np.ndarray:
        """[layer, polarity, neuron] the mean score per prompt of each polarity."""
        counts = np.where(self.prompts > 0, self.prompts, 1)
        return self.sums / counts[None, :, None]

    def save(self, path: Path, meta: dict[str, Any]) -> None:
        save_checkpoint(path, {"sums": self.sums, "aux": self.aux, "prompts": self.prompts,
                               "targets": self.targets,
                               "counters": np.array([self.pairs, self.units_done])}, meta)

    @classmethod
    def load(cls, path: Path) -> tuple["ScoreTally", dict[str, Any]]:
        data, meta = load_checkpoint(path)
        tally = cls(data["sums"].shape[0], data["sums"].shape[2])
        tally.sums, tally.aux = data["sums"], data["aux"]
        tally.prompts, tally.targets = data["prompts"], data["targets"]
        tally.pairs, tally.units_done = (int(v) for v in data["counters"])
        return tally, meta


def score_dataset(scores: np.ndarray, prompts: np.ndarray, targets: np.ndarray, pairs: int,
                  attrs: dict[str, Any]) -> xr.Dataset:
    """A finished cell from [layer, polarity, neuron] scores."""
    if not np.all(np.isfinite(scores)):
        raise UsageError("the scores hold NaN or infinite values: nothing was written")
    return xr.Dataset(
        {"score": (("layer", "neuron", "polarity"), scores.transpose(0, 2, 1).astype(np.float64)),
         "prompts": (("polarity",), np.asarray(prompts, dtype=np.int64)),
         "targets": (("polarity",), np.asarray(targets, dtype=np.int64)),
         "pairs": ((), np.int64(pairs))},
        coords={"layer": np.arange(scores.shape[0]), "neuron": np.arange(scores.shape[2]),
                "polarity": np.array(POLARITIES, dtype=object)},
        attrs=attrs,
    )
