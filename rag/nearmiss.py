"""Near-miss twins of benchmark questions: one constraint of a question (a year, a month, a number,
an ordinal, a place, an organisation, a person, a 《title》) changed to another of the same kind
that the gold article never states. The article stays on topic and is still retrieved, but it no
longer answers: the right reply is a refusal (or an honest partial answer), not the original
question's fact. The same construction gives negatives for fitting the reader (``train.py``).

Built from the question alone by the question analyser's own constraint finder (patterns and
jieba's part-of-speech tags), deterministic per question id; never from hand lists of items. A
number or date moves a little and must be absent from the gold article; a place, organisation or
person is replaced by a word jieba's dictionary tags the same way that no passage of the whole
benchmark names (a name another article is about would make the twin answerable again).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

from .answer.features import normalise as _norm
from .questions import Constraint, constraints_of

_DIGITS = re.compile(r"\d+")
_CN_DIGITS = "一二三四五六七八九"
_CN_ORDINAL = re.compile(r"(第)([一二三四五六七八九十]+)")
_HALVES = {"上半年": "下半年", "下半年": "上半年"}
_QUARTER = re.compile(r"([一二三四])季度")
# Offsets tried in turn for a changed number: near the original, as a real twin would be.
_OFFSETS = (1, -1, 2, -2, 3, -3, 5, -5, 7, -7, 10, -10)


@dataclass(frozen=True)
class Twin:
    """A question changed in one constraint so that its gold article no longer answers it."""

    question: str
    original: str  # the constraint as the question stated it
    replacement: str
    kind: str  # time, number, place, org, person, title


def _rank(key: str, items: Iterable[str]) -> list[str]:
    """``items`` in an order fixed by ``key`` (a hash, so every question draws differently)."""
    return sorted(items, key=lambda s: hashlib.sha256(f"{key}\x00{s}".encode()).hexdigest())


_NAME_TAGS = ("ns", "nt", "nr", "nrt", "nrfg")
_MIN_COUNT = 300  # a word jieba's dictionary has seen at least this often: a known name, not a rarity


@lru_cache(maxsize=1)
def dictionary_pool() -> dict[str, list[str]]:
    """jieba's dictionary words by part-of-speech tag (places ns, organisations nt, people nr…):
    the replacements for a named constraint."""
    import jieba
    import jieba.posseg as pseg

    jieba.dt.check_initialized()
    freq = jieba.dt.FREQ
    pool: dict[str, list[str]] = {}
    for word, tag in pseg.dt.word_tag_tab.items():
        if tag in _NAME_TAGS and 2 <= len(word) <= 8 and freq.get(word, 0) >= _MIN_COUNT:
            pool.setdefault(tag, []).append(word)
    return {k: sorted(v) for k, v in pool.items()}


def constraint_pool(questions: Iterable[str]) -> dict[str, list[str]]:
    """Every distinct constraint of ``questions``, by kind (a test's small pool in place of the dictionary's)."""
    pool: dict[str, set[str]] = {}
    for q in questions:
        for c in _constraints(q):
            pool.setdefault(c.kind, set()).add(c.text)
    return {k: sorted(v) for k, v in pool.items()}


def _tag(word: str) -> str | None:
    import jieba.posseg as pseg

    return pseg.dt.word_tag_tab.get(word)


def _constraints(question: str) -> list[Constraint]:
    """The question's constraints, a 《title》 told apart from other names."""
    return [Constraint(c.text, "title") if c.kind == "name" and f"《{c.text}》" in question else c
            for c in constraints_of(question)]


def _changed_numbers(text: str, key: str) -> list[str]:
    """``text`` with its first run of digits moved a little (kept positive, same width for a year)."""
    m = _DIGITS.search(text)
    if m is None:
        return []
    n, width = int(m.group()), len(m.group())
    offsets = list(_OFFSETS)
    if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 2:
        offsets = [-o for o in offsets]  # up or down first, half and half
    out = []
    for d in offsets:
        v = n + d
        if v <= 0 or (width == 4 and len(str(v)) != 4) or (text[m.end():m.end() + 1] == "月" and v > 12):
            continue
        if text[m.end():m.end() + 1] in "日号" and v > 31:
            continue
        out.append(text[: m.start()] + str(v) + text[m.end():])
    return out


def _changed_words(c: Constraint, key: str, pool: dict[str, list[str]]) -> list[str]:
    if _DIGITS.search(c.text):
        return _changed_numbers(c.text, key)
    if c.text in _HALVES:
        return [_HALVES[c.text]]
    m = _QUARTER.search(c.text)
    if m:
        return [c.text.replace(m.group(1), d) for d in _rank(key, "一二三四") if d != m.group(1)]
    m = _CN_ORDINAL.search(c.text)
    if m:
        return [c.text.replace(m.group(0), m.group(1) + d, 1) for d in _rank(key, _CN_DIGITS) if d != m.group(2)]
    if c.kind in ("place", "org", "person"):
        if c.kind in pool:  # a pool by kind (tests)
            words = pool[c.kind]
        elif _tag(c.text) in _NAME_TAGS:  # a name the dictionary knows, not one the tagger guessed
            words = pool.get(_tag(c.text), ())
        else:
            return []
        same = [w for w in words if w != c.text and w not in c.text and c.text not in w and abs(len(w) - len(c.text)) <= 1]
        return _rank(key, same)[:200]
    return []  # other proper names (jieba's nz) are too often common words, titles have no pool


def twin_of(question: str, article_text: str, key: str, corpus_text: str = "",
            pool: dict[str, list[str]] | None = None) -> Twin | None:
    """A near-miss twin of ``question`` whose changed constraint ``article_text`` (the gold
    article or articles) does not state, and a changed name not even ``corpus_text`` (every
    passage) states; None when the question has no constraint the article states, or no
    replacement is left. ``pool``: the named replacements by kind or tag (default jieba's dictionary)."""
    article = _norm(article_text)
    return _twin(question, article, _norm(corpus_text) if corpus_text else article, key,
                 dictionary_pool() if pool is None else pool)


def _twin(question: str, article: str, corpus: str, key: str, pool: dict[str, list[str]]) -> Twin | None:
    stated = [c for c in _constraints(question) if _norm(c.text) in article and c.text in question]
    for c in _rank(key, stated):  # one constraint per question, drawn by its key
        named = c.kind in ("place", "org", "person")
        for new in _changed_words(c, key, pool):
            if not new or new in question or _norm(new) in (corpus if named else article):
                continue
            return Twin(question.replace(c.text, new, 1), c.text, new, c.kind)
    return None


def twins(questions: Sequence[dict], article_texts: dict[str, str]) -> dict[str, Twin]:
    """The twin of each benchmark question that has one, by question id. ``article_texts`` maps a
    passage id to the text of the whole article it belongs to (all passages with its title)."""
    corpus = _norm("\n".join(dict.fromkeys(article_texts.values())))
    pool = dictionary_pool()
    normed: dict[str, str] = {}
    out = {}
    for q in questions:
        text = "\n".join(article_texts.get(pid, "") for pid in q["passage_ids"])
        if text not in normed:
            normed[text] = _norm(text)
        twin = _twin(q["question"], normed[text], corpus, q["id"], pool)
        if twin is not None:
            out[q["id"]] = twin
    return out
