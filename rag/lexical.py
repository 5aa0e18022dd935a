"""Word-level tokens for BM25 and term matching: jieba for Chinese, lower-cased words for the rest."""

from __future__ import annotations

import logging
import re
from collections import Counter
from functools import lru_cache
from typing import Iterable, Protocol

import jieba

from . import jieba_dict

jieba.setLogLevel(logging.WARNING)
jieba_dict.install()

# Function words that match nearly every passage and only add noise to BM25.
STOPWORDS = frozenset(
    """的 了 和 与 及 或 是 在 对 为 以 于 把 被 将 从 向 等 中 上 下 也 都 而 并 其 之 这 那 有 个 们 吗 呢 吧 啊
    什么 哪些 哪个 哪 怎么 怎样 如何 多少 几 为什么 是否 能否 可以 哪里 什么样 请 问 一 要 会 又 还 就 说 所
    the a an of to in on for and or is are was were be been by with as at from that this which what who whom
    how why when where do does did it its their his her they them than into about""".split()
)

_WORD = re.compile(r"\w", re.UNICODE)


@lru_cache(maxsize=4096)
def _cut(text: str) -> tuple[str, ...]:
    return tuple(jieba.lcut_for_search(text))


def tokenize(text: str, keep_stopwords: bool = False) -> list[str]:
    """Search tokens of ``text``: jieba words (search mode, so long words also yield their parts),
    lower-cased, without punctuation or whitespace and, by default, without stopwords."""
    out = []
    for tok in _cut(text.lower()):
        tok = tok.strip()
        if not tok or not _WORD.search(tok):
            continue
        if not keep_stopwords and tok in STOPWORDS:
            continue
        out.append(tok)
    return out


# An empty passage is one placeholder token in BM25 (bm25s would drop an empty document, and
# both stores must count the same documents).
EMPTY_TOKEN = "\u2205"


def bm25_tokens(text: str) -> list[str]:
    """The tokens BM25 indexes for a passage ``text``: its search tokens, or the placeholder."""
    return tokenize(text) or [EMPTY_TOKEN]


def document_frequencies(documents: Iterable[Iterable[str]]) -> Counter:
    """How many of ``documents`` (token lists) hold each token: BM25's document frequency."""
    out: Counter = Counter()
    for tokens in documents:
        out.update(set(tokens))
    return out


class Frequencies(Protocol):
    """Token -> document frequency, as an IDF table reads it (a dict is one)."""

    def get(self, token: str, default: int | None = None) -> int | None: ...
