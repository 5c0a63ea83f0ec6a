"""The cube store: one zarr group per model, one finished cell per model and dimension.

Layout (see `nnvalues.zarrstore` for locks, staging and damage):
         <store>/zarr.json                         root group, marked as an nnvalues store
         <store>/<model key>/zarr.json             model group: provenance and settings
         <store>/<model key>/<dimension>/...       one finished cell (xarray over zarr v3)
         <store>/.checkpoints/<model key>/<dimension>.npz   running totals of an unfinished cell
         <store>/neuron_sets/<name>.json           neuron sets saved by `select --name`
A model's settings (weights revision, counting rule, template, dtype) are fixed by its first
cell: later cells must match them. Only the holder of a cell's lock measures it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xarray as xr

from nnvalues.errors import StoreError
from nnvalues.zarrstore import ZarrStore, is_group, read_group_attrs  # noqa: F401  (re-exported)

STORE_FORMAT = 1
MARKER = "nnvalues_store"
MODEL_SETTINGS = ("model_revision", "model_source", "n_layers", "n_neurons", "dtype", "counting",
                  "span", "answer_tokens", "template", "template_mode", "template_sha256")
SETTING_DEFAULTS = {"span": "prompt", "answer_tokens": 0}
"""What a store made before a setting existed measured with (it counted prompts only)."""
CELL_VARIABLES = ("active", "activation_sum", "positive_only", "negative_only", "units", "prompts",
                  "tokens", "pairs")


def model_key(model: str) -> str:
    """A directory-safe key for a model label ("org/name" -> "org--name")."""
    return model.replace("/", "--").replace(":", "_")


class CubeStore(ZarrStore):
    marker = MARKER
    format_version = STORE_FORMAT
    kind = "an nnvalues store"
    made_by = "nnvalues locate"
    option = "--store"
    folders = ("neuron_sets",)
    settings_keys = MODEL_SETTINGS
    """Model settings that every cell of a model must share."""
    required_attrs = ("model", "dimension", "data_fingerprint")
    required_variables = CELL_VARIABLES

    @classmethod
    def open_or_create(cls, path: Path | str) -> "CubeStore":
        return cls.create_or_open(path)  # type: ignore[return-value]

    def dimensions(self, key: str) -> list[str]:
        return self.cells(key)

    def model_settings(self, key: str) -> dict[str, Any] | None:
        return self.group_attrs(key)

    def ensure_model(self, key: str, settings: dict[str, Any]) -> None:
        """Create the model group, or check that `settings` match the ones it holds."""
        def clashes(held: dict[str, Any]) -> list[str]:
            def value(source: dict[str, Any], k: str) -> Any:
                return source.get(k, SETTING_DEFAULTS.get(k))

            return [f"{k} {value(held, k)!r} here vs {value(settings, k)!r} now"
                    for k in self.settings_keys if value(held, k) != value(settings, k)]

        found = self.ensure_group(key, settings, clashes)
        if found:
            raise StoreError(f"{self.path} holds {key} measured with other settings "
                             f"({'; '.join(found)}); use another --store")

    def open_cell(self, key: str, dimension: str) -> xr.Dataset:
        return self.read_cell(key, dimension)

    def unfinished(self) -> list[str]:
        """"model/dimension" of every checkpointed, unfinished measurement."""
        folder = self.path / ".checkpoints"
        return sorted(f"{p.parent.name}/{p.stem}" for p in folder.glob("*/*.npz"))

    def checkpoint_path(self, key: str, dimension: str) -> Path:
        return self.path / ".checkpoints" / key / f"{dimension}.npz"

    def write_cell(self, key: str, name: str, data: xr.Dataset) -> None:
        super().write_cell(key, name, data)
        self.checkpoint_path(key, name).unlink(missing_ok=True)

