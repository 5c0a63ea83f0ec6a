"""Turn a chat model's free-form answer into the items it was asked for.

Models answer lists in many shapes: numbered or bulleted lines, JSON arrays (often inside a
code fence), blank-line separated paragraphs, one item per line, with a chatty lead-in and
sign-off, quotes, bold titles and "Question 3:" labels. The functions here accept all of
these and raise `ParseFailure` when nothing usable is left, so the caller can keep the
answer aside instead of guessing.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable


class ParseFailure(ValueError):
    """The answer holds none of the items asked for; the message says what was missing."""


_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)(?:```|$)", re.S)
_NUMBER_MARKER = re.compile(r"^\s*(?:\*\*)?\s*(?:\(\d{1,3}\)|\d{1,3}[.):])(?:\*\*)?\s+")
_BULLET_MARKER = re.compile(r"^\s*[-*•‣◦–+](?!\*)\s+")
_LABELS = ("question", "scenario", "situation", "description", "view", "example", "item", "q")
_LABEL_MARKER = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\*\*|__)?\s*(?:" + "|".join(_LABELS) + r")\s*#?\s*\d{1,3}\s*"
    r"(?:\*\*|__)?\s*[:.)\-–—]?\s*(?:\*\*|__)?\s*", re.I)
_HEADING_NUMBER = re.compile(r"^\s*#{1,6}\s*\d{1,3}[.):]?\s*")
_BOLD_TITLE = re.compile(r"^(?:\*\*|__)([^*_\n]{1,80}?)(?:\*\*|__)\s*[:.\-–—]?\s*")
_CHATTER = re.compile(
    r"^\s*(?:here (?:are|is)|(?:sure|certainly|of course|okay|ok)\s*[!,.]|below (?:are|is)|"
    r"i hope|hope (?:this|these)|let me know|feel free|i've (?:created|written)|note:|"
    r"(?:each of )?these (?:\w+ )?(?:questions|views|descriptions|scenarios)\b|"
    r"each (?:question|scenario|view|description) (?:is|explores|presents)\b)", re.I)
_QUOTES = [("\"", "\""), ("“", "”"), ("'", "'"), ("‘", "’"), ("«", "»")]
_ITEM_KEYS = ("text", "question", "description", "view", "content", "scenario")


def parse_list(answer: str) -> list[str]:
    """The items of a list answer, cleaned; raises ParseFailure when there are none."""
    items = _json_items(answer)
    if items is None:
        items = _line_items(_unfence(answer))
    items = [c for c in (clean_item(i) for i in items) if c and not _is_chatter(c)]
    if not items:
        raise ParseFailure("no list items found in the answer")
    return items


def parse_views(answer: str) -> tuple[list[str], list[str]]:
    """(views of the value person, views of its antonyms) from a two-part answer.

    Sections are found by their labels ("Value person:", "### Antonyms", "**Opposite
    view:** You ..."); without labels an even number of items is split in halves, the
    order the templates ask for. Anything else is a ParseFailure.
    """
    data = _json_value(answer)
    if data is not None:
        pair = _json_views(data)
        if pair is not None:
            return pair
    sections = _sections(_unfence(answer))
    if sections is not None:
        positive = _section_items(sections, negative=False)
        negative = _section_items(sections, negative=True)
        if positive and negative:
            return positive, negative
        raise ParseFailure("the answer labels only one side (value person or antonyms)")
    items = parse_list(answer)
    if len(items) < 2 or len(items) % 2:
        raise ParseFailure(f"cannot tell value views from antonym views in {len(items)} unlabelled item(s)")
    half = len(items) // 2
    return items[:half], items[half:]


_REVISED = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\*\*|__)?\s*(?:the\s+)?(?:revised|improved|rewritten|refined|updated|new|final)"
    r"(?:\s+(?:version\s+of\s+the\s+)?(?:question|scenario|version))?\s*(?:\*\*|__)?\s*[:\-–—]\s*(?:\*\*|__)?"
    r"|\b(?:revised|improved|rewritten|refined|updated)\s+(?:version\s+of\s+the\s+)?(?:question|scenario|version)"
    r"\b[^:\n]{0,30}:\s*(?:\*\*|__)?"
    r"|\brevise\s+(?:it|the\s+question)\s+(?:to|as)\s*:",
    re.I)
_AFTER_REVISION = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\*\*|__)?\s*(?:drawbacks?|explanation|changes?|notes?|rationale|why|"
    r"improvements?|reasoning)\b[^:\n]{0,40}:", re.I)


def parse_revision(answer: str) -> str:
    """The revised question of a refine answer; raises ParseFailure when there is none.

    A labelled revision ("Revised question: ...") wins; otherwise the last paragraph that
    asks something, which is where models put the rewrite after listing drawbacks.
    """
    lines = _unfence(answer).splitlines()
    for index in range(len(lines) - 1, -1, -1):
        match = None if _AFTER_REVISION.match(lines[index]) else _REVISED.search(lines[index])
        if match:
            body = [lines[index][match.end():]]
            for line in lines[index + 1:]:
                if _AFTER_REVISION.match(line):
                    break
                body.append(line)
            text = clean_item(" ".join(body))
            if text:
                return text
    paragraphs = [clean_item(p) for p in _paragraphs(lines)]
    asking = [p for p in paragraphs if p.rstrip("\"”'").endswith("?") and not _AFTER_REVISION.match(p)]
    if asking:
        return asking[-1]
    raise ParseFailure("no revised question found in the answer")


def clean_item(text: str) -> str:
    """Drop list markers, labels, bold titles and wrapping quotes; collapse white space."""
    text = " ".join(text.split())
    for _ in range(3):
        before = text
        text = _NUMBER_MARKER.sub("", text, count=1)
        text = _BULLET_MARKER.sub("", text, count=1)
        text = _LABEL_MARKER.sub("", text, count=1)
        text = _HEADING_NUMBER.sub("", text, count=1)
        title = _BOLD_TITLE.match(text)
        if title and text[title.end():].strip() and len(title.group(1).split()) <= 10:
            text = text[title.end():]
        text = _unquote(text.strip())
        if text == before:
            break
    return text.strip()


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text.startswith(("**", "__")) and text.endswith(("**", "__")):
        text = text[2:-2].strip()
    for left, right in _QUOTES:
        inner = text[1:-1]
        if len(text) >= 2 and text[0] == left and text[-1] == right and left not in inner[:-1]:
            return inner.strip()
        if len(text) >= 3 and text[0] == left and text.endswith(right + ",") and left not in inner[:-2]:
            return text[1:-2].strip()
    return text


def _is_chatter(text: str) -> bool:
    """A lead-in or sign-off rather than an item: 'Here are ten questions:' and the like."""
    if _CHATTER.match(text):
        return True
    return text.endswith(":") and len(text.split()) <= 25


def _unfence(answer: str) -> str:
    blocks = _FENCE.findall(answer)
    return "\n\n".join(blocks) if blocks else answer


def _json_value(answer: str) -> Any | None:
    """The JSON the answer holds: all of it, a fenced block, or the outermost [...] / {...}."""
    candidates = [answer.strip(), _unfence(answer).strip()]
    for opening, closing in (("[", "]"), ("{", "}")):
        start, end = answer.find(opening), answer.rfind(closing)
        if 0 <= start < end:
            candidates.append(answer[start:end + 1])
    for candidate in candidates:
        if candidate[:1] in "[{":
            try:
                return json.loads(candidate)
            except ValueError:
                continue
    return None


def _json_items(answer: str) -> list[str] | None:
    data = _json_value(answer)
    if data is None:
        return None
    items = list(_strings(data))
    return items or None


def _strings(data: Any) -> Iterable[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, list):
        for element in data:
            yield from _strings(element)
    elif isinstance(data, dict):
        keyed = [data[k] for k in data if k.lower() in _ITEM_KEYS and isinstance(data[k], str)]
        if keyed:
            yield keyed[0]
        else:
            for value in data.values():
                if isinstance(value, (list, dict)):
                    yield from _strings(value)


def _json_views(data: Any) -> tuple[list[str], list[str]] | None:
    if isinstance(data, list) and len(data) == 2 and all(isinstance(d, (list, str)) for d in data):
        first, second = (list(_strings(d)) for d in data)
        return (first, second) if first and second else None
    if isinstance(data, dict):
        positive: list[str] = []
        negative: list[str] = []
        for key, value in data.items():
            texts = [clean_item(t) for t in _strings(value)]
            (negative if _NEGATIVE_LABEL.search(key) else positive).extend(t for t in texts if t)
        if positive and negative:
            return positive, negative
    return None


def _line_items(text: str) -> list[str]:
    lines = text.splitlines()
    if any(_is_marker(line) for line in lines):
        return _marked_items(lines)
    paragraphs = _paragraphs(lines)
    if len(paragraphs) > 1:  # blank-line separated: a paragraph is one item
        return [" ".join(p.split("\n")) for p in paragraphs]
    return _split_paragraph(paragraphs[0]) if paragraphs else []


def _is_marker(line: str) -> bool:
    return bool(_NUMBER_MARKER.match(line) or _BULLET_MARKER.match(line) or _LABEL_MARKER.match(line)
                or _HEADING_NUMBER.match(line))


def _marked_items(lines: list[str]) -> list[str]:
    """Items start at marked lines; unmarked text continues the current item.

    Text before the first marker is a lead-in, and an unmarked paragraph that reads like
    a sign-off is dropped; any other unmarked paragraph belongs to the item above it.
    """
    items: list[list[str]] = []
    for line in lines:
        if not line.strip():
            continue
        if _is_marker(line):
            items.append([line])
        elif items and not _is_chatter(line.strip()):
            items[-1].append(line)
    return [_join_item(parts) for parts in items]


def _join_item(parts: list[str]) -> str:
    """An item whose first line is only a title ("1. **The Wedding**") keeps its body."""
    if len(parts) > 1:
        raw = parts[0].strip()
        head = _HEADING_NUMBER.sub("", _NUMBER_MARKER.sub("", _LABEL_MARKER.sub("", raw, count=1), count=1))
        head = head.strip()
        styled = raw.startswith("#") or head.startswith(("**", "__")) or head.endswith(":")
        if not head or (styled and len(clean_item(head).split()) <= 10):
            parts = parts[1:]
    return " ".join(p.strip() for p in parts)


def _paragraphs(lines: list[str]) -> list[str]:
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return ["\n".join(p) for p in paragraphs if p]


def _split_paragraph(paragraph: str) -> list[str]:
    """One item per line when every line reads as complete, else the paragraph is one item."""
    lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
    content = [line for line in lines if not _is_chatter(line)]
    if len(content) > 1 and all(_complete(line) for line in content):
        return content
    return [" ".join(content)] if content else []


def _complete(line: str) -> bool:
    return clean_item(line).rstrip("\"”'’»*").endswith((".", "?", "!"))


_NEGATIVE_LABEL = re.compile(r"antonym|opposite|revers|negative|contrar|counter", re.I)
_POSITIVE_LABEL = re.compile(r"value|positive|person|holder|embod", re.I)
_SECTION_LABEL = re.compile(r"^\s*(?:#{1,6}\s*)?(?:\*\*|__)?\s*([^:*_#\n]{1,80}?)\s*(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*(.*)$")
_SECTION_HEADING = re.compile(r"^\s*(?:#{1,6}\s*(.{1,80}?)|(?:\*\*|__)(.{1,80}?)(?:\*\*|__))\s*:?\s*$")


def _label(line: str) -> tuple[bool, str] | None:
    """(is_negative, text after the label) when `line` opens a value or antonym section."""
    heading = _SECTION_HEADING.match(line)
    if heading:
        name, rest = heading.group(1) or heading.group(2), ""
    else:
        labelled = _SECTION_LABEL.match(line)
        if not labelled:
            return None
        name, rest = labelled.group(1), labelled.group(2)
    name = clean_item(name)
    if (not name or len(name.split()) > 10 or re.search(r"\d", name)
            or re.search(r"\byou\b|\byour\b", name, re.I)):
        return None  # numbered labels ("View 2:") are list markers, not sections
    if _NEGATIVE_LABEL.search(name):
        return True, rest
    if _POSITIVE_LABEL.search(name):
        return False, rest
    return None


def _sections(text: str) -> list[tuple[bool, str]] | None:
    """Labelled sections in order, or None when the answer has no antonym label at all."""
    sections: list[tuple[bool | None, list[str]]] = [(None, [])]
    for line in text.splitlines():
        label = _label(line)
        if label is None:
            sections[-1][1].append(line)
        else:
            sections.append((label[0], [label[1]] if label[1].strip() else []))
    if not any(kind is True for kind, _ in sections):
        return None
    labelled = [(kind, "\n".join(body)) for kind, body in sections if kind is not None]
    lead = "\n".join(sections[0][1]).strip()
    if lead and not any(kind is False for kind, _ in labelled):
        labelled.insert(0, (False, lead))  # unlabelled views before the antonym label
    return [(bool(kind), body) for kind, body in labelled]


def _section_items(sections: list[tuple[bool, str]], *, negative: bool) -> list[str]:
    items: list[str] = []
    for kind, body in sections:
        if kind is negative and body.strip():
            try:
                items.extend(parse_list(body))
            except ParseFailure:
                continue
    return items
