"""How the data checks and summaries read text: words and sentences, one definition for all.

A word is a run of letters or digits, with inner apostrophes and hyphens kept
("grandmother's", "well-known"), so counts do not depend on punctuation or spacing.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’')]))\s+")


def words(text: str) -> list[str]:
    """The words of `text`, lower-cased."""
    return [w.lower() for w in _WORD.findall(text)]


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def sentences(text: str) -> list[str]:
    """Split at '.', '!' or '?' followed by white space (closing quotes stay with the sentence)."""
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text.strip())) if s]
