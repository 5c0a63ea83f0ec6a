"""The data generator: answer parsing, journal, duplicates, and the whole pipeline against a
real OpenAI-compatible server on 127.0.0.1 (llama.cpp serving the embedded SmolLM2).

The server tests check the plumbing, not the writing of a 135M model: requests go out,
every answer is parsed or kept aside and counted, the journal makes reruns free, dry-run
counts match, and the output directory loads and validates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nnvalues.data.validate import validate_dataset
from nnvalues.data.valueinsight import SPLITS, Description, Question, data_directory, load_dataset
from nnvalues.data.generate import (
    Endpoint, GenerateOptions, ParseFailure, RefineOptions, Report, generate, parse_list,
    parse_revision, parse_views, refine,
)
from nnvalues.data.generate import templates
from nnvalues.data.generate.items import drop_duplicates, item_id, split_for
from nnvalues.data.generate.journal import Answer, Journal
from nnvalues.taxonomy import dimension
from tests.cli import assert_one_line_error, run_cli
from tests.openai_server import OpenAIServer, closed_port

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "tests" / "fixtures" / "paper_appendix_a.txt"
"""Appendix A of the paper (its prompt templates), as the paper prints it."""


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(capsys, monkeypatch, *args)


# --- parsing -------------------------------------------------------------------------------

@pytest.mark.parametrize("answer, expected", [
    ("Here are 3 questions:\n\n1. Your sister asks for money. What would you do?\n"
     "2) You found a wallet. What do you think?\n\n3. **The Wedding**: Your friend marries. "
     "What would you do?\n\nI hope these help!",
     ["Your sister asks for money. What would you do?", "You found a wallet. What do you think?",
      "Your friend marries. What would you do?"]),
    ("- \"First item here.\"\n- Second item\n  continues here.\n• Third one.",
     ["First item here.", "Second item continues here.", "Third one."]),
    ("Sure! Here they are:\n```json\n[\"One thing.\", \"Two things.\"]\n```\nEnjoy.",
     ["One thing.", "Two things."]),
    ('{"questions": [{"text": "A?"}, {"question": "B?"}]}', ["A?", "B?"]),
    ("Sure, here you go:\n\nYour boss asks you to stay late.\nWhat would you do?\n\n"
     "Your neighbour plays loud music. What do you think?",
     ["Your boss asks you to stay late. What would you do?",
      "Your neighbour plays loud music. What do you think?"]),
    ("Question 1: You win a prize. What would you do?\nQuestion 2: You lose a bet. What do you think?",
     ["You win a prize. What would you do?", "You lose a bet. What do you think?"]),
    ("1. **The Promotion**\nYou are offered a job. What would you do?\n\n"
     "2. **The Move**\nYour partner wants to move. What do you think?",
     ["You are offered a job. What would you do?", "Your partner wants to move. What do you think?"]),
    ("### 1. The choice\nYou choose. What would you do?\n### 2. Another\nYou again. What do you think?",
     ["You choose. What would you do?", "You again. What do you think?"]),
    ("“You keep the old recipes.”\n“You try a new dish every week.”",
     ["You keep the old recipes.", "You try a new dish every week."]),
])
def test_parse_list_accepts_the_shapes_models_answer_in(answer, expected):
    assert parse_list(answer) == expected


@pytest.mark.parametrize("answer", ["", "   \n\n", "Here are the questions:", "Sure! Here you go:\n\n"])
def test_parse_list_refuses_answers_without_items(answer):
    with pytest.raises(ParseFailure):
        parse_list(answer)


@pytest.mark.parametrize("answer, expected", [
    ("Value person:\nYou keep customs.\n\nAntonyms:\nYou discard customs.",
     (["You keep customs."], ["You discard customs."])),
    ("Sure!\n\n**Views of the value person:**\n1. You a.\n2. You b.\n\n**Views of its antonyms:**\n"
     "1. You c.\n2. You d.", (["You a.", "You b."], ["You c.", "You d."])),
    ("Value person view: You are modest.\nAntonym view: You boast.", (["You are modest."], ["You boast."])),
    ("1. You a.\n2. You b.\n\n### Opposite\n1. You c.", (["You a.", "You b."], ["You c."])),
    ('{"value": ["You a."], "antonyms": ["You b."]}', (["You a."], ["You b."])),
    ("You are modest.\n\nYou boast loudly.", (["You are modest."], ["You boast loudly."])),
])
def test_parse_views_finds_both_sides(answer, expected):
    assert parse_views(answer) == expected


@pytest.mark.parametrize("answer", [
    "You a.\n\nYou b.\n\nYou c.",            # odd and unlabelled: which are antonyms?
    "Antonyms:\n",                            # a label and nothing under it
    "Value person:\nYou a.\nYou b.\n\nAntonyms:\nHere they are:",
])
def test_parse_views_refuses_to_guess(answer):
    with pytest.raises(ParseFailure):
        parse_views(answer)


def test_parse_revision_takes_the_labelled_or_last_question():
    labelled = ("Drawbacks: the question is leading.\n\n**Revised Question:**\n\"Your cousin asks you to "
                "host. What would you do?\"\n\nExplanation: removed a qualifier.")
    assert parse_revision(labelled) == "Your cousin asks you to host. What would you do?"
    unlabelled = "The question is leading.\n\nYou see a thing happen at work. What would you do?"
    assert parse_revision(unlabelled) == "You see a thing happen at work. What would you do?"
    inline = ('1. I would revise it to: "You a."\n\nHere is the revised question: "You b. What do you think?"'
              "\n\nExplanation: the revised question avoids bias: it is neutral.")
    assert parse_revision(inline) == "You b. What do you think?"
    with pytest.raises(ParseFailure):
        parse_revision("It is fine as it is.")


# --- items, journal, templates --------------------------------------------------------------

def _question(text: str) -> Question:
    return Question(item_id("conservation", "q", text), "conservation", "humility", "family", "locate", text)


def test_duplicates_exact_near_and_within_the_batch():
    base = ("Your brother has organised a surprise party for your birthday and invited everyone from "
            "your old school, but you would rather spend the evening quietly. What would you do?")
    near = base.replace("quietly", "quietly at home")
    other = "Your manager offers you a trip abroad that clashes with a family wedding. What do you think?"
    kept, dropped = drop_duplicates([_question(base), _question(near), _question(other), _question(other)],
                                    [("old-1", base)])
    assert [k.text for k in kept] == [other]
    assert [(d[0].text, d[1]) for d in dropped] == [(base, "duplicate"), (near, "near_duplicate"),
                                                    (other, "duplicate")]
    assert "old-1" in dropped[0][2] and "Jaccard" in dropped[1][2]


def test_ids_and_splits_are_stable_and_spread():
    texts = [f"Text number {i} about a choice. What would you do?" for i in range(400)]
    assert item_id("conservation", "q", texts[0]) == item_id("conservation", "q", texts[0])
    assert item_id("conservation", "q", texts[0]).startswith("conservation-gq-")
    splits = [split_for(t, 0.25) for t in texts]
    assert set(splits) == set(SPLITS) and 60 < splits.count("evaluate") < 140
    assert {split_for(t, 0.0) for t in texts} == {"locate"}


def test_journal_survives_a_torn_line(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.record("k1", Answer("first", "stop", 3, 4), {"stage": "questions"})
    with path.open("a") as handle:
        handle.write('{"key": "k2", "text": "cut sh')  # a kill in the middle of a write
    reopened = Journal(path)
    assert reopened.torn_lines == 1 and reopened.get("k1") == Answer("first", "stop", 3, 4)
    assert reopened.get("k2") is None
    reopened.record("k3", Answer("third"), {"stage": "refine"})
    again = Journal(path)
    assert again.get("k3") == Answer("third") and again.torn_lines == 1 and len(again) == 2


def test_templates_are_the_papers_appendix_a():
    paper = " ".join(PAPER.read_text(encoding="utf-8").split())
    # the two edits templates.py documents: the keyword list and a stray space
    paper = paper.replace("{key}.... along", "{key}..., along").replace("value , and", "value, and")
    keys = "{key}, {key}, {key}..."
    filled = [
        templates.EXAMPLE_DESCRIPTION.format(value="{value}", keys=keys),
        templates.MORE_DESCRIPTIONS.format(value="{value}", keys=keys, count=80,
                                           positive="{value description}", negative="{value description}"),
        templates.SITUATIONAL_QUESTIONS.format(count=10, topic="{topic}", value="{value}", example="{example}"),
        templates.REFINE_QUESTION.format(value="{value}", factor="{factor}", topic="{topic}",
                                         question="{question}"),
    ]
    for text in filled:
        assert " ".join(text.split()) in paper, text[:60]
    conservation = dimension("conservation")
    tradition = conservation.basic_values[0]
    prompt = templates.example_description_prompt(conservation, tradition, tradition.atomic_values[1])
    assert "Tradition (Conservation) value: humility, humble." in prompt


# --- options and endpoints that cannot work -------------------------------------------------

def test_bad_options_are_one_line_errors(cli, tmp_path):
    out = tmp_path / "out"
    assert_one_line_error(cli("dataset", "generate", "--out", out, "--dimension", "kindness", "--dry-run"),
                          "unknown dimension 'kindness'")
    assert_one_line_error(cli("dataset", "generate", "--out", out, "--dimension", "conservation",
                              "--atomic-values", "wealth", "--dry-run"), "unknown atomic value(s) wealth")
    assert_one_line_error(cli("dataset", "generate", "--out", out, "--topics", "sports", "--dry-run"),
                          "unknown topic(s) sports")
    assert_one_line_error(cli("dataset", "generate", "--out", out, "--questions-per-pair", "0", "--dry-run"),
                          "--questions-per-pair must be at least 1")
    assert not out.exists()
    assert_one_line_error(cli("dataset", "refine", "--out", data_directory(), "--dry-run"),
                          "--out must differ from --source")


def test_dry_run_needs_no_key_and_counts_the_paper_grid(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{closed_port()}/v1")
    options = GenerateOptions(out=tmp_path / "out", dimensions=("openness_to_change",))
    report = generate(options, Endpoint(), dry_run=True)
    atomic = len(dimension("openness_to_change").atomic_values)
    assert report.stages["examples"].to_send == atomic
    assert report.stages["descriptions"].to_send == atomic and report.stages["descriptions"].estimated
    assert report.stages["questions"].to_send == atomic * 10 and not report.stages["questions"].estimated
    assert report.stages["refine"].to_send == atomic * 10 * 10 and report.stages["refine"].estimated
    assert all(s.prompt_tokens > 0 and s.completion_tokens > 0 for s in report.stages.values())
    assert not (tmp_path / "out").exists()
    shown = cli("dataset", "generate", "--out", tmp_path / "out", "--dimension", "openness_to_change",
                "--dry-run")
    assert shown.code == 0 and f"{report.to_send} request(s) to send" in shown.out


def test_missing_key_is_one_line_and_writes_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = cli("dataset", "generate", "--out", tmp_path / "out", "--dimension", "conservation",
                 "--atomic-values", "humility", "--stage", "examples")
    assert_one_line_error(result, "no API key: set OPENAI_API_KEY")
    assert not (tmp_path / "out" / "generation" / "journal.jsonl").exists()


def test_down_endpoint_is_one_line_and_loses_nothing(cli, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    existing = out / "conservation.questions.a.jsonl"
    shipped = data_directory() / existing.name
    existing.write_bytes(shipped.read_bytes())
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    started = time.monotonic()
    result = cli("dataset", "generate", "--out", out, "--dimension", "conservation", "--atomic-values",
                 "humility", "--topics", "family", "--stage", "questions", "--max-retries", "0",
                 "--timeout", "5", "--base-url", f"http://127.0.0.1:{closed_port()}/v1")
    assert_one_line_error(result, "cannot reach http://127.0.0.1:")
    assert time.monotonic() - started < 60  # a guard against hanging, not a timing claim
    assert existing.read_bytes() == shipped.read_bytes()
    assert "sk-test-not-a-real-key" not in result.err + result.out


# --- against a real server -----------------------------------------------------------------

SMALL = dict(dimensions=("conservation",), atomic_values=("humility", "moderation"), topics=("family",),
             descriptions=4, questions_per_pair=2, concurrency=2)


def _endpoint(server: OpenAIServer, **changes) -> Endpoint:
    settings = dict(model=server.model, base_url=server.base_url, timeout=120, max_retries=1,
                    temperature=0.8, max_tokens=160, seed=7)
    return Endpoint(**{**settings, **changes})


def _use(server: OpenAIServer, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def _rejects(out: Path) -> list[dict]:
    path = out / "generation" / "rejects.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _journal_keys(out: Path) -> list[str]:
    keys = []
    for line in (out / "generation" / "journal.jsonl").read_text().splitlines():
        try:
            keys.append(json.loads(line)["key"])
        except ValueError:
            pass  # a line torn by a kill
    return keys


def _assert_accounted(report: Report, out: Path) -> None:
    """Every answer parsed or kept aside, every item written, present or set aside, and the
    rejects file holds exactly what the report counts."""
    rejects = _rejects(out)
    for stage in report.stages.values():
        assert stage.items == stage.written + stage.already_present + sum(stage.rejected.values()), stage
        mine = [r for r in rejects if r["stage"] == stage.stage]
        assert sum(r["reason"] == "unparsed" for r in mine) == stage.answers_kept_aside, stage
        for reason, count in stage.rejected.items():
            assert sum(r["reason"] == reason for r in mine) == count, (stage.stage, reason)


@pytest.mark.embedded
def test_generate_end_to_end_then_resume_for_free(openai_server, tmp_path, monkeypatch, cli):
    _use(openai_server, monkeypatch)
    out = tmp_path / "out"
    book = out / "generation" / "examples.jsonl"
    book.parent.mkdir(parents=True)
    hand_written = {"dimension": "conservation", "atomic_value": "humility",
                    "positive": "You let others take the credit and rarely speak of what you did.",
                    "negative": "You make sure everyone hears about each thing you achieved."}
    book.write_text(json.dumps(hand_written) + "\n")  # the paper's manual refinement point
    options = GenerateOptions(out=out, keep_invalid=True, **SMALL)
    endpoint = _endpoint(openai_server)

    plan = generate(options, endpoint, dry_run=True)
    assert [plan.stages[s].to_send for s in ("examples", "questions")] == [1, 2]
    assert plan.stages["descriptions"].to_send == 2 and plan.stages["descriptions"].estimated

    work_before = openai_server.work_done()
    report = generate(options, endpoint)
    assert report.stages["examples"].to_send == 1 and report.stages["questions"].to_send == 2
    pairs = [json.loads(line) for line in book.read_text().splitlines()]
    assert pairs[0] == hand_written  # a hand edit is never overwritten
    assert report.stages["descriptions"].to_send == len(pairs)
    refine_stage = report.stages.get("refine")
    drafts = report.stages["questions"].items - sum(
        report.stages["questions"].rejected[r] for r in ("truncated", "extra"))
    assert (refine_stage.requests if refine_stage else 0) <= drafts
    assert openai_server.work_done() > work_before
    sent = sum(s.to_send for s in report.stages.values())
    keys = _journal_keys(out)
    assert len(keys) == len(set(keys)) == sent > 0
    _assert_accounted(report, out)

    data = load_dataset(out) if report.written else None
    if data is not None:
        assert len(data.descriptions) + len(data.questions) == report.written
        for item in data.descriptions:
            assert isinstance(item, Description) and item.atomic_values[0] in SMALL["atomic_values"]
            assert item.id.startswith(f"conservation-g{item.polarity[:3]}-")
        for item in data.questions:
            assert (item.atomic_value, item.topic) in {(a, "family") for a in SMALL["atomic_values"]}
            assert item.split in SPLITS and item.id.startswith("conservation-gq-")
        assert validate_dataset(data, require_minimums=False) == report.violations
    files = {p.name: p.read_bytes() for p in out.glob("*.jsonl")}

    # the same run again: nothing is sent, nothing changes, everything is already there
    work_before = openai_server.work_done()
    again = generate(options, endpoint)
    assert sum(s.to_send for s in again.stages.values()) == 0
    assert openai_server.work_done() == work_before
    assert sum(s.already_present for s in again.stages.values()) == report.written
    assert sum(s.written for s in again.stages.values()) == 0
    assert {p.name: p.read_bytes() for p in out.glob("*.jsonl")} == files
    replan = generate(options, endpoint, dry_run=True)
    assert replan.to_send == 0 and not any(s.estimated for s in replan.stages.values())

    shown = cli("dataset", "generate", "--out", out, "--dimension", "conservation", "--atomic-values",
                "humility,moderation", "--topics", "family", "--descriptions", "4", "--questions-per-pair", "2",
                "--keep-invalid", "--model", openai_server.model, "--base-url", openai_server.base_url,
                "--temperature", "0.8", "--max-tokens", "160", "--seed", "7", "--quiet")
    assert shown.code == 0, shown.err
    assert "generated into" in shown.out and openai_server.work_done() == work_before


@pytest.mark.embedded
def test_only_valid_items_are_written_by_default(openai_server, tmp_path, monkeypatch):
    _use(openai_server, monkeypatch)
    out = tmp_path / "out"
    options = GenerateOptions(out=out, stage="questions", refine=False,
                              **{**SMALL, "atomic_values": ("humility",), "topics": ("family", "work")})
    report = generate(options, _endpoint(openai_server, seed=11))
    _assert_accounted(report, out)
    if report.written:
        assert validate_dataset(load_dataset(out), require_minimums=False) == []
    assert report.violations == []


@pytest.mark.embedded
def test_a_killed_run_continues_without_paying_twice(openai_server, tmp_path, monkeypatch):
    _use(openai_server, monkeypatch)
    out = tmp_path / "out"
    topics = ("family", "work", "money", "health")
    args = ["--out", str(out), "--stage", "questions", "--no-refine", "--dimension", "conservation",
            "--atomic-values", "humility", "--topics", ",".join(topics), "--questions-per-pair", "2",
            "--concurrency", "1", "--model", openai_server.model, "--base-url", openai_server.base_url,
            "--max-tokens", "160", "--temperature", "0.8", "--seed", "3", "--quiet"]
    env = {**os.environ, "OPENAI_API_KEY": openai_server.api_key}
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "nnvalues", "dataset", "generate", *args],
                                   env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    journal = out / "generation" / "journal.jsonl"
    deadline = time.monotonic() + 120
    while (time.monotonic() < deadline and process.poll() is None
           and not (journal.exists() and journal.read_text().count("\n") >= 1)):
        time.sleep(0.05)
    process.kill()
    assert process.wait(timeout=30) == -9, f"the run ended before it was killed: {log.read_text()}"
    paid = len(set(_journal_keys(out)))
    assert 1 <= paid < len(topics)

    options = GenerateOptions(out=out, stage="questions", refine=False, dimensions=("conservation",),
                              atomic_values=("humility",), topics=topics, questions_per_pair=2, concurrency=1)
    endpoint = _endpoint(openai_server, seed=3)
    plan = generate(options, endpoint, dry_run=True)
    assert plan.stages["questions"].to_send == len(topics) - paid
    report = generate(options, endpoint)
    assert report.stages["questions"].cached == paid
    assert report.stages["questions"].to_send == len(topics) - paid
    assert len(_journal_keys(out)) == len(set(_journal_keys(out))) == len(topics)


@pytest.mark.embedded
def test_a_wrong_key_gets_one_line_and_no_secret(openai_server, tmp_path, monkeypatch, cli):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-123456")
    result = cli("dataset", "generate", "--out", tmp_path / "out", "--dimension", "conservation",
                 "--atomic-values", "humility", "--stage", "examples", "--base-url", openai_server.base_url,
                 "--max-retries", "0")
    assert_one_line_error(result, "rejected the API key (401)")
    assert "sk-wrong-key" not in result.err + result.out
    assert not (tmp_path / "out" / "generation" / "journal.jsonl").exists()


@pytest.mark.embedded
def test_refine_keeps_ids_and_files(openai_server, tmp_path, monkeypatch):
    _use(openai_server, monkeypatch)
    out = tmp_path / "refined"
    options = RefineOptions(source=data_directory(), out=out,
                            dimensions=("self_enhancement",), atomic_values=("wealth",), topics=("money",),
                            limit=2, keep_invalid=True, concurrency=1)
    endpoint = _endpoint(openai_server, max_tokens=200)
    plan = refine(options, endpoint, dry_run=True)
    assert plan.stages["refine"].to_send == 2 and not plan.stages["refine"].estimated
    report = refine(options, endpoint)
    assert report.stages["refine"].to_send == 2 and report.stages["refine"].items == 2
    _assert_accounted(report, out)
    if report.written:
        shipped = {q.id: q for q in load_dataset().questions}
        for question in load_dataset(out).questions:
            original = shipped[question.id]
            assert (question.atomic_value, question.topic, question.split) == (
                original.atomic_value, original.topic, original.split)
        assert all(p.name.startswith("self_enhancement.questions.") for p in out.glob("*.jsonl"))
