"""A directory of zarr groups holding cube cells, written so it is never half-written.

Layout:  <store>/zarr.json                         root group, marked as an nnvalues store
         <store>/<model key>/zarr.json             model group: provenance and settings
         <store>/<model key>/<dimension>/...       one finished cell (xarray over zarr v3)
         <store>/.checkpoints/<model key>/<dimension>.npz   running totals of an unfinished cell
A cell is written to a staging directory and moved into place in one rename, so a crash
leaves either the old state or the new one. A model's settings (weights revision, counting
rule, template, dtype) are fixed by its first cell: later cells must match them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import xarray as xr
import zarr

from nnvalues.errors import StoreError
from nnvalues.storage import replace_directory

STORE_FORMAT = 1
MARKER = "nnvalues_store"
MODEL_SETTINGS = ("model_revision", "model_source", "n_layers", "n_neurons", "dtype", "counting",
                  "template", "template_mode", "template_sha256")


def model_key(model: str) -> str:
    """A directory-safe key for a model label ("org/name" -> "org--name")."""
    return model.replace("/", "--").replace(":", "_")


class CubeStore:
    marker = MARKER
    kind = "an nnvalues store"
    made_by = "nnvalues locate"
    settings_keys = MODEL_SETTINGS
    """Model settings that every cell of a model must share."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def open(cls, path: Path | str) -> "CubeStore":
        """Open an existing store, or say clearly why `path` is not one."""
        store = cls(Path(path))
        check_marked_root(store.path, cls.marker, STORE_FORMAT, cls.kind,
                          f"make it with `{cls.made_by} --store {store.path}`")
        return store

    @classmethod
    def open_or_create(cls, path: Path | str) -> "CubeStore":
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            return cls.open(path)
        zarr.open_group(str(path), mode="w", zarr_format=3, attributes={cls.marker: STORE_FORMAT})
        return cls(path)

    def models(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir() if is_group(p) and not p.name.startswith("."))

    def dimensions(self, key: str) -> list[str]:
        return sorted(p.name for p in (self.path / key).iterdir() if is_group(p))

    def model_settings(self, key: str) -> dict[str, Any] | None:
        return read_group_attrs(self.path / key)

    def ensure_model(self, key: str, settings: dict[str, Any]) -> None:
        """Create the model group, or check that `settings` match the ones it holds."""
        held = self.model_settings(key)
        if held is None:
            zarr.open_group(str(self.path / key), mode="w", zarr_format=3, attributes=settings)
            return
        clashes = [f"{k} {held.get(k)!r} here vs {settings.get(k)!r} now"
                   for k in self.settings_keys if held.get(k) != settings.get(k)]
        if clashes:
            raise StoreError(
                f"{self.path} holds {key} measured with other settings ({'; '.join(clashes)}); "
                "use another --store"
            )

    def cell_attrs(self, key: str, dimension: str) -> dict[str, Any] | None:
        return read_group_attrs(self.path / key / dimension)

    def open_cell(self, key: str, dimension: str) -> xr.Dataset:
        return xr.open_zarr(self.path / key / dimension, consolidated=False, zarr_format=3).load()

    def write_cell(self, key: str, dimension: str, data: xr.Dataset) -> None:
        staged = self.path / ".staging" / f"{key}--{dimension}".replace("/", "--")
        shutil.rmtree(staged, ignore_errors=True)
        staged.parent.mkdir(parents=True, exist_ok=True)
        data.to_zarr(staged, mode="w", zarr_format=3, consolidated=False)
        replace_directory(staged, self.path / key / dimension)
        self.checkpoint_path(key, dimension).unlink(missing_ok=True)

    def checkpoint_path(self, key: str, dimension: str) -> Path:
        return self.path / ".checkpoints" / key / f"{dimension}.npz"



def is_group(path: Path) -> bool:
    """Whether `path` is a zarr v3 group (a directory with a group zarr.json)."""
    return path.is_dir() and (path / "zarr.json").is_file()


def read_group_attrs(path: Path) -> dict[str, Any] | None:
    """The attributes of the zarr v3 group at `path`, or None if it is not one."""
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("attributes", {}) if meta.get("node_type") == "group" else None


def check_marked_root(path: Path, marker: str, newest: int, kind: str, hint: str) -> dict[str, Any]:
    """The root attributes of a store of `kind`, or a one-line error saying why it is not one."""
    if not path.exists():
        raise StoreError(f"{path} does not exist: {hint}")
    attrs = read_group_attrs(path)
    if attrs is None or marker not in attrs:
        raise StoreError(f"{path} is not {kind}")
    if attrs[marker] > newest:
        raise StoreError(f"{path} was written by a newer nnvalues (format {attrs[marker]})")
    return attrs
