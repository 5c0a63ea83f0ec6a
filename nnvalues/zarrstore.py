"""A directory of zarr v3 groups that several processes may write at once: the common base
of the cube store and the results store.

Layout:  <store>/zarr.json                      root group: the store's marker and attributes
         <store>/<key>/zarr.json                a model's group (its settings or provenance)
         <store>/<key>/<cell>/...               one finished cell (xarray over zarr v3)
         <store>/.lock                          held while the root or a model group is
                                                created or checked
         <store>/.locks/<key>/<cell>.lock       held by the one process writing that cell
         <store>/.staging/<key>/<cell>.<tmp>/   a cell being written, one folder per process
A cell is written into its own staging folder and published with one rename, only when it is
complete and only by the holder of its lock; readers take no lock. Group metadata is written
with an atomic file replace, never by recreating the group (which would delete what another
process wrote). A cell that cannot be read (damaged on disk, or left half-written by an older
nnvalues) is skipped by readers with a warning naming it; `nnvalues.storecheck` finds and
removes it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import xarray as xr
from filelock import FileLock, Timeout

from nnvalues.errors import StoreError, UsageError
from nnvalues.storage import atomic_write_text, current_umask

LOCK_TIMEOUT_ENV = "NNVALUES_LOCK_TIMEOUT"
STORE_LOCK_WAIT = 120.0
"""Seconds to wait for the store lock, which is only ever held briefly."""

_LOCKS: dict[str, FileLock] = {}


class StoreWarning(UserWarning):
    """Something in a store was skipped: the message names it and the fix."""


def cell_lock_wait() -> float:
    """Seconds a writer waits for a cell another process writes (0: refuse at once)."""
    text = os.environ.get(LOCK_TIMEOUT_ENV, "0")
    try:
        return max(0.0, float(text))
    except ValueError:
        raise UsageError(f"{LOCK_TIMEOUT_ENV}={text!r} is not a number of seconds") from None


def is_group(path: Path) -> bool:
    """Whether `path` is a zarr v3 group (a directory with a group zarr.json)."""
    return path.is_dir() and (path / "zarr.json").is_file()


def read_group_attrs(path: Path) -> dict[str, Any] | None:
    """The attributes of the zarr v3 group at `path`, or None if it is not one."""
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("node_type") != "group":
        return None
    attrs = meta.get("attributes", {})
    return attrs if isinstance(attrs, dict) else None


def write_group_attrs(path: Path, attrs: dict[str, Any]) -> None:
    """Write (or replace) the group metadata at `path` in one atomic file replace."""
    try:
        text = json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attrs},
                          indent=2, allow_nan=False)
    except ValueError:
        raise UsageError(f"a setting to record in {path} is not a finite number") from None
    atomic_write_text(path / "zarr.json", text)


def is_blank(path: Path) -> bool:
    """Nothing there yet, or only hidden entries: the locks, staging folders and temporary
    files of a store another process is creating at this moment."""
    return not path.exists() or (path.is_dir() and all(p.name.startswith(".") for p in path.iterdir()))


def _lock(path: Path) -> FileLock:
    """One lock object per lock file in this process, so nested uses re-enter it."""
    key = str(path.resolve())
    if key not in _LOCKS:
        path.parent.mkdir(parents=True, exist_ok=True)
        _LOCKS[key] = FileLock(key, thread_local=False)
    return _LOCKS[key]


class ZarrStore:
    """What both stores share: the marked root, model groups, locked cells, damage checks."""

    marker: ClassVar[str]
    format_version: ClassVar[int]
    kind: ClassVar[str]
    """How the store is named in messages ("an nnvalues store")."""
    option: ClassVar[str]
    """The command-line option naming the store (--store, --results)."""
    folders: ClassVar[tuple[str, ...]] = ()
    """Top-level folders that are not model groups (saved neuron sets, caches)."""
    required_attrs: ClassVar[tuple[str, ...]] = ()
    required_variables: ClassVar[tuple[str, ...]] = ()
    """What a readable cell must hold; anything less is damage."""

    made_by: ClassVar[str] = ""
    """The command that makes such a store, for the hint when one is missing."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    @classmethod
    def hint(cls, path: Path) -> str:
        return f"make it with `{cls.made_by} {cls.option} {path}`" if cls.made_by else f"check {cls.option}"

    @classmethod
    def check_location(cls, path: Path | str) -> None:
        """Refuse, before anything is written, a path that cannot become or be this store."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise UsageError(f"{cls.option} {path} is a file: give a directory for {cls.kind}")
        if not is_blank(path):
            cls.open(path)
        elif not path.exists():
            parent = next((p for p in path.parents if p.exists()), Path("."))
            if not parent.is_dir():
                raise UsageError(f"{cls.option} {path}: {parent} is a file, not a directory")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UsageError(f"{cls.option} {path}: cannot create it in {parent} (not writable)")

    @classmethod
    def open(cls, path: Path | str) -> "ZarrStore":
        """Open an existing store, or say in one line why `path` is not one."""
        store = cls(path)
        store.root_attrs(check=True)
        return store

    @classmethod
    def create_or_open(cls, path: Path | str, attrs: dict[str, Any] | None = None) -> "ZarrStore":
        """The store at `path`, made with root `attrs` if it is not there yet."""
        cls.check_location(path)
        store = cls(path)
        store.path.mkdir(parents=True, exist_ok=True)
        with store.store_lock():
            if (store.path / "zarr.json").is_file():
                return cls.open(path)
            write_group_attrs(store.path, {cls.marker: cls.format_version, **(attrs or {})})
        return store

    def root_attrs(self, check: bool = False) -> dict[str, Any]:
        if not check:
            return read_group_attrs(self.path) or {}
        if not self.path.exists():
            raise StoreError(f"{self.path} does not exist: {self.hint(self.path)}")
        if not self.path.is_dir():
            raise StoreError(f"{self.path} is a file, not {self.kind}")
        attrs = read_group_attrs(self.path)
        if attrs is None or self.marker not in attrs:
            raise StoreError(f"{self.path} is not {self.kind}")
        if not isinstance(attrs[self.marker], int) or attrs[self.marker] > self.format_version:
            raise StoreError(f"{self.path} was written by a newer nnvalues "
                             f"(format {attrs[self.marker]})")
        return attrs

    @contextmanager
    def store_lock(self) -> Iterator[None]:
        """Held briefly by whoever creates or checks the root or a model group."""
        lock = _lock(self.path / ".lock")
        try:
            lock.acquire(timeout=STORE_LOCK_WAIT)
        except Timeout:
            raise StoreError(f"{self.path} stayed locked by another process for "
                             f"{STORE_LOCK_WAIT:.0f} s ({lock.lock_file}); retry later") from None
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def cell_lock(self, key: str, name: str, wait: float | None = None) -> Iterator[None]:
        """Held by the one process writing a cell; a second writer waits `wait` seconds
        (default: $NNVALUES_LOCK_TIMEOUT, else 0), then is refused in one line."""
        lock = _lock(self.path / ".locks" / key / f"{name}.lock")
        wait = cell_lock_wait() if wait is None else wait
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise StoreError(
                f"another process is writing {key}/{name} in {self.path}: let it finish, then "
                f"rerun (finished cells are kept), or set {LOCK_TIMEOUT_ENV}=<seconds> to wait"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def models(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir()
                      if is_group(p) and not p.name.startswith("."))

    def cells(self, key: str) -> list[str]:
        folder = self.path / key
        return sorted(p.name for p in folder.iterdir() if is_group(p)) if folder.is_dir() else []

    def has_cell(self, key: str, name: str) -> bool:
        """Whether a usable finished cell is there (a damaged one is not)."""
        return is_group(self.path / key / name) and self.cell_problem(key, name) is None

    def group_attrs(self, key: str) -> dict[str, Any] | None:
        return read_group_attrs(self.path / key)

    def ensure_group(self, key: str, attrs: dict[str, Any],
                     clashes: Callable[[dict[str, Any]], list[str]]) -> list[str]:
        """Create the model group `key` with `attrs`, or return how the held one clashes."""
        with self.store_lock():
            held = self.group_attrs(key)
            if held is None:
                write_group_attrs(self.path / key, attrs)
                return []
            return clashes(held)

    def cell_attrs(self, key: str, name: str) -> dict[str, Any] | None:
        return read_group_attrs(self.path / key / name)

    def read_cell(self, key: str, name: str) -> xr.Dataset:
        """A finished cell, loaded; a damaged one is a one-line StoreError naming the fix."""
        data, problem = self._read(key, name)
        if data is None:
            raise StoreError(f"{self.path}: cell {key}/{name} is damaged ({problem}); remove it "
                             f"with `nnvalues cube check {self.path} --repair`")
        return data

    def _read(self, key: str, name: str) -> tuple[xr.Dataset | None, str | None]:
        """(the loaded cell, None), or (None, why it cannot be read)."""
        problem = self.cell_problem(key, name)
        if problem is not None:
            return None, problem
        try:
            return xr.open_zarr(self.path / key / name, consolidated=False, zarr_format=3).load(), None
        except Exception as exc:  # noqa: BLE001  (any zarr/codec failure is damage)
            return None, _reason(exc)

    def cell_problem(self, key: str, name: str) -> str | None:
        """Why the cell cannot be used, or None; reads metadata only (cheap)."""
        attrs = self.cell_attrs(key, name)
        if attrs is None:
            return "no readable zarr.json"
        missing = [a for a in self.required_attrs if a not in attrs]
        if missing:
            return f"attribute(s) {', '.join(missing)} missing"
        absent = [v for v in self.required_variables if not (self.path / key / name / v / "zarr.json").is_file()]
        if absent:
            return f"variable(s) {', '.join(absent)} missing"
        return None

    def cell_damage(self, key: str, name: str, deep: bool = True) -> str | None:
        """Why the cell cannot be used, or None; `deep` also reads all its data."""
        return self._read(key, name)[1] if deep else self.cell_problem(key, name)

    def readable_cells(self, key: str, names: list[str] | None = None) -> Iterator[tuple[str, xr.Dataset]]:
        """(name, loaded cell) for every readable cell of `key`; damaged ones are skipped
        with a StoreWarning naming them."""
        for name in self.cells(key) if names is None else names:
            try:
                yield name, self.read_cell(key, name)
            except StoreError as exc:
                warnings.warn(str(exc), StoreWarning, stacklevel=2)

    def write_cell(self, key: str, name: str, data: xr.Dataset) -> None:
        """Publish a complete cell with one rename; a healthy cell is never replaced."""
        with self.cell_lock(key, name):
            final = self.path / key / name
            if final.exists():
                if self.cell_problem(key, name) is None:
                    raise StoreError(f"{self.path} already holds {key}/{name}; finished cells "
                                     "are not rewritten")
                shutil.rmtree(final)  # damaged: we hold its lock, so it is ours to replace
            staging = (self.path / ".staging" / key / name).parent  # names may nest (a/b)
            staging.mkdir(parents=True, exist_ok=True)
            staged = Path(tempfile.mkdtemp(dir=staging, prefix=f"{Path(name).name}."))
            try:
                data.to_zarr(staged, mode="w", zarr_format=3, consolidated=False)
                os.chmod(staged, 0o777 & ~current_umask())
                final.parent.mkdir(parents=True, exist_ok=True)
                os.rename(staged, final)
            finally:
                shutil.rmtree(staged, ignore_errors=True)
            while staging != self.path and remove_if_empty(staging):
                staging = staging.parent

    def remove_cell(self, key: str, name: str) -> None:
        """Delete a cell (a damaged one, under its lock)."""
        with self.cell_lock(key, name):
            shutil.rmtree(self.path / key / name, ignore_errors=True)

    def model_folders(self) -> list[str]:
        """Top-level folders that hold (or should hold) a model group."""
        return sorted(p.name for p in self.path.iterdir() if p.is_dir()
                      and not p.name.startswith(".") and p.name not in self.folders)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def remove_if_empty(folder: Path) -> bool:
    """Remove `folder` if it is empty; whether it was (another writer may be filling it)."""
    try:
        folder.rmdir()
    except OSError:
        return False  # not empty, or already gone
    return True
