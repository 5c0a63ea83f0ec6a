"""The Schwartz value taxonomy that every other module labels its data with.

Four higher-order dimensions, their basic values and the atomic values listed in the
paper's appendix B.1. Identifiers are snake_case and stable: they are the coordinates of
the activation cube and the keys of the data files, so renaming one breaks stored results.
Hedonism belongs to both Openness to Change and Self-Enhancement, as the paper notes.
"""

from __future__ import annotations

from dataclasses import dataclass

POLARITIES: tuple[str, ...] = ("positive", "negative")
"""`positive` expresses the value, `negative` its reversed counterpart."""


@dataclass(frozen=True)
class AtomicValue:
    """One atomic value: what holding it means, and what its opposite looks like."""

    id: str
    name: str
    meaning: str
    opposite: str
    keywords: tuple[str, ...]
    """Words that give the value away; prompts must not contain them (paper, appendix A)."""


@dataclass(frozen=True)
class BasicValue:
    id: str
    name: str
    atomic_values: tuple[AtomicValue, ...]


@dataclass(frozen=True)
class Dimension:
    id: str
    name: str
    summary: str
    basic_values: tuple[BasicValue, ...]

    @property
    def atomic_values(self) -> tuple[AtomicValue, ...]:
        return tuple(a for b in self.basic_values for a in b.atomic_values)

    @property
    def keywords(self) -> tuple[str, ...]:
        """Every word that names this dimension, its basic values or its atomic values."""
        words = [self.name.lower(), *(b.name.lower() for b in self.basic_values)]
        for atomic in self.atomic_values:
            words.extend(atomic.keywords)
        return tuple(dict.fromkeys(words))


def _a(id: str, name: str, meaning: str, opposite: str, *keywords: str) -> AtomicValue:
    return AtomicValue(id, name, meaning, opposite, keywords or (name.lower(),))


_HEDONISM = BasicValue(
    "hedonism",
    "Hedonism",
    (
        _a("pleasure", "Pleasure", "seeking gratification of the senses and desires",
           "denying oneself gratification and distrusting indulgence", "pleasure", "pleasurable"),
        _a("enjoying_life", "Enjoying life", "savouring food, leisure and good times",
           "treating leisure as wasteful and postponing enjoyment indefinitely",
           "enjoying life", "enjoy life", "enjoyment"),
    ),
)

DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(
        "openness_to_change",
        "Openness to Change",
        "independence of thought and action, and readiness for new experience",
        (
            BasicValue("self_direction", "Self-Direction", (
                _a("creativity", "Creativity", "valuing originality and imagination",
                   "preferring proven formulas to invention", "creativity", "creative"),
                _a("freedom", "Freedom", "wanting liberty of action and thought",
                   "accepting tight limits set by others", "freedom"),
                _a("independent", "Independent", "relying on oneself and being self-sufficient",
                   "relying on others to decide and provide", "independent", "independence"),
                _a("curious", "Curious", "wanting to explore and understand everything",
                   "avoiding questions and sticking to what one knows", "curious", "curiosity"),
                _a("choosing_own_goals", "Choosing own goals", "selecting one's own purposes",
                   "following purposes chosen by others", "own goals"),
            )),
            BasicValue("stimulation", "Stimulation", (
                _a("a_varied_life", "A varied life", "filling life with challenge, novelty and change",
                   "keeping life uniform and predictable", "varied life", "variety"),
                _a("an_exciting_life", "An exciting life", "seeking stimulating experiences",
                   "preferring calm and uneventful days", "exciting life", "excitement"),
                _a("daring", "Daring", "seeking adventure and risk",
                   "avoiding every risk", "daring"),
            )),
            _HEDONISM,
        ),
    ),
    Dimension(
        "self_transcendence",
        "Self-Transcendence",
        "concern for the welfare and interests of others, near and far",
        (
            BasicValue("universalism", "Universalism", (
                _a("broadmindedness", "Broadmindedness", "tolerating different ideas and beliefs",
                   "dismissing views that differ from one's own", "broadminded", "broad-minded",
                   "open-minded"),
                _a("wisdom", "Wisdom", "seeking a mature understanding of life",
                   "acting on impulse without reflection", "wisdom", "wise"),
                _a("social_justice", "Social justice", "correcting injustice and caring for the weak",
                   "accepting that the weak lose out", "social justice", "injustice"),
                _a("equality", "Equality", "equal opportunity for all",
                   "accepting or defending unequal treatment", "equality", "equal opportunity"),
                _a("a_world_at_peace", "A world at peace", "freedom from war and conflict",
                   "seeing conflict as a normal way to settle disputes", "world at peace",
                   "world peace"),
                _a("protecting_the_environment", "Protecting the environment",
                   "preserving nature", "treating nature as a resource to use up",
                   "protecting the environment", "environmentalist"),
                _a("unity_with_nature", "Unity with nature", "fitting into nature",
                   "seeing oneself as separate from and above nature", "unity with nature"),
                _a("a_world_of_beauty", "A world of beauty", "caring for the beauty of nature and the arts",
                   "being indifferent to beauty", "world of beauty"),
            )),
            BasicValue("benevolence", "Benevolence", (
                _a("helpfulness", "Helpfulness", "working for the welfare of others",
                   "leaving others to fend for themselves", "helpful", "helpfulness"),
                _a("honesty", "Honesty", "being genuine and sincere",
                   "bending the truth when it suits", "honest", "honesty"),
                _a("forgiveness", "Forgiveness", "willingness to pardon others",
                   "holding grudges and seeking payback", "forgiving", "forgiveness"),
                _a("loyalty", "Loyalty", "being faithful to friends and group",
                   "dropping people when they become inconvenient", "loyal", "loyalty"),
                _a("responsibility", "Responsibility", "being dependable and reliable",
                   "letting others down when it is convenient", "responsible", "responsibility"),
                _a("true_friendship", "True friendship", "close, supportive friends",
                   "keeping relationships shallow and transactional", "true friendship"),
                _a("mature_love", "Mature love", "deep emotional and spiritual intimacy",
                   "avoiding deep attachment", "mature love"),
            )),
        ),
    ),
    Dimension(
        "conservation",
        "Conservation",
        "order, self-restriction, preservation of the past and resistance to change",
        (
            BasicValue("tradition", "Tradition", (
                _a("respect_for_tradition", "Respect for tradition",
                   "preserving time-honoured customs", "discarding customs as outdated",
                   "respect for tradition", "traditional"),
                _a("humility", "Humility", "being modest and self-effacing",
                   "drawing attention to oneself", "humility", "humble"),
                _a("devoutness", "Devoutness", "holding to religious faith and belief",
                   "setting religious practice aside", "devout", "devoutness"),
                _a("moderation", "Moderation", "avoiding extremes of feeling and action",
                   "going to extremes", "moderation", "moderate"),
            )),
            BasicValue("conformity", "Conformity", (
                _a("self_discipline", "Self-discipline", "self-restraint and resistance to temptation",
                   "giving in to impulses", "self-discipline", "self-disciplined"),
                _a("obedience", "Obedience", "being dutiful and meeting obligations",
                   "ignoring rules and instructions", "obedience", "obedient"),
                _a("politeness", "Politeness", "courtesy and good manners",
                   "disregarding manners", "polite", "politeness"),
                _a("honoring_of_parents_and_elders", "Honoring of parents and elders",
                   "showing respect to parents and elders", "dismissing the wishes of elders",
                   "honoring of parents", "honouring of parents", "honor your parents"),
            )),
            BasicValue("security", "Security", (
                _a("national_security", "National security", "protection of one's nation from enemies",
                   "indifference to the nation's protection", "national security"),
                _a("family_security", "Family security", "safety for loved ones",
                   "taking chances with the family's safety", "family security"),
                _a("social_order", "Social order", "stability of society",
                   "welcoming disorder and upheaval", "social order"),
                _a("cleanliness", "Cleanliness", "being neat and tidy",
                   "tolerating mess and dirt", "cleanliness"),
                _a("reciprocation_of_favors", "Reciprocation of favors", "avoiding indebtedness",
                   "taking favours without returning them", "reciprocation", "reciprocal"),
                _a("health", "Health", "not being sick physically or mentally",
                   "neglecting one's physical and mental condition", "healthy lifestyle"),
                _a("sense_of_belonging", "Sense of belonging", "feeling that others care about me",
                   "standing apart from every group", "sense of belonging"),
            )),
        ),
    ),
    Dimension(
        "self_enhancement",
        "Self-Enhancement",
        "pursuit of one's own interests, relative success and dominance over others",
        (
            BasicValue("achievement", "Achievement", (
                _a("success", "Success", "achieving goals", "being content to fall short",
                   "successful", "success"),
                _a("capability", "Capability", "being competent, effective and efficient",
                   "not caring about competence", "capable", "capability"),
                _a("intelligence", "Intelligence", "being logical and thinking sharply",
                   "not caring about sharp thinking", "intelligence", "intelligent"),
                _a("ambition", "Ambition", "being hard-working and aspiring",
                   "being content with little", "ambition", "ambitious"),
                _a("influence", "Influence", "having an impact on people and events",
                   "staying out of others' affairs", "influence", "influential"),
            )),
            BasicValue("power", "Power", (
                _a("social_power", "Social power", "control over others, dominance",
                   "declining to control others", "social power"),
                _a("authority", "Authority", "the right to lead or command",
                   "declining to lead", "authority"),
                _a("wealth", "Wealth", "material possessions and money",
                   "indifference to money and possessions", "wealth", "wealthy"),
                _a("preservation_of_public_image", "Preservation of one's public image",
                   "protecting one's face", "not caring how one appears", "public image"),
                _a("social_recognition", "Social recognition", "respect and approval by others",
                   "indifference to others' approval", "social recognition"),
            )),
            _HEDONISM,
        ),
    ),
)

DIMENSION_IDS: tuple[str, ...] = tuple(d.id for d in DIMENSIONS)

TOPICS: tuple[str, ...] = (
    "family", "work", "money", "health", "environment", "arts", "technology", "community",
    "education", "leisure",
)
"""Everyday topics that situational questions are spread over (after UltraChat's)."""

TENDENCY_QUALIFIERS: tuple[str, ...] = (
    "honest", "dishonest", "polite", "impolite", "rude", "unkind", "selfish", "selfless",
    "generous", "greedy", "unfair", "fairness", "ethical", "unethical", "moral", "immoral",
    "lazy", "brave", "cowardly", "responsible", "irresponsible", "right thing",
)
"""Words that tell the respondent which answer is expected (paper, appendix A)."""


def dimension(id: str) -> Dimension:
    """Look a dimension up by identifier, with a message that lists the valid ones."""
    for d in DIMENSIONS:
        if d.id == id:
            return d
    from nnvalues.errors import UsageError

    raise UsageError(f"unknown dimension {id!r}; choose from {', '.join(DIMENSION_IDS)}")


def check_polarity(polarity: str) -> str:
    if polarity not in POLARITIES:
        from nnvalues.errors import UsageError

        raise UsageError(f"unknown polarity {polarity!r}; choose from {', '.join(POLARITIES)}")
    return polarity
