"""A neuron set: the chosen neurons with their deltas and roles, and where they came from.

Sets are saved by name inside the store they were selected from, as
`<store>/neuron_sets/<name>.json`, so that a set travels with the cube it describes (the
store's cube reader ignores the folder: it holds no zarr groups). Each file is written
atomically and records the store, model, weights revision, dimension, rule, its
parameters and a fingerprint of the cell's counts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nnvalues.errors import StoreError, UsageError
from nnvalues.select.selection import ROLES, Selection, per_layer_counts
from nnvalues.storage import atomic_write_text

SETS_FOLDER = "neuron_sets"
SET_FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
COLUMNS = ("layer", "neuron", "delta", "role", "mean_positive", "mean_negative")


@dataclass
class NeuronSet:
    model: str
    model_revision: str
    dimension: str
    rule: str
    """"threshold", "top-k" or "fdr"; a random control keeps its base rule's name."""
    parameters: dict[str, Any]
    store: str
    cube_fingerprint: str
    n_layers: int
    n_neurons: int
    counting: str
    created: str
    package_version: str
    selection: Selection
    mean_positive: np.ndarray
    """Mean act_fn output per token under the value's prompts (the additive edit's scale)."""
    mean_negative: np.ndarray
    activation_scale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Per layer: 95th percentile over its neurons of the mean act_fn output per token
    (both polarities pooled); the additive edit's unit, since the cube keeps sums only."""
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.selection)

    @property
    def random(self) -> bool:
        return bool(self.parameters.get("random"))

    def count(self, role: str) -> int:
        return self.selection.count(role)

    def per_layer(self) -> dict[str, list[int]]:
        return per_layer_counts(self.selection, self.n_layers)

    def describe(self) -> str:
        """A short label, e.g. "threshold 0.03: 120 value + 98 opposite"."""
        shown = [v for k, v in self.parameters.items() if k not in ("random", "seed", "match_layers")]
        label = " ".join([self.rule, *(str(v) for v in shown[:1])])
        if shown[1:]:
            label += f" ({', '.join(str(v) for v in shown[1:])})"
        if self.random:
            label = f"random control of {label} (seed {self.parameters.get('seed')})"
        return f"{label}: {self.count('value')} value + {self.count('opposite')} opposite"

    def table(self) -> pd.DataFrame:
        s = self.selection
        return pd.DataFrame({"layer": s.layer, "neuron": s.neuron, "delta": s.delta,
                             "role": s.role, "mean_positive": self.mean_positive,
                             "mean_negative": self.mean_negative})

    def provenance(self) -> dict[str, Any]:
        return {
            "name": self.name, "model": self.model, "model_revision": self.model_revision,
            "dimension": self.dimension, "rule": self.rule, "parameters": self.parameters,
            "store": self.store, "cube_fingerprint": self.cube_fingerprint,
            "n_layers": self.n_layers, "n_neurons": self.n_neurons, "counting": self.counting,
            "created": self.created, "package_version": self.package_version,
            "value_neurons": self.count("value"), "opposite_neurons": self.count("opposite"),
        }

    def to_json(self) -> dict[str, Any]:
        table = self.table()
        return {"format": SET_FORMAT, **self.provenance(), **({"extra": self.extra} if self.extra else {}),
                "activation_scale": np.asarray(self.activation_scale, dtype=float).tolist(),
                "neurons": {c: table[c].tolist() for c in COLUMNS}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "NeuronSet":
        if data.get("format", 0) > SET_FORMAT:
            raise StoreError("this neuron set was written by a newer nnvalues")
        cols = data["neurons"]
        roles = np.asarray(cols["role"], dtype=object)
        if not set(roles.tolist()) <= set(ROLES):
            raise StoreError(f"neuron set holds an unknown role; expected {', '.join(ROLES)}")
        selection = Selection(np.asarray(cols["layer"], dtype=np.int64),
                              np.asarray(cols["neuron"], dtype=np.int64),
                              np.asarray(cols["delta"], dtype=np.float64), roles.astype(str))
        # Selection sorts by (layer, neuron): sort the means the same way.
        order = np.lexsort((np.asarray(cols["neuron"]), np.asarray(cols["layer"])))
        return cls(
            data["model"], data["model_revision"], data["dimension"], data["rule"],
            dict(data["parameters"]), data["store"], data["cube_fingerprint"],
            int(data["n_layers"]), int(data["n_neurons"]), data.get("counting", "prompt"),
            data["created"], data["package_version"], selection,
            np.asarray(cols["mean_positive"], dtype=np.float64)[order],
            np.asarray(cols["mean_negative"], dtype=np.float64)[order],
            np.asarray(data.get("activation_scale", []), dtype=np.float64),
            data.get("name"), dict(data.get("extra", {})),
        )


def sets_dir(store: Path | str) -> Path:
    return Path(store) / SETS_FOLDER


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(
            f"bad neuron set name {name!r}: use letters, digits, '.', '_' or '-' (100 at most)"
        )
    return name


def save_set(neuron_set: NeuronSet, store: Path | str, name: str) -> Path:
    """Write the set as `<store>/neuron_sets/<name>.json` (replacing one of that name)."""
    if not (Path(store) / "zarr.json").is_file():
        raise StoreError(f"{store} is not an nnvalues store: neuron sets are saved inside one")
    neuron_set.name = check_name(name)
    path = sets_dir(store) / f"{name}.json"
    atomic_write_text(path, json.dumps(neuron_set.to_json(), indent=1))
    return path


def list_sets(store: Path | str) -> list[str]:
    folder = sets_dir(store)
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def load_set(store: Path | str, name: str) -> NeuronSet:
    """The set saved under `name`, or a one-line error listing the ones there are."""
    path = sets_dir(store) / f"{check_name(name)}.json"
    if not path.is_file():
        known = ", ".join(list_sets(store)) or "none yet (save one with `nnvalues select --name`)"
        raise UsageError(f"no neuron set {name!r} in {store}; saved sets: {known}")
    try:
        return NeuronSet.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"neuron set {path} is unreadable ({type(exc).__name__}: {exc})") from None
