"""The ValueBench files: a pinned commit, sha256 checks, a local cache or a folder given offline.

ValueBench (https://github.com/Value4AI/ValueBench) is Copyright (c) 2024 Value4AI and
released under the MIT License. nnvalues does not ship its files: it downloads
data/value_orientation.csv and data/value_data.xlsx at one pinned commit, checks each
against the sha256 recorded here (so results never silently depend on a moved branch or a
damaged copy), and keeps them with a NOTICE carrying the licence under
`cache_dir()/external/`. `NNVALUES_VALUEBENCH_URL` replaces the download base (a mirror,
or a test server); a folder with the unchanged files replaces the download altogether.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nnvalues.config import cache_dir
from nnvalues.errors import NnvaluesError, UsageError
from nnvalues.storage import atomic_write_bytes, atomic_write_text

REPOSITORY = "Value4AI/ValueBench"
COMMIT = "188773443c1f2f24ff3223e46216bd74ed91ae51"
URL_ENV = "NNVALUES_VALUEBENCH_URL"
DEFAULT_URL = f"https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}"
TIMEOUT_S = 30.0
NOTICE_NAME = "NOTICE"


class ExternalDataError(NnvaluesError):
    """External evaluation data that cannot be obtained or is not what was pinned."""


class DownloadError(ExternalDataError):
    """The files could not be downloaded (no network, a wrong URL, a server error)."""


class ChecksumError(ExternalDataError):
    """A file's bytes differ from those of the pinned commit."""


@dataclass(frozen=True)
class RemoteFile:
    name: str
    path: str
    """Path inside the repository, relative to the download base."""
    sha256: str


ORIENTATION = RemoteFile(
    "value_orientation.csv", "data/value_orientation.csv",
    "cb81699e9ed621477d120246b3facd4d2943e880a93e19a68bdb4deaed9f6f11",
)
DEFINITIONS = RemoteFile(
    "value_data.xlsx", "data/value_data.xlsx",
    "b2dcb8e79bd1b4c23631b354788e60928d1a86f5e8706e434f5d5af98d1cc82a",
)
FILES: tuple[RemoteFile, ...] = (ORIENTATION, DEFINITIONS)

_MIT_LICENCE = """\
MIT License

Copyright (c) 2024 Value4AI

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


@dataclass(frozen=True)
class ValueBenchFiles:
    """Verified copies of the pinned files, wherever they were found."""

    directory: Path
    orientation: Path
    definitions: Path
    cached: bool
    """True when the files are nnvalues' cached download, False for a folder given by the user."""


def cache_directory() -> Path:
    return cache_dir() / "external" / f"valuebench-{COMMIT[:12]}"


def base_url() -> str:
    return (os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")


def valuebench_files(source: Path | None = None, refresh: bool = False) -> ValueBenchFiles:
    """The verified files: from `source` if given, else the cache, downloading when needed.

    `refresh` downloads again even when the cache holds good copies. A cached file that
    fails its checksum is treated as missing and downloaded again.
    """
    if source is not None:
        if refresh:
            raise UsageError("a refresh (--fetch) downloads into the cache; it cannot be combined "
                             "with a source folder (--source)")
        return _local_files(Path(source).expanduser())
    directory = cache_directory()
    if refresh or not _cache_is_complete(directory):
        _download_into(directory)
    return ValueBenchFiles(directory, directory / ORIENTATION.name, directory / DEFINITIONS.name, True)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _local_files(directory: Path) -> ValueBenchFiles:
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such folder (expected the ValueBench files "
                         f"{', '.join(f.name for f in FILES)})")
    found = {}
    for remote in FILES:
        # A flat folder (as the cache keeps it) or a checkout of the repository.
        candidates = (directory / remote.name, directory / remote.path)
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise UsageError(f"{directory}: no {remote.name} (expected the files of "
                             f"{REPOSITORY} at commit {COMMIT[:12]}, flat or under data/)")
        _check(remote, _read(path), str(path))
        found[remote.name] = path
    return ValueBenchFiles(directory, found[ORIENTATION.name], found[DEFINITIONS.name], False)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _check(remote: RemoteFile, data: bytes, where: str) -> None:
    digest = sha256_bytes(data)
    if digest != remote.sha256:
        raise ChecksumError(
            f"{where}: sha256 {digest[:16]}... is not that of {remote.path} at "
            f"{REPOSITORY} commit {COMMIT[:12]} ({remote.sha256[:16]}...); "
            "the file was changed or damaged"
        )


def _cache_is_complete(directory: Path) -> bool:
    if not (directory / NOTICE_NAME).is_file():
        return False
    for remote in FILES:
        try:
            if sha256_bytes((directory / remote.name).read_bytes()) != remote.sha256:
                return False
        except OSError:
            return False
    return True


def _download_into(directory: Path) -> None:
    """Fetch every file and verify all of them before the cache is touched."""
    base = base_url()
    fetched = {}
    for remote in FILES:
        url = f"{base}/{remote.path}"
        data = _fetch(url)
        _check(remote, data, url)
        fetched[remote.name] = data
    try:
        for name, data in fetched.items():
            atomic_write_bytes(directory / name, data)
        atomic_write_text(directory / NOTICE_NAME, _notice(base))
    except OSError as exc:
        raise ExternalDataError(f"cannot write the ValueBench cache in {directory} "
                                f"({exc.strerror or exc})") from None


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        reason = str(exc.reason)
    except (OSError, ValueError) as exc:  # timeouts, resets, malformed URLs
        reason = str(exc) or type(exc).__name__
    reason = " ".join(reason.split())
    raise DownloadError(
        f"cannot download {url} ({reason}); check the network or {URL_ENV}, or pass "
        f"--source DIR with the files of {REPOSITORY} at commit {COMMIT[:12]}"
    )


def _notice(base: str) -> str:
    lines = [
        "ValueBench data files, kept unchanged by nnvalues for evaluation.",
        f"Repository: https://github.com/{REPOSITORY}",
        f"Commit: {COMMIT}",
        f"Downloaded from: {base}",
        *(f"sha256 {remote.sha256}  {remote.name} ({remote.path})" for remote in FILES),
        "",
        "These files are used under the following licence:",
        "",
        _MIT_LICENCE,
    ]
    return "\n".join(lines)
