"""The sentences of an article that can carry an answer: what is embedded at index time and what
an extractive answer may quote."""

from __future__ import annotations

import re
from functools import lru_cache

from .documents import Article
from .sentences import sentence_spans

_ENDS = re.compile(r"[。！？；!?;…）)”’\"]$")


def answer_units(article: Article) -> list[tuple[int, int, bool]]:
    """Spans of the article's sentences that can carry an answer, with whether each opens a
    paragraph that continues: body sentences, table rows and the author note; not the headline,
    the byline or bare subheads, which repeat the question more than they answer it."""
    # Cached by what it reads: every question re-reads the units of the articles it retrieves.
    return list(_units(article.text, article.title, article.byline or ""))


@lru_cache(maxsize=4096)
def _units(text: str, title: str, byline: str) -> tuple[tuple[int, int, bool], ...]:
    title_parts = {p for p in title.split(" ") if p}
    out = []
    para_start = 0
    spans = sentence_spans(text)
    for i, (s, e) in enumerate(spans):
        t = text[s:e]
        if text.rfind("\n", 0, s) >= para_start or s == 0:
            para_start = s
        if not any(ch.isalnum() for ch in t) or len(t) < 6:
            continue
        if "|" in t:
            out.append((s, e, False))
            continue
        if t in title_parts or t == title or t.startswith("■") or (byline and t == byline):
            continue
        if not _ENDS.search(t) and len(t) <= 40:
            continue  # a headline-like line without a sentence end
        nxt = spans[i + 1][0] if i + 1 < len(spans) else len(text)
        opens = s == para_start and "\n" not in text[e:nxt] and len(t) <= 48
        out.append((s, e, opens))
    return tuple(out)
