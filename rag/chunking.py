"""Cut articles into sentence-aligned passages under a token budget."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Callable, Iterable

from .documents import Article, Chunk
from .sentences import sentence_spans

TokenCounter = Callable[[str], int]

# Where an over-long sentence may be cut when it alone exceeds the budget: after a clause mark.
_CLAUSE = re.compile(r"[，、,：:]")


@dataclass(frozen=True)
class ChunkSettings:
    """How passages are cut; recorded in the index manifest."""

    max_tokens: int = 200
    overlap_sentences: int = 1
    hard_cap: int = 480  # below the 512 positions of BERT-sized models, leaving room for prefixes

    def as_dict(self) -> dict:
        return asdict(self)


def _split_long(text: str, s: int, e: int, count: TokenCounter, cap: int) -> list[tuple[int, int]]:
    """Cut one over-long sentence at clause marks, then at characters, so each piece fits ``cap``."""
    pieces: list[tuple[int, int]] = []
    cur = s
    cuts = [m.end() for m in _CLAUSE.finditer(text, s, e)] + [e]
    last_ok = None
    for cut in cuts:
        if count(text[cur:cut]) <= cap:
            last_ok = cut
            continue
        if last_ok is not None and last_ok > cur:
            pieces.append((cur, last_ok))
            cur = last_ok
            last_ok = cut if count(text[cur:cut]) <= cap else None
        if last_ok is None:
            # No clause mark helps: cut by characters, shrinking until the piece fits.
            while cur < cut:
                step = cut - cur
                while step > 1 and count(text[cur : cur + step]) > cap:
                    step = max(1, step * 3 // 4)
                pieces.append((cur, cur + step))
                cur += step
            last_ok = None
    if cur < e:
        pieces.append((cur, e))
    return pieces


def chunk_article(article: Article, count: TokenCounter, settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    """Passages of one article: whole sentences packed up to ``max_tokens``, overlapping by
    ``overlap_sentences`` sentences, each never above ``hard_cap`` tokens, never across articles."""
    budget = min(settings.max_tokens, settings.hard_cap)
    units: list[tuple[int, int]] = []
    for s, e in sentence_spans(article.text):
        if count(article.text[s:e]) > budget:
            units.extend(_split_long(article.text, s, e, count, budget))
        else:
            units.append((s, e))

    groups: list[list[tuple[int, int]]] = []
    i = 0
    while i < len(units):
        group = [units[i]]
        j = i + 1
        while j < len(units) and count(article.text[group[0][0] : units[j][1]]) <= budget:
            group.append(units[j])
            j += 1
        groups.append(group)
        if j >= len(units):
            break
        # Step back by the overlap, but always move forward by at least one unit.
        i = max(i + 1, j - settings.overlap_sentences)

    chunks = []
    for n, group in enumerate(groups):
        start, end = group[0][0], group[-1][1]
        chunks.append(
            Chunk(
                id=f"{article.id}:{n:03d}",
                article_id=article.id,
                title=article.title,
                file=article.file,
                start=start,
                end=end,
                text=article.text[start:end],
                ordinal=n,
                byline=article.byline,
            )
        )
    return chunks


def chunk_articles(
    articles: Iterable[Article], count: TokenCounter, settings: ChunkSettings = ChunkSettings()
) -> list[Chunk]:
    """Passages of every article, in corpus order."""
    return [c for a in articles for c in chunk_article(a, count, settings)]
