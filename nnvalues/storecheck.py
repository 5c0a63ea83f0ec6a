"""Find the damaged cells of a store (cube or results) and, on request, remove them.

A cell is damaged when its metadata, a variable or a chunk cannot be read (a disk fault, a
copy cut short, a cell left half-written by an older nnvalues). Removing it lets the
command that made it measure it again; staging folders that no live process writes are
removed with it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from nnvalues.errors import StoreError
from nnvalues.zarrstore import ZarrStore, remove_if_empty


@dataclass(frozen=True)
class Damage:
    """One cell (or model group, with `cell` empty) that cannot be read, and why."""

    key: str
    cell: str
    reason: str

    @property
    def name(self) -> str:
        return f"{self.key}/{self.cell}" if self.cell else self.key


def unreadable_models(store: ZarrStore) -> list[str]:
    """Model folders whose group metadata is lost: their cells cannot be trusted."""
    return [key for key in store.model_folders() if store.group_attrs(key) is None]


def check_store(store: ZarrStore, repair: bool = False, deep: bool = True) -> list[Damage]:
    """Every damaged cell (`deep`: also read all its data); with `repair`, remove them, model
    folders left without a group or a cell, and stale staging folders."""
    damaged = [Damage(key, "", "no readable model group") for key in unreadable_models(store)]
    for key in store.model_folders():
        for folder in sorted(p for p in (store.path / key).iterdir() if p.is_dir()):
            problem = store.cell_damage(key, folder.name, deep)
            if problem is not None:
                damaged.append(Damage(key, folder.name, problem))
    if repair:
        for damage in damaged:
            if damage.cell:
                store.remove_cell(damage.key, damage.cell)
        for damage in damaged:
            if not damage.cell and not store.cells(damage.key):
                with store.store_lock():
                    shutil.rmtree(store.path / damage.key, ignore_errors=True)
        _remove_stale_staging(store)
    return damaged


def _remove_stale_staging(store: ZarrStore) -> None:
    staging = store.path / ".staging"
    for folder in sorted(staging.glob("*/*")):
        try:
            with store.cell_lock(folder.parent.name, folder.name.rsplit(".", 1)[0], wait=0):
                shutil.rmtree(folder, ignore_errors=True)
        except StoreError:
            continue  # a live writer's folder
        remove_if_empty(folder.parent)
    remove_if_empty(staging)
