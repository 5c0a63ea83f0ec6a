"""The taxonomy every label in the data, the cubes and the edits refers to."""

from __future__ import annotations

from collections import Counter

import pytest

from nnvalues.errors import UsageError
from nnvalues.taxonomy import DIMENSION_IDS, DIMENSIONS, TOPICS, check_polarity, dimension


def test_four_dimensions_in_the_papers_order():
    assert DIMENSION_IDS == ("openness_to_change", "self_transcendence", "conservation",
                             "self_enhancement")


def test_hedonism_belongs_to_openness_and_self_enhancement_only():
    holders = [d.id for d in DIMENSIONS if "hedonism" in {b.id for b in d.basic_values}]
    assert holders == ["openness_to_change", "self_enhancement"]
    atomic = {d.id: {a.id for a in d.atomic_values} for d in DIMENSIONS}
    assert {"pleasure", "enjoying_life"} <= atomic["openness_to_change"] & atomic["self_enhancement"]


def test_ids_are_unique_snake_case_except_the_shared_hedonism():
    basic = Counter(b.id for d in DIMENSIONS for b in d.basic_values)
    assert {k for k, n in basic.items() if n > 1} == {"hedonism"}
    assert len(basic) == 10
    atomic = Counter(a.id for d in DIMENSIONS for a in d.atomic_values)
    assert {k for k, n in atomic.items() if n > 1} == {"pleasure", "enjoying_life"}
    # Appendix B.1 lists 52 atomic values, 50 distinct (its text says 57).
    assert sum(atomic.values()) == 52 and len(atomic) == 50
    for name in [*DIMENSION_IDS, *basic, *atomic, *TOPICS]:
        assert name.isascii() and name == name.lower() and " " not in name and "-" not in name, name


def test_every_atomic_value_has_meaning_opposite_and_lower_case_keywords():
    for d in DIMENSIONS:
        for a in d.atomic_values:
            assert a.meaning.strip() and a.opposite.strip() and a.meaning != a.opposite, a.id
            assert a.keywords and all(k == k.lower() and k.strip() for k in a.keywords), a.id
        assert d.name.lower() in d.keywords
        assert all(b.name.lower() in d.keywords for b in d.basic_values)


def test_unknown_names_are_one_line_usage_errors():
    assert dimension("conservation").name == "Conservation"
    with pytest.raises(UsageError, match="unknown dimension 'tradition'; choose from openness"):
        dimension("tradition")
    with pytest.raises(UsageError, match="unknown polarity"):
        check_polarity("neutral")
