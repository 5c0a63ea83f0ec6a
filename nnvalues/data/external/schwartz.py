"""Where a ValueBench construct sits in the Schwartz hierarchy, read from value_data.xlsx.

The rule, in two steps:

1. The Schwartz hierarchy comes from the sheet `value2def`: its rows for the PVQ40 and SVS
   inventories name a value and its "Upper dimension" (an SVS item such as "Creativity" sits
   under "Self-direction", a PVQ40 basic value under its higher-order dimension; Hedonism,
   Face and Humility sit under two). Names are compared after folding case and whitespace,
   so the SVS and PVQ40 spellings of a basic value are the same node. Following the upper
   links from a value reaches its dimension(s) of `nnvalues.taxonomy`; the nearest basic
   value met on the way is the item's `value`.
2. A row of value_orientation.csv is placed through its construct (questionnaire, value):
   PVQ40 constructs are Schwartz values themselves. Other inventories are placed only
   through `CONCORDANCE`, which names, for each construct whose value2def definition
   describes the same motivational goal as a Schwartz value of value2def, that value (and
   -1 where the construct is that goal's opposite, so agreement flips). Constructs that
   measure abilities, temperament, emotions, clinical traits, cognitive styles,
   society-level cultural dimensions, or that are forced choices between values (SOV),
   are left out, as are those that straddle several Schwartz values (Moral Foundations
   Loyalty and Purity, for instance).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from nnvalues.data.external.source import ExternalDataError
from nnvalues.taxonomy import DIMENSIONS

SCHWARTZ_INVENTORIES = ("PVQ40", "SVS")
SHEET = "value2def"


@dataclass(frozen=True)
class Concordance:
    """One construct of another inventory read as a Schwartz value."""

    questionnaire: str
    construct: str
    target: str
    """A value as value2def names it in its PVQ40 or SVS rows."""
    sign: int = 1
    """-1: the construct is the opposite of `target`; agreement with its items flips."""


def _c(questionnaire: str, construct: str, target: str, sign: int = 1) -> Concordance:
    return Concordance(questionnaire, construct, target, sign)


# Each line: the construct, the Schwartz value of value2def whose goal its definition states.
CONCORDANCE: tuple[Concordance, ...] = (
    # Openness to Change
    _c("6FPQ", "Autonomy", "Freedom"),  # breaks away from restraints, enjoys being free
    _c("6FPQ", "Change", "A Varied Life"),  # likes new experiences, dislikes routine
    _c("HEXACO", "Creativity", "Creativity"),  # preference for innovation and experiment
    _c("HEXACO", "Inquisitiveness", "Curious"),  # seeks information about the world
    _c("JPI", "Innovation", "Creativity"),  # values new ideas, originality of thought
    _c("JPI", "Risk Taking", "Daring"),  # enjoys adventures with an element of peril
    _c("LVI", "Creativity", "Creativity"),  # important to have new ideas
    _c("LVI", "Independence", "Self-Direction:Action"),  # make your own decisions
    _c("AVT", "High-arousal positive affect", "An exciting life"),  # ideal: excitement
    # Self-Enhancement
    _c("6FPQ", "Achievement", "Achievement"),  # accomplish difficult tasks, competition
    _c("MPQ", "Achievement", "Achievement"),  # excellent results, high standards
    _c("LVI", "Achievement", "Achievement"),  # challenge yourself to improve
    _c("LVI", "Financial Prosperity", "Power:Resources"),  # making money, property
    _c("HEXACO", "Greed-Avoidance", "Power:Resources", -1),  # wealth unimportant
    _c("6FPQ", "Dominance", "Power:Dominance"),  # control and direct other people
    _c("CSF", "Desire to Gain Face", "Face"),  # be seen above social expectations
    _c("CSF", "Fear of Losing Face", "Face"),  # avoid falling below one's standing
    # Self-Transcendence
    _c("HEXACO", "Altruism", "Benevolence"),  # generosity toward those in need
    _c("HEXACO", "Sincerity", "Honest"),  # genuine, unwilling to manipulate
    _c("HEXACO", "Forgiveness", "Forgiving"),  # no definition; the construct's name
    _c("HEXACO", "Aesthetic Appreciation", "A World of Beauty"),  # beauty of art, nature
    _c("JPI", "Tolerance", "Tolerance"),  # accepts people whose beliefs differ
    _c("JPI", "Empathy", "Caring"),  # values close ties, concerned about others
    _c("LVI", "Concern for Others", "Caring"),  # the well-being of others
    _c("LVI", "Concern for the Environment", "Nature"),  # protect the environment
    _c("LVI", "Responsibility", "Dependability"),  # dependable and trustworthy
    _c("MFT08", "Care", "Benevolence"),  # kindness, gentleness, nurturance
    _c("MFT23", "Care", "Benevolence"),  # avoiding damage to another individual
    _c("MFT08", "Fairness", "Social Justice"),  # justice and rights
    _c("MFT23", "Equality", "Equality"),  # equal treatment and outcome
    # Conservation
    _c("LTO", "Tradition", "Respect for Tradition"),  # respect for tradition
    _c("JPI", "Traditional Values", "Tradition"),  # traditional customs and beliefs
    _c("MPQ", "Traditionalism", "Tradition"),  # upholding traditional values and norms
    _c("LVI", "Loyalty to Family or Group", "Tradition"),  # follow the group's traditions
    _c("LVI", "Humility", "Humble"),  # humble about one's accomplishments
    _c("HEXACO", "Modesty", "Humble"),  # modest and unassuming
    _c("SA", "Religiosity", "Devout"),  # beneficial functions of religious practice
    _c("MFT08", "Authority", "Conformity"),  # deference to authority, traditions
    _c("MFT23", "Authority", "Conformity"),  # deference to legitimate authorities
    _c("LVI", "Belonging", "Sense of Belonging"),  # accepted by others, included
    _c("LVI", "Health and Activity", "Healthy"),  # healthy and physically active
    _c("HEXACO", "Organization", "Clean"),  # seeks order, keeps things tidy
)


@dataclass(frozen=True)
class Placement:
    """A Schwartz value's place: the nearest basic value and the dimension ids above it."""

    value: str
    dimensions: tuple[str, ...]


def normalise(name: str) -> str:
    return " ".join(name.split()).casefold()


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", normalise(name)).strip("_")


_DIMENSION_BY_KEY = {normalise(d.name): d.id for d in DIMENSIONS}
_BASIC_BY_KEY = {normalise(b.name): b.id for d in DIMENSIONS for b in d.basic_values}


@dataclass(frozen=True)
class Hierarchy:
    """The PVQ40 and SVS part of value2def: each value's upper values or dimensions."""

    parents: Mapping[str, frozenset[str]]

    def place(self, name: str) -> Placement:
        key = normalise(name)
        if key not in self.parents and key not in _DIMENSION_BY_KEY:
            raise ExternalDataError(f"value2def names no Schwartz value {name!r}")
        basic = _BASIC_BY_KEY.get(key)
        dimensions: set[str] = set()
        seen: set[str] = set()
        frontier = [key]
        while frontier:
            node = frontier.pop(0)  # breadth first: the nearest basic value wins
            if node in seen:
                continue
            seen.add(node)
            if node in _DIMENSION_BY_KEY:
                dimensions.add(_DIMENSION_BY_KEY[node])
                continue
            if basic is None and node in _BASIC_BY_KEY:
                basic = _BASIC_BY_KEY[node]
            frontier.extend(sorted(self.parents.get(node, ())))
        if not dimensions:
            raise ExternalDataError(f"value2def places {name!r} under no Schwartz dimension")
        ordered = tuple(d.id for d in DIMENSIONS if d.id in dimensions)
        return Placement(basic or slug(name), ordered)


def read_hierarchy(definitions: Path) -> Hierarchy:
    """Read the upper links of the PVQ40 and SVS rows of value2def."""
    import openpyxl

    workbook = openpyxl.load_workbook(definitions, read_only=True)
    try:
        rows = list(workbook[SHEET].iter_rows(values_only=True))
    except KeyError:
        raise ExternalDataError(f"{definitions}: no sheet {SHEET!r}") from None
    finally:
        workbook.close()
    header = [normalise(str(cell or "")) for cell in rows[0]]
    try:
        inventory, value, upper = (header.index(h) for h in
                                   ("questionnaire info", "value dimension", "upper dimension"))
    except ValueError:
        raise ExternalDataError(f"{definitions}: sheet {SHEET!r} lacks the expected columns") from None
    parents: dict[str, set[str]] = {}
    for row in rows[1:]:
        if str(row[inventory] or "").strip() not in SCHWARTZ_INVENTORIES or not row[value]:
            continue
        links = parents.setdefault(normalise(str(row[value])), set())
        if row[upper] and str(row[upper]).strip():
            links.add(normalise(str(row[upper])))
    return Hierarchy({k: frozenset(v) for k, v in parents.items()})


def concordance_index() -> dict[tuple[str, str], Concordance]:
    return {(normalise(c.questionnaire), normalise(c.construct)): c for c in CONCORDANCE}
