"""The results store: every answer, score and setting an evaluation produced, as zarr groups.

Layout:  <results>/zarr.json                       root group: marker and the run settings
         <results>/<model key>/zarr.json           model group: weights and prompt provenance
         <results>/<model key>/<cell>/...          one finished cell (xarray over zarr v3)
         <results>/neuron_sets/<name>.json         the neuron sets the edits used
         <results>/judge_cache/                    judgements already made (see judge.cache)
         <results>/.checkpoints/<model key>/<cell>.json   answers of a cell not yet judged
A cell is written to a staging folder and moved into place in one rename, so a store is
never half-written; finished cells are never rewritten (append-only). The settings that
decide what a number means (generation, edit rule, selection, judge, runs, questions per
cell) are fixed by the first run: a later run with other settings is refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import xarray as xr
import zarr

from nnvalues.cube.store import check_marked_root, is_group, read_group_attrs
from nnvalues.errors import StoreError
from nnvalues.storage import atomic_write_text, replace_directory

MARKER = "nnvalues_results"
RESULTS_FORMAT = 1
CACHE_FOLDER = "judge_cache"
INFO_KEY = "info"
"""Root attribute for what is recorded but not compared (paths, endpoint, versions)."""


def flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}, for naming the setting that differs."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _normalised(settings: dict[str, Any]) -> dict[str, Any]:
    """As the settings read back from JSON (tuples become lists)."""
    return json.loads(json.dumps(settings))


class ResultsStore:
    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def open(cls, path: Path | str) -> "ResultsStore":
        store = cls(Path(path))
        check_marked_root(store.path, MARKER, RESULTS_FORMAT, "an nnvalues results store",
                          f"run `nnvalues evaluate --results {store.path}` first")
        return store

    @classmethod
    def open_or_create(cls, path: Path | str, settings: dict[str, Any],
                       info: dict[str, Any]) -> "ResultsStore":
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            store = cls.open(path)
            store.check_settings(settings)
            return store
        zarr.open_group(str(path), mode="w", zarr_format=3,
                        attributes={MARKER: RESULTS_FORMAT, "settings": _normalised(settings),
                                    INFO_KEY: _normalised(info)})
        return cls(path)

    @property
    def settings(self) -> dict[str, Any]:
        return (read_group_attrs(self.path) or {}).get("settings", {})

    @property
    def info(self) -> dict[str, Any]:
        return (read_group_attrs(self.path) or {}).get(INFO_KEY, {})

    def check_settings(self, settings: dict[str, Any]) -> None:
        """Refuse to add results made differently from those the store holds."""
        held, now = flatten(self.settings), flatten(_normalised(settings))
        clashes = [f"{k} {held.get(k)!r} here vs {now.get(k)!r} now"
                   for k in sorted(set(held) | set(now)) if held.get(k) != now.get(k)]
        if clashes:
            shown = "; ".join(clashes[:3]) + (f"; and {len(clashes) - 3} more" if len(clashes) > 3 else "")
            raise StoreError(f"{self.path} holds results made with other settings ({shown}): "
                             "use another --results, or the same settings")

    def ensure_model(self, key: str, provenance: dict[str, Any]) -> None:
        held = read_group_attrs(self.path / key)
        provenance = _normalised(provenance)
        if held is None:
            zarr.open_group(str(self.path / key), mode="w", zarr_format=3, attributes=provenance)
            return
        clashes = [f"{k} {str(held.get(k))[:16]!r} here vs {str(v)[:16]!r} now"
                   for k, v in provenance.items() if held.get(k) != v]
        if clashes:
            raise StoreError(f"{self.path} holds results of {key} made with other weights or prompts "
                             f"({'; '.join(clashes)}): use another --results")

    def models(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir() if is_group(p) and not p.name.startswith("."))

    def model_provenance(self, key: str) -> dict[str, Any]:
        return read_group_attrs(self.path / key) or {}

    def cells(self, key: str) -> list[str]:
        folder = self.path / key
        return sorted(p.name for p in folder.iterdir() if is_group(p)) if folder.is_dir() else []

    def has_cell(self, key: str, name: str) -> bool:
        return is_group(self.path / key / name)

    def cell_attrs(self, key: str, name: str) -> dict[str, Any]:
        return read_group_attrs(self.path / key / name) or {}

    def read_cell(self, key: str, name: str) -> xr.Dataset:
        return xr.open_zarr(self.path / key / name, consolidated=False, zarr_format=3).load()

    def write_cell(self, key: str, name: str, data: xr.Dataset) -> None:
        if self.has_cell(key, name):
            raise StoreError(f"{self.path} already holds {key}/{name}; finished cells are not rewritten")
        staged = self.path / ".staging" / f"{key}--{name}"
        shutil.rmtree(staged, ignore_errors=True)
        staged.parent.mkdir(parents=True, exist_ok=True)
        data.to_zarr(staged, mode="w", zarr_format=3, consolidated=False)
        replace_directory(staged, self.path / key / name)
        checkpoint = self.checkpoint_path(key, name)
        checkpoint.unlink(missing_ok=True)
        for folder in (staged.parent, checkpoint.parent, checkpoint.parent.parent):
            _remove_if_empty(folder)

    def checkpoint_path(self, key: str, name: str) -> Path:
        return self.path / ".checkpoints" / key / f"{name}.json"

    def read_checkpoint(self, key: str, name: str, fingerprint: str) -> list[dict[str, Any]] | None:
        """Answers generated for a cell that was not finished, if made the same way."""
        try:
            data = json.loads(self.checkpoint_path(key, name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data.get("answers") if data.get("fingerprint") == fingerprint else None

    def write_checkpoint(self, key: str, name: str, fingerprint: str, answers: list[dict[str, Any]]) -> None:
        atomic_write_text(self.checkpoint_path(key, name),
                          json.dumps({"fingerprint": fingerprint, "answers": answers}, ensure_ascii=False))

    @property
    def cache_dir(self) -> Path:
        return self.path / CACHE_FOLDER


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty, or already gone

