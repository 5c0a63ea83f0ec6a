"""The data set rules, the loader's errors and `nnvalues dataset show | stats | validate`."""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import pytest

from nnvalues.data.summary import select_items, summarize
from nnvalues.data.text import sentences, words
from nnvalues.data.validate import Violation, near_duplicate_pairs, validate_dataset
from nnvalues.data.valueinsight import DataSet, Description, Question, load_dataset
from nnvalues.errors import UsageError
from nnvalues.taxonomy import DIMENSION_IDS
from tests.cli import assert_one_line_error, run_cli
from tests.conftest import write_jsonl


@pytest.fixture(scope="module")
def shipped() -> DataSet:
    return load_dataset()


@pytest.fixture(scope="module")
def small(shipped: DataSet) -> DataSet:
    """A clean partial set: per dimension 2+2 descriptions, 3 locate and 1 evaluate question."""
    descriptions = [d for dim in DIMENSION_IDS for pol in ("positive", "negative")
                    for d in shipped.descriptions_for(dim, pol)[:2]]
    questions = [q for dim in DIMENSION_IDS for split, n in (("locate", 3), ("evaluate", 1))
                 for q in shipped.questions_for(dim, split)[:n]]
    return DataSet(tuple(descriptions), tuple(questions), "small", "")


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(capsys, monkeypatch, *args)


def write_set(directory: Path, data: DataSet) -> Path:
    """Write `data` in the shipped layout (all questions of a dimension in part `a`)."""
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[dict]] = {}
    for d in data.descriptions:
        files.setdefault(f"{d.dimension}.descriptions.{d.polarity}.jsonl", []).append(vars(d))
    for q in data.questions:
        files.setdefault(f"{q.dimension}.questions.a.jsonl", []).append(vars(q))
    for name, rows in files.items():
        write_jsonl(directory / name, rows)
    return directory


def edit(data: DataSet, item_id: str, **changes) -> DataSet:
    return DataSet(tuple(replace(d, **changes) if d.id == item_id else d for d in data.descriptions),
                   tuple(replace(q, **changes) if q.id == item_id else q for q in data.questions),
                   data.name, data.version)


def first(data: DataSet, dimension: str, kind: str, group: str) -> Description | Question:
    pool = (data.descriptions_for(dimension, group) if kind == "descriptions"
            else data.questions_for(dimension, group))
    return pool[0]


def rules(violations: list[Violation]) -> set[tuple[str, str]]:
    return {(v.item_id, v.rule) for v in violations}


# --- the shipped set ---------------------------------------------------------------------

def test_the_shipped_set_passes_every_rule(shipped):
    assert validate_dataset(shipped) == []
    assert len(shipped.descriptions) == 320 and len(shipped.questions) == 1600


def test_a_partial_set_passes_only_without_minimums(small):
    assert validate_dataset(small, require_minimums=False) == []
    found = validate_dataset(small)
    assert {v.rule for v in found} == {"minimum_count", "coverage"}
    assert ("conservation:locate", "minimum_count") in rules(found)
    assert any(v.message == "no locate question for atomic value daring" for v in found)


def test_writing_and_reading_back_keeps_the_fingerprint(shipped, tmp_path):
    again = load_dataset(write_set(tmp_path / "copy", shipped))
    assert again.fingerprint == shipped.fingerprint
    assert again.name == "dir:copy" and load_dataset().name == "valueinsight-nnvalues"
    changed = edit(shipped, shipped.questions[0].id, text=shipped.questions[0].text + " Really?")
    assert changed.fingerprint != shipped.fingerprint


# --- one rule at a time ------------------------------------------------------------------

def _prefix(text: str):
    return lambda item: text + item.text


def _last_sentence(text: str):
    return lambda item: " ".join(sentences(item.text)[:-1] + [text])


CASES = [
    # (dimension, kind, group, new text, expected rule, fragment of the message)
    ("conservation", "questions", "locate",
     lambda q: "You have a choice to make. What would you do?", "length", "words, fewer than 60"),
    ("conservation", "descriptions", "positive",
     lambda d: " ".join(d.text.split()[:49]), "length", "49 words, fewer than 50"),
    ("openness_to_change", "descriptions", "positive",
     _prefix("Mornings are busy in the old town. "), "second_person", "first sentence"),
    ("openness_to_change", "descriptions", "negative",
     lambda d: d.text + " My own view is settled.", "second_person", "first person 'My'"),
    ("self_enhancement", "questions", "locate",
     lambda q: "A stranger calls. " * 20 + "What would you do?", "second_person", "scenario"),
    ("self_enhancement", "questions", "evaluate",
     _last_sentence("Would you agree to it?"), "question_ending", "'Would you agree to it?'"),
    ("self_transcendence", "questions", "locate",
     _last_sentence("What would you do."), "question_ending", "not a question"),
    ("conservation", "descriptions", "negative",
     _prefix("You greet people politely. "), "forbidden_word", "'politely' (keyword of conservation)"),
    ("openness_to_change", "questions", "locate",
     _prefix("Your TRADITIONS matter. "), "forbidden_word", "'traditions' (name of a value"),
    ("self_transcendence", "descriptions", "positive",
     _prefix("You like the power of broad minded talk. "), "forbidden_word",
     "'broad minded' (keyword of self_transcendence)"),
    ("conservation", "questions", "evaluate",
     _prefix("Honestly, you are unsure. "), "forbidden_word", "'honestly' (tendency qualifier)"),
]


@pytest.mark.parametrize("dimension,kind,group,mutate,rule,fragment", CASES)
def test_each_rule_catches_a_hand_made_violation(small, dimension, kind, group, mutate, rule, fragment):
    item = first(small, dimension, kind, group)
    found = validate_dataset(edit(small, item.id, text=mutate(item)), require_minimums=False)
    assert [v for v in found if v.item_id == item.id and v.rule == rule and fragment in v.message], found
    assert {v.item_id for v in found} == {item.id}


@pytest.mark.parametrize("dimension,kind,group,addition", [
    # keyword of another dimension, tendency qualifier in a description, quoted first person,
    # and word forms the suffix list does not cover
    ("conservation", "questions", "locate", "You are wealthy and curious. "),
    ("openness_to_change", "descriptions", "positive", "You are never rude or selfish. "),
    ("self_transcendence", "descriptions", "negative", 'Your friend says, "I am fine." '),
    ("self_enhancement", "questions", "evaluate", "You feel empowered by the overpowering noise. "),
])
def test_what_the_rules_allow(small, dimension, kind, group, addition):
    item = first(small, dimension, kind, group)
    assert validate_dataset(edit(small, item.id, text=addition + item.text), require_minimums=False) == []


def _pair(violation: Violation) -> set[str]:
    """The two items a duplicate names: the one reported and the one in the message."""
    return {violation.item_id, violation.message.split()[-1]}


def test_exact_and_near_duplicates_across_dimensions_and_kinds(small):
    source = first(small, "conservation", "questions", "locate")
    twin = first(small, "openness_to_change", "questions", "locate")
    repunctuated = source.text.replace(",", ";").replace("Your", "YOUR")
    assert repunctuated != source.text
    found = validate_dataset(edit(small, twin.id, text=repunctuated), require_minimums=False)
    assert [(v.rule, _pair(v)) for v in found] == [("duplicate", {twin.id, source.id})]
    assert "the same text as" in found[0].message

    tokens = source.text.split()
    for k in (5, 25, 45):
        tokens[k] = "zebra"
    found = validate_dataset(edit(small, twin.id, text=" ".join(tokens)), require_minimums=False)
    assert [(v.rule, _pair(v)) for v in found] == [("near_duplicate", {twin.id, source.id})]
    score = float(found[0].message.split("Jaccard ")[1].split(")")[0])
    assert 0.7 < score < 1

    description = first(small, "self_enhancement", "descriptions", "positive")
    found = validate_dataset(edit(small, description.id, text=source.text), require_minimums=False)
    assert [(v.rule, _pair(v)) for v in found] == [("duplicate", {description.id, source.id})]


def test_split_leakage_exact_and_near(small):
    locate = first(small, "self_transcendence", "questions", "locate")
    evaluate = first(small, "self_transcendence", "questions", "evaluate")
    found = validate_dataset(edit(small, evaluate.id, text=locate.text), require_minimums=False)
    assert rules(found) == {(evaluate.id, "split_leakage")}
    assert f"evaluate question has the same text as locate question {locate.id}" in found[0].message
    other = first(small, "conservation", "questions", "evaluate")
    near = locate.text.replace(" the ", " that ", 2)
    found = validate_dataset(edit(small, other.id, text=near), require_minimums=False)
    assert rules(found) == {(other.id, "split_leakage")} and "nearly the same text" in found[0].message


def test_coverage_of_atomic_values_and_topics(shipped):
    gone = DataSet(shipped.descriptions,
                   tuple(q for q in shipped.questions
                         if not (q.atomic_value == "daring" and q.split == "locate")),
                   shipped.name, shipped.version)
    found = [v for v in validate_dataset(gone) if v.rule == "coverage"]
    assert [str(v) for v in found] == [
        "openness_to_change:locate: coverage: no locate question for atomic value daring"]
    topics = ("family", "work", "money", "health", "arts", "technology", "community")
    narrowed = DataSet(shipped.descriptions,
                       tuple(replace(q, topic=topics[i % 7]) if q.dimension == "conservation" else q
                             for i, q in enumerate(shipped.questions)),
                       shipped.name, shipped.version)
    assert [str(v) for v in validate_dataset(narrowed)] == [
        "conservation:locate: coverage: 7 topics, fewer than 8"]


def test_minimum_counts(shipped):
    dropped = DataSet(shipped.descriptions[1:], shipped.questions[:-1], shipped.name, shipped.version)
    gone_description, gone_question = shipped.descriptions[0], shipped.questions[-1]
    found = validate_dataset(dropped)
    assert rules(found) == {
        (f"{gone_description.dimension}:{gone_description.polarity}", "minimum_count"),
        (f"{gone_question.dimension}:{gone_question.split}", "minimum_count")}
    assert validate_dataset(dropped, require_minimums=False) == []


def test_schema_rules_for_sets_built_in_memory(small):
    question = first(small, "conservation", "questions", "locate")
    description = first(small, "conservation", "descriptions", "positive")
    bad = edit(edit(small, question.id, atomic_value="daring", topic="sports"),
               description.id, polarity="neutral")
    found = [str(v) for v in validate_dataset(bad, require_minimums=False)]
    assert any(question.id in s and "unknown atomic value 'daring' for conservation" in s for s in found)
    assert any(question.id in s and "unknown topic 'sports'" in s for s in found)
    assert any(description.id in s and "unknown polarity 'neutral'" in s for s in found)
    twice = DataSet(small.descriptions, small.questions + (small.questions[0],), "x", "")
    assert f"{small.questions[0].id}: schema: id used by 2 items" in [
        str(v) for v in validate_dataset(twice, require_minimums=False)]


def test_near_duplicate_pairs_match_plain_set_arithmetic(small):
    texts = [i.text for i in (*small.descriptions, *small.questions)][:20]
    texts += [texts[0], " ".join(texts[1].split()[:40]), "one two", ""]
    expected = []
    for i, j in combinations(range(len(texts)), 2):
        a, b = (_trigrams(t) for t in (texts[i], texts[j]))
        if a and b and len(a & b) / len(a | b) >= 0.3:
            expected.append((i, j, len(a & b) / len(a | b)))
    got = near_duplicate_pairs(texts, 0.3)
    assert [(i, j) for i, j, _ in got] == [(i, j) for i, j, _ in expected]
    assert [round(s, 9) for *_, s in got] == [round(s, 9) for *_, s in expected]
    assert (0, 20, 1.0) in got and any(p[:2] == (1, 21) for p in got)


def _trigrams(text: str) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[k:k + 3]) for k in range(len(w) - 2)} if len(w) >= 3 else ({tuple(w)} if w else set())


# --- the loader: one line naming file and line --------------------------------------------

def _one_question_dir(tmp_path: Path, small: DataSet, **changes) -> tuple[Path, Path]:
    directory = write_set(tmp_path / "set", small)
    path = directory / "conservation.questions.a.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[1].update(changes)
    write_jsonl(path, rows)
    return directory, path


@pytest.mark.parametrize("changes,fragment", [
    ({"dimension": "tradition"}, "unknown dimension 'tradition'; choose from openness_to_change"),
    ({"atomic_value": "bravery"}, "unknown atomic value 'bravery' for conservation"),
    ({"atomic_value": "daring"}, "unknown atomic value 'daring' for conservation"),
    ({"topic": "sports"}, "unknown topic 'sports'"),
    ({"split": "train"}, "unknown split 'train'; choose from locate, evaluate"),
    ({"dimension": "self_enhancement"}, "dimension 'self_enhancement' in a file of 'conservation'"),
    ({"text": 17}, "missing or non-string field(s) text"),
    ({"source": "model"}, "unknown field(s) source"),
])
def test_loader_rejects_bad_records_with_file_and_line(tmp_path, small, changes, fragment):
    directory, path = _one_question_dir(tmp_path, small, **changes)
    with pytest.raises(UsageError) as error:
        load_dataset(directory)
    assert str(error.value).startswith(f"{path}:2: ") and fragment in str(error.value), str(error.value)


def test_loader_reports_malformed_json_duplicates_and_file_names(tmp_path, small):
    directory, path = _one_question_dir(tmp_path, small)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "", lines[1][:-1], *lines[2:]]) + "\n")
    with pytest.raises(UsageError, match=rf"^{path}:3: not valid JSON"):
        load_dataset(directory)

    path.write_text("\n".join([lines[0], lines[0]]) + "\n")
    with pytest.raises(UsageError, match=rf"^{path}:2: duplicate id '.+' \(first at {path}:1\)"):
        load_dataset(directory)

    path.write_text(lines[0] + "\n")
    negative = directory / "conservation.descriptions.negative.jsonl"
    row = json.loads(negative.read_text().splitlines()[0])
    write_jsonl(negative, [{**row, "polarity": "positive"}])
    with pytest.raises(UsageError, match=rf"^{negative}:1: polarity 'positive' in a file of 'negative'"):
        load_dataset(directory)

    negative.unlink()
    (directory / "conservation.answers.jsonl").write_text("")
    with pytest.raises(UsageError, match="conservation.answers.jsonl: unexpected file name"):
        load_dataset(directory)
    with pytest.raises(UsageError, match="no such data directory"):
        load_dataset(tmp_path / "missing")


# --- summary and selection --------------------------------------------------------------

def test_summary_counts_and_lengths(shipped):
    summary = summarize(shipped)
    assert all(summary.descriptions[d, p] == 40 for d in DIMENSION_IDS for p in ("positive", "negative"))
    assert all(summary.questions[d, "locate"] == 300 for d in DIMENSION_IDS)
    assert sum(summary.topics.values()) == 1600
    pleasure = [q for q in shipped.questions if q.atomic_value == "pleasure"]
    assert sum(n for (d, a, s), n in summary.atomic_values.items() if a == "pleasure") == len(pleasure)
    assert summary.atomic_values["self_enhancement", "pleasure", "locate"] == len(
        [q for q in pleasure if q.dimension == "self_enhancement" and q.split == "locate"]) > 0
    lengths = summary.lengths["questions", "all"]
    assert lengths.count == 1600 and 60 <= lengths.min <= lengths.median <= lengths.max
    assert summary.lengths["descriptions", "conservation"].count == 80


def test_select_items(shipped):
    picked = select_items(shipped, dimension="conservation", split="evaluate")
    assert len(picked) == 100 and all(isinstance(q, Question) and q.split == "evaluate" for q in picked)
    assert len(select_items(shipped, polarity="negative", limit=7)) == 7
    assert len(select_items(shipped, kind="descriptions")) == 320
    assert len(select_items(shipped)) == 1920
    for kwargs, fragment in [({"split": "train"}, "unknown split"), ({"kind": "answers"}, "unknown kind"),
                             ({"split": "locate", "kind": "descriptions"}, "--split selects questions"),
                             ({"limit": 0}, "`limit` must be at least 1"),
                             ({"dimension": "power"}, "unknown dimension")]:
        with pytest.raises(UsageError, match=fragment):
            select_items(shipped, **kwargs)


# --- the command line --------------------------------------------------------------------

def test_cli_validate_shipped_and_broken_sets(cli, small, tmp_path):
    clean = cli("dataset", "validate")
    assert clean.code == 0, clean.out + clean.err
    assert clean.out.strip().splitlines() == [
        "OK: valueinsight-nnvalues 1.0: 320 descriptions and 1600 questions pass every rule"]

    item = first(small, "conservation", "questions", "locate")
    broken = write_set(tmp_path / "broken", edit(small, item.id, text="Honestly? " + item.text))
    result = cli("dataset", "validate", "--data", broken, "--partial")
    assert result.code == 1
    assert result.out.splitlines() == [
        f"{item.id}: forbidden_word: 'honestly' (tendency qualifier)",
        f"1 violation(s) in 1 item(s) of {len(small.descriptions) + len(small.questions)}"]
    strict = cli("dataset", "validate", "--data", broken)
    assert strict.code == 1 and "minimum_count" in strict.out and "coverage" in strict.out
    fine = cli("dataset", "validate", "--data", write_set(tmp_path / "fine", small), "--partial")
    assert fine.code == 0 and fine.out.startswith("OK: dir:fine: ")


def test_cli_errors_are_one_line(cli, small, tmp_path):
    directory, path = _one_question_dir(tmp_path, small, atomic_value="bravery")
    result = cli("dataset", "validate", "--data", directory)
    assert result.code == 2
    assert_one_line_error(result, f"{path}:2: unknown atomic value 'bravery'")
    assert_one_line_error(cli("dataset", "show", "--split", "train"), "unknown split 'train'")
    assert_one_line_error(cli("dataset", "stats", "--data", tmp_path / "nowhere"), "no such data directory")


def test_cli_show_and_stats(cli):
    shown = cli("dataset", "show", "--dimension", "self_enhancement", "--split", "evaluate",
                "--limit", "3", "--json")
    assert shown.code == 0
    rows = [json.loads(line) for line in shown.out.splitlines()]
    assert len(rows) == 3 and {r["split"] for r in rows} == {"evaluate"}
    assert {r["dimension"] for r in rows} == {"self_enhancement"}
    plain = cli("dataset", "show", "--kind", "descriptions", "--polarity", "positive", "--limit", "1")
    assert plain.code == 0 and "positive" in plain.out.splitlines()[0] and "words)" in plain.out
    stats = cli("dataset", "stats")
    assert stats.code == 0
    for fragment in ("Items per dimension", "Questions per atomic value", "Questions per topic",
                     "Words per text", "honoring_of_parents_and_elders", "valueinsight-nnvalues 1.0"):
        assert fragment in stats.out, fragment
