"""A number asked in a frame the passages state with another number: the question's 「第九届新秀
歌唱比赛」 where the article says 「第一届新秀歌唱比赛」, 「13小时的家务」 where it says 「6小时的家务」.

The question's date or number constraint becomes a pattern: its numerals a wildcard, its own
characters kept, and two characters of the question on one side of it (the frame). A passage that
fills the frame with another value, while no passage states the value asked, answers another
question than the one asked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..questions import Constraint
from .features import normalise

_DIGITS = "〇零一二两三四五六七八九"
_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}
# A Chinese comma between digits separates items (7，8月), not thousands: only 「,」 and 「.」 join.
_NUM = r"[\d〇零一二两三四五六七八九十百千万亿]+(?:[.,]\d+)*"
_RUN = re.compile(_NUM)
# What can stand beside a number as its frame: characters of words, not punctuation or spaces.
_FRAME_CHAR = re.compile(r"[一-龥A-Za-z]")
FRAME_CHARS = 2  # characters of the question taken on one side of the number


@dataclass(frozen=True)
class FrameConflict:
    """The asked constraint, what a passage states in its frame instead, and where."""

    asked: Constraint
    stated: str
    hit: int  # index of the passage among the hits
    start: int  # offset of the stated text in that passage's text
    end: int


def numeral_value(text: str) -> float | None:
    """The value of a numeral written in digits or Chinese numerals (「十一」 11, 「一九八二」 1982,
    「2,500」 2500); None when it is not one."""
    t = text.replace(",", "")
    if not t:
        return None
    try:
        return float(t)
    except ValueError:
        pass
    if all(ch in _DIGITS for ch in t):  # read digit by digit: 一九八二
        return float("".join(str(_digit(ch)) for ch in t))
    total, section, digit = 0, 0, 0
    for ch in t:
        if ch in _DIGITS:
            digit = _digit(ch)
        elif ch in _UNITS:
            unit = _UNITS[ch]
            if unit >= 10_000:
                total = (total + section + digit) * unit
                section, digit = 0, 0
            else:
                section += (digit or 1) * unit
                digit = 0
        elif ch.isdigit():
            digit = digit * 10 + int(ch)
        else:
            return None
    return float(total + section + digit)


def _digit(ch: str) -> int:
    return {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
            "九": 9}[ch]


def _values(text: str) -> tuple[float | None, ...]:
    return tuple(numeral_value(m.group(0)) for m in _RUN.finditer(text))


def frame_patterns(question: str, c: Constraint) -> list[re.Pattern]:
    """Patterns of ``c`` in its frame: its numerals a wildcard, with the question's two
    characters before it, and another with the two after it. Empty when ``c`` holds no numeral
    or stands in the question with no word on either side."""
    i = question.find(c.text)
    if i < 0 or not _RUN.search(c.text):
        return []
    body, pos = "", 0
    for m in _RUN.finditer(c.text):
        body += re.escape(c.text[pos:m.start()]) + f"({_NUM})"
        pos = m.end()
    body += re.escape(c.text[pos:])
    left = question[max(0, i - FRAME_CHARS):i]
    right = question[i + len(c.text):i + len(c.text) + FRAME_CHARS]
    out = []
    if len(left) == FRAME_CHARS and all(_FRAME_CHAR.match(ch) for ch in left) and not _RUN.search(left):
        out.append(re.compile(re.escape(left) + body))
    if len(right) == FRAME_CHARS and all(_FRAME_CHAR.match(ch) for ch in right) and not _RUN.search(right):
        out.append(re.compile(body + re.escape(right)))
    return out


def frame_conflict(question: str, missing: Iterable[Constraint], passages: Sequence[str]) -> FrameConflict | None:
    """The first of the ``missing`` date or number constraints (stated by no passage) whose frame
    a passage fills with another value; None when there is none, or when a passage fills the frame
    with the value asked (written another way: 第3届 for 第三届)."""
    for c in missing:
        if c.kind not in ("time", "number"):
            continue
        patterns = frame_patterns(question, c)
        if not patterns:
            continue
        asked = _values(c.text)
        found: list[FrameConflict] = []
        same = False
        for n, text in enumerate(passages):
            for p in patterns:
                for m in p.finditer(text):
                    values = tuple(numeral_value(g) for g in m.groups())
                    if values == asked or normalise(c.text) in normalise(m.group(0)):
                        same = True
                    else:
                        found.append(FrameConflict(c, _stated(c, m), n, m.start(), m.end()))
        if found and not same:
            return found[0]
    return None


def _stated(c: Constraint, m: re.Match) -> str:
    """The passage's own version of the constraint: ``c``'s text with the passage's numerals."""
    out, pos = "", 0
    for g, run in zip(m.groups(), _RUN.finditer(c.text)):
        out += c.text[pos:run.start()] + g
        pos = run.end()
    return out + c.text[pos:]
