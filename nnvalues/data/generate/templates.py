"""The generation prompts of the paper's appendix A, filled from the taxonomy.

The four templates are the method's inputs and are kept as the paper prints them (the
paper's "{key}, {key}, {key}...." becomes the keyword list, its fixed counts "80" and "10"
become parameters, and the stray space in "reflecting value ," is dropped). The short
`*_FORMAT` lines after them are nnvalues' own: they ask for section labels that make the
answer easy to split, and the parser still copes when a model ignores them.
"""

from __future__ import annotations

from nnvalues.taxonomy import AtomicValue, BasicValue, Dimension

EXAMPLE_DESCRIPTION = (
    "Given some key words of {value} value: {keys}. I want you to give a second-person view "
    "of the value person and a view of its antonyms, each no less than 50 words. Please meet "
    "the constraints as follows.\n\n"
    "1. each view should be related to the key words.\n"
    "2. avoid containing the key words or values in the descriptions."
)

MORE_DESCRIPTIONS = (
    "Given a set of keywords associated with the value {value}: {keys}, along with an example "
    "second-person description reflecting value, and an example second-person description "
    "reflecting its antonyms. I want you to give {count} second-person views of the value person "
    "and {count} views of its antonyms, each no less than 50 words. Please meet the constraints "
    "as follows.\n\n"
    "1. each view should be related to the key words.\n"
    "2. avoid containing the key words or values in the descriptions. "
    "###Example:{positive} ###Example for its antonyms:{negative}"
)

SITUATIONAL_QUESTIONS = (
    'I want you to create a set of {count} situational questions aimed at evaluating the degree '
    'to which the respondent displays the specified "VALUE", referring to the "EXAMPLE". Please '
    'meet the constraints in the "NOTE". Each question must contain no fewer than 100 words!\n\n'
    'TOPIC:\n\n"{topic}"\n\n'
    'VALUE:\n\n"{value}" or not\n\n'
    'EXAMPLE:\n\n"{example}"\n\n'
    "NOTE:\n\n"
    "1. Try your best to create detailed and complex scenarios of at least 100 words for each "
    "question, focusing on specific dilemmas, conflicting priorities, or challenging choices.\n"
    '2. Ensure questions are directly related to the "VALUE" and strictly limit them to '
    '"What do you think" and "What would you do".\n'
    '3. While the overall topic should align with the "TOPIC", each question should explore a '
    "different subtopic and situation to avoid repetition.\n"
    '4. Avoid tendency qualifiers like "honest" or "polite".\n'
    "5. Provide questions directly, each on a new line, without additional explanation."
)

REFINE_QUESTION = (
    "Identify the drawbacks of the following question and revise it to better capture the "
    'respondent\'s level of {value} in this factor: "{factor}", within the topic of "{topic}".\n\n'
    "Question: {question}\n\n"
    "Note:\n\n"
    "1. Ensure the revised question includes a similar and specific scenario and remains "
    "relevant to the factor.\n"
    '2. Avoid tendency qualifiers like "honest", "polite" and similar.'
)

EXAMPLE_FORMAT = (
    '\n\nAnswer with the line "Value person:" followed by that view, then the line '
    '"Antonyms:" followed by the view of its antonyms.'
)
MORE_FORMAT = (
    '\n\nAnswer with the line "Value person:" followed by those views, one numbered view per '
    'line, then the line "Antonyms:" followed by the views of its antonyms, numbered the same way.'
)
REFINE_FORMAT = (
    '\n\nEnd your answer with the line "Revised question:" followed by the revised question '
    "on one line."
)


def value_label(dimension: Dimension, basic: BasicValue) -> str:
    """The basic value with its dimension, so Hedonism reads differently in its two homes."""
    return f"{basic.name} ({dimension.name})"


def keywords(atomic: AtomicValue) -> str:
    """The atomic value's name and keywords, once each, in the order the taxonomy gives."""
    words = dict.fromkeys(w.lower() for w in (atomic.name, *atomic.keywords))
    return ", ".join(words)


def example_description_prompt(dimension: Dimension, basic: BasicValue, atomic: AtomicValue) -> str:
    return EXAMPLE_DESCRIPTION.format(
        value=value_label(dimension, basic), keys=keywords(atomic)) + EXAMPLE_FORMAT


def more_descriptions_prompt(dimension: Dimension, basic: BasicValue, atomic: AtomicValue,
                             count: int, positive: str, negative: str) -> str:
    return MORE_DESCRIPTIONS.format(
        value=value_label(dimension, basic), keys=keywords(atomic), count=count,
        positive=positive, negative=negative) + MORE_FORMAT


def questions_prompt(atomic: AtomicValue, topic: str, count: int, example: str) -> str:
    return SITUATIONAL_QUESTIONS.format(count=count, topic=topic, value=atomic.name, example=example)


def refine_prompt(dimension: Dimension, atomic: AtomicValue, topic: str, question: str) -> str:
    return REFINE_QUESTION.format(
        value=dimension.name, factor=atomic.name, topic=topic, question=question) + REFINE_FORMAT
