"""PVQ40 and ValueBench: fetching, checksums, the cache, and the mapping to Schwartz dimensions."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from nnvalues.data.external import (
    URL_ENV,
    ChecksumError,
    DownloadError,
    counts_by_dimension,
    evaluation_questions,
    load_pvq40,
    load_valuebench,
    valuebench_files,
)
from nnvalues.data.external.items import _read_rows
from nnvalues.data.external.schwartz import CONCORDANCE, read_hierarchy
from nnvalues.data.external.source import FILES, NOTICE_NAME, cache_directory
from nnvalues.errors import UsageError
from tests.cli import assert_one_line_error, run_cli
from tests.conftest import VALUEBENCH

FIXTURE = VALUEBENCH


@pytest.fixture(autouse=True)
def pinned(valuebench: Path) -> None:
    """Every test here reads the look-alike files, pinned by their own checksums."""

# PVQ40 scoring key (Schwartz et al. 2001): portrait numbers of each basic value.
SCORING_KEY = {
    "conformity": (7, 16, 28, 36), "tradition": (9, 20, 25, 38),
    "benevolence": (12, 18, 27, 33), "universalism": (3, 8, 19, 23, 29, 40),
    "self_direction": (1, 11, 22, 34), "stimulation": (6, 15, 30), "hedonism": (10, 26, 37),
    "achievement": (4, 13, 24, 32), "power": (2, 17, 39), "security": (5, 14, 21, 31, 35),
}
HIGHER_ORDER = {
    "conformity": ("conservation",), "tradition": ("conservation",), "security": ("conservation",),
    "benevolence": ("self_transcendence",), "universalism": ("self_transcendence",),
    "self_direction": ("openness_to_change",), "stimulation": ("openness_to_change",),
    "hedonism": ("openness_to_change", "self_enhancement"),
    "achievement": ("self_enhancement",), "power": ("self_enhancement",),
}


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache, and no proxy between the tests and their servers on 127.0.0.1."""
    monkeypatch.setenv("NNVALUES_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "cache"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def repository_copy(root: Path) -> Path:
    """The fixture files laid out as in the repository (data/...), for a server to serve."""
    for remote in FILES:
        target = root / remote.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURE / remote.name, target)
    return root


@contextlib.contextmanager
def file_server(root: Path) -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 serving `root`; yields its URL and the paths asked for."""
    requested: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            requested.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- PVQ40 -------------------------------------------------------------------------------

def test_pvq40_follows_the_published_scoring_key():
    items = load_pvq40(FIXTURE)
    assert len(items) == 40
    assert [item.id for item in items] == [f"pvq40-{n:02d}" for n in range(1, 41)]
    by_number = {int(item.id.split("-")[1]): item for item in items}
    for value, numbers in SCORING_KEY.items():
        for number in numbers:
            assert by_number[number].value == value, number
            assert by_number[number].dimensions == HIGHER_ORDER[value], number
    assert all(item.questionnaire == "PVQ40" and item.agreement == 1 for item in items)


def test_pvq40_spot_checks_by_hand():
    items = {item.id: item for item in load_pvq40(FIXTURE)}
    rich = items["pvq40-02"]
    assert "rich" in rich.text and rich.value == "power" and rich.dimensions == ("self_enhancement",)
    equal = items["pvq40-03"]
    assert "treated equally" in equal.text and equal.dimensions == ("self_transcendence",)
    religion = items["pvq40-20"]
    assert "religion" in religion.text and religion.value == "tradition"
    assert religion.dimensions == ("conservation",)
    # The question is the advice-seeking form the model is asked; the text is the statement.
    assert religion.question.startswith("Should I") and religion.question.endswith("?")
    assert items["pvq40-07"].text.endswith("no-one is watching.")  # padding spaces removed


def test_hedonism_portraits_count_under_both_dimensions():
    items = load_pvq40(FIXTURE)
    two = [item for item in items if len(item.dimensions) > 1]
    assert [item.id for item in two] == ["pvq40-10", "pvq40-26", "pvq40-37"]
    assert {item.value for item in two} == {"hedonism"}
    assert all(item.dimensions == ("openness_to_change", "self_enhancement") for item in two)
    assert counts_by_dimension(items) == {
        "openness_to_change": 10, "self_transcendence": 10, "conservation": 13, "self_enhancement": 10,
    }


# --- ValueBench ---------------------------------------------------------------------------

def test_valuebench_items_per_dimension():
    items = load_valuebench(FIXTURE)
    # The fixture's rows: LTO Tradition x4, JPI Risk Taking x2, CSF Desire to Gain Face,
    # HEXACO Greed-Avoidance x2 and Altruism are placed; AB5C, SOV and PVQ40 rows are not.
    assert len(items) == 10
    assert counts_by_dimension(items) == {
        "openness_to_change": 2, "self_transcendence": 1, "conservation": 5, "self_enhancement": 3,
    }
    assert not any(item.questionnaire == "PVQ40" for item in items)  # PVQ40 is its own set
    assert len({item.id for item in items}) == len(items)
    assert all(item.agreement in (-1, 1) and item.question.endswith("?") for item in items)


def test_valuebench_mapping_spot_checks():
    items = load_valuebench(FIXTURE)
    by_construct: dict[tuple[str, str], list] = {}
    for item in items:
        by_construct.setdefault((item.questionnaire, item.construct), []).append(item)
    tradition = by_construct[("LTO", "Tradition")]
    assert len(tradition) == 4 and {i.dimensions for i in tradition} == {("conservation",)}
    risk = by_construct[("JPI", "Risk Taking")]
    assert {(i.value, i.dimensions) for i in risk} == {("stimulation", ("openness_to_change",))}
    face = by_construct[("CSF", "Desire to Gain Face")]
    assert {i.dimensions for i in face} == {("conservation", "self_enhancement")}
    (altruism,) = by_construct[("HEXACO", "Altruism")]
    assert altruism.value == "benevolence" and altruism.dimensions == ("self_transcendence",)
    # Greed-Avoidance is the opposite of wealth: agreeing that money is unimportant is -1.
    greed = {i.text: i for i in by_construct[("HEXACO", "Greed-Avoidance")]}
    assert greed["Money matters little to me."].agreement == -1
    assert greed["I would love to own a yacht."].agreement == 1
    assert {i.value for i in greed.values()} == {"power"}
    # Personality facets with no Schwartz goal stay out.
    assert ("AB5C", "Talkativeness") not in by_construct and ("SOV", "Political") not in by_construct


def test_every_concordance_target_is_a_schwartz_value():
    files = valuebench_files(FIXTURE)
    hierarchy = read_hierarchy(files.definitions)
    for entry in CONCORDANCE:
        assert hierarchy.place(entry.target).dimensions, entry
    constructs = {(row.questionnaire, row.construct) for row in _read_rows(files.orientation)}
    named = {(c.questionnaire, c.construct) for c in CONCORDANCE}
    assert len(constructs & named) == 5  # the fixture's placed constructs


def test_evaluation_questions_for_a_dimension():
    questions = evaluation_questions("pvq40", "self_enhancement", FIXTURE)
    assert len(questions) == 10
    assert "pvq40-10" in {q.id for q in questions}  # hedonism
    assert all(q.dimension == "self_enhancement" and q.set == "pvq40" for q in questions)
    first = load_pvq40(FIXTURE)[1]
    assert questions[0].id == first.id and questions[0].text == first.question
    assert len(evaluation_questions("valuebench", "conservation", FIXTURE, limit=5)) == 5
    with pytest.raises(UsageError, match="unknown dimension"):
        evaluation_questions("pvq40", "kindness", FIXTURE)
    with pytest.raises(UsageError, match="unknown evaluation set"):
        evaluation_questions("mfq", "conservation", FIXTURE)


# --- local folders and checksums -----------------------------------------------------------

def test_a_tampered_copy_fails_its_checksum(tmp_path: Path):
    for remote in FILES:
        shutil.copyfile(FIXTURE / remote.name, tmp_path / remote.name)
    data = (tmp_path / "value_orientation.csv").read_bytes()
    (tmp_path / "value_orientation.csv").write_bytes(data.replace(b"Power", b"Money", 1))
    with pytest.raises(ChecksumError) as info:
        load_pvq40(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "value_orientation.csv" in message and "188773443c1f" in message


def test_a_repository_checkout_layout_is_accepted(tmp_path: Path):
    assert len(load_pvq40(repository_copy(tmp_path))) == 40


def test_a_folder_without_the_files_is_a_usage_error(tmp_path: Path):
    shutil.copyfile(FIXTURE / "value_orientation.csv", tmp_path / "value_orientation.csv")
    with pytest.raises(UsageError, match="no value_data.xlsx"):
        load_valuebench(tmp_path)


# --- downloads and the cache ----------------------------------------------------------------

def test_a_closed_port_fails_with_one_line(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(DownloadError) as info:
        load_pvq40()
    message = str(info.value)
    assert "\n" not in message and "cannot download" in message and "--source" in message
    assert not cache_directory().exists()


def test_download_populates_the_cache_and_a_second_load_needs_no_server(
        fresh_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with file_server(repository_copy(tmp_path / "mirror")) as (url, requested):
        monkeypatch.setenv(URL_ENV, url)
        first = load_pvq40()
        assert sorted(requested) == sorted(f"/{remote.path}" for remote in FILES)
    cached = cache_directory()
    assert cached.parent == fresh_cache / "external"
    for remote in FILES:
        assert (cached / remote.name).read_bytes() == (FIXTURE / remote.name).read_bytes()
    notice = (cached / NOTICE_NAME).read_text()
    assert "MIT License" in notice and "Value4AI" in notice and "188773443c1f" in notice
    # The server is gone: the cache answers.
    assert load_pvq40() == first
    assert counts_by_dimension(load_valuebench())["conservation"] == 5


def test_refresh_and_a_damaged_cache_download_again(
        fresh_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with file_server(repository_copy(tmp_path / "mirror")) as (url, requested):
        monkeypatch.setenv(URL_ENV, url)
        load_pvq40()
        assert len(requested) == 2
        load_pvq40()
        assert len(requested) == 2  # served from the cache
        load_pvq40(refresh=True)
        assert len(requested) == 4
        (cache_directory() / "value_data.xlsx").write_bytes(b"damaged")
        assert len(load_pvq40()) == 40
        assert len(requested) == 6


def test_a_mirror_with_a_changed_file_caches_nothing(
        fresh_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    mirror = repository_copy(tmp_path / "mirror")
    (mirror / "data" / "value_data.xlsx").write_bytes(b"not the pinned workbook")
    with file_server(mirror) as (url, _):
        monkeypatch.setenv(URL_ENV, url)
        with pytest.raises(ChecksumError, match="value_data.xlsx"):
            load_pvq40()
    assert not cache_directory().exists()


def test_a_missing_file_on_the_server_is_a_download_error(
        fresh_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "empty").mkdir()
    with file_server(tmp_path / "empty") as (url, _):
        monkeypatch.setenv(URL_ENV, url)
        with pytest.raises(DownloadError, match="HTTP 404"):
            load_valuebench()


# --- the command ---------------------------------------------------------------------------

def test_cli_counts_and_items(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    result = run_cli(capsys, monkeypatch, "dataset", "external", "--source", FIXTURE)
    assert result.code == 0
    assert "40 items" in result.out and "hedonism 3" in result.out
    result = run_cli(capsys, monkeypatch, "dataset", "external", "--set", "valuebench",
                     "--source", FIXTURE, "--dimension", "conservation", "--limit", "4")
    assert result.code == 0
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert len(lines) == 4  # of the fixture's 5
    assert all("conservation" in line["dimensions"] for line in lines)
    assert all(line["source"] == "valuebench" and line["question"] for line in lines)


def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                 fresh_cache: Path, tmp_path: Path):
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{closed_port()}")
    assert_one_line_error(run_cli(capsys, monkeypatch, "dataset", "external"), "cannot download")
    assert_one_line_error(run_cli(capsys, monkeypatch, "dataset", "external", "--set", "mfq"),
                          "unknown evaluation set")
    assert_one_line_error(run_cli(capsys, monkeypatch, "dataset", "external", "--source", FIXTURE,
                                  "--fetch"), "cannot be combined")
    for remote in FILES:
        shutil.copyfile(FIXTURE / remote.name, tmp_path / remote.name)
    with (tmp_path / "value_data.xlsx").open("ab") as handle:
        handle.write(b"\0")
    assert_one_line_error(run_cli(capsys, monkeypatch, "dataset", "external", "--source", tmp_path),
                          "sha256")
