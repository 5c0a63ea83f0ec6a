"""The results store: every answer, score and setting an evaluation produced, as zarr groups.

Layout (see `nnvalues.zarrstore` for locks, staging and damage):
         <results>/zarr.json                       root group: marker and the run settings
         <results>/<model key>/zarr.json           model group: weights and prompt provenance
         <results>/<model key>/<cell>/...          one finished cell (xarray over zarr v3)
         <results>/neuron_sets/<name>.json         the neuron sets the edits used
         <results>/judge_cache/                    judgements already made (see judge.cache)
         <results>/.checkpoints/<model key>/<cell>.json   answers of a cell not yet judged
Finished cells are never rewritten (append-only). The settings that decide what a number
means (generation, edit rule, selection, judge, runs, questions per cell) are fixed by the
first run: a later run with other settings is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nnvalues.errors import StoreError
from nnvalues.storage import atomic_write_text
from nnvalues.zarrstore import ZarrStore, is_blank

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


class ResultsStore(ZarrStore):
    marker = MARKER
    format_version = RESULTS_FORMAT
    kind = "an nnvalues results store"
    option = "--results"
    folders = ("neuron_sets", CACHE_FOLDER, "judge_batches")
    required_attrs = ("model", "set", "dimension", "method", "questions_fingerprint")
    required_variables = ("question_text",)

    @classmethod
    def hint(cls, path: Path) -> str:
        return f"run `nnvalues evaluate --results {path}` first"

    @classmethod
    def open_or_create(cls, path: Path | str, settings: dict[str, Any],
                       info: dict[str, Any]) -> "ResultsStore":
        store = cls.create_or_open(path, {"settings": _normalised(settings),
                                          INFO_KEY: _normalised(info)})
        store.check_settings(settings)
        return store  # type: ignore[return-value]

    @classmethod
    def check_existing(cls, path: Path | str, settings: dict[str, Any]) -> "ResultsStore | None":
        """The store at `path` if there is one (its settings checked), without creating it."""
        cls.check_location(path)
        if is_blank(Path(path)):
            return None
        store = cls.open(path)
        store.check_settings(settings)
        return store  # type: ignore[return-value]

    @property
    def settings(self) -> dict[str, Any]:
        return self.root_attrs().get("settings", {})

    @property
    def info(self) -> dict[str, Any]:
        return self.root_attrs().get(INFO_KEY, {})

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
        provenance = _normalised(provenance)

        def clashes(held: dict[str, Any]) -> list[str]:
            return [f"{k} {str(held.get(k))[:16]!r} here vs {str(v)[:16]!r} now"
                    for k, v in provenance.items() if held.get(k) != v]

        found = self.ensure_group(key, provenance, clashes)
        if found:
            raise StoreError(f"{self.path} holds results of {key} made with other weights or "
                             f"prompts ({'; '.join(found)}): use another --results")

    def model_provenance(self, key: str) -> dict[str, Any]:
        return self.group_attrs(key) or {}

    def write_cell(self, key: str, name: str, data: Any) -> None:
        super().write_cell(key, name, data)
        checkpoint = self.checkpoint_path(key, name)
        checkpoint.unlink(missing_ok=True)
        for folder in (checkpoint.parent, checkpoint.parent.parent):
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty, or already gone

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
