"""Sentence boundaries for Chinese (and mixed) news text, as character spans."""

from __future__ import annotations

import re

# A sentence ends at 。！？；… (full or half width, ASCII ?!; too) plus any closing quotes or
# brackets that follow, or at a line break. A "." only ends a sentence when followed by space or
# the end and not preceded by a digit, so that 1.68, 3.5% and list numbers ("1. 甲") stay whole.
_END = re.compile(
    r"(?:[。！？；!?;]+|…+|(?<!\d)\.(?=\s|$))[”’」』）)\]】\"']*|\n+",
)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans ``(s, e)`` of the sentences in ``text[start:end]``, whitespace trimmed, none empty."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    for m in _END.finditer(text, start, end):
        _append_trimmed(text, pos, m.end(), spans)
        pos = m.end()
    _append_trimmed(text, pos, end, spans)
    return spans


def _append_trimmed(text: str, s: int, e: int, out: list[tuple[int, int]]) -> None:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    if e > s:
        out.append((s, e))


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` as strings."""
    return [text[s:e] for s, e in sentence_spans(text)]
