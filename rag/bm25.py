"""The BM25 index over jieba tokens (bm25s: sparse matrices, saved as plain numpy files)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import logging

import bm25s
import numpy as np

from .lexical import bm25_tokens, tokenize

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at DEBUG otherwise


def build_bm25(texts: Sequence[str]) -> bm25s.BM25:
    """A BM25 index whose document ``i`` is ``texts[i]``."""
    index = bm25s.BM25()
    index.index([bm25_tokens(t) for t in texts], show_progress=False)
    return index


class IndexFrequencies:
    """The document frequency of each token of a bm25s index's vocabulary, read from its score
    matrix (one column per token) without copying the vocabulary."""

    def __init__(self, index: bm25s.BM25):
        self.vocab = index.vocab_dict
        self.df = np.diff(np.asarray(index.scores["indptr"]))

    def get(self, token: str, default: int | None = None) -> int | None:
        i = self.vocab.get(token)
        return default if i is None or i >= len(self.df) else int(self.df[i])


def index_frequencies(index: bm25s.BM25) -> tuple[IndexFrequencies, int]:
    """Each token's document frequency in ``index``, and its number of documents."""
    return IndexFrequencies(index), int(index.scores.get("num_docs", 1))


def save_bm25(index: bm25s.BM25, folder: Path) -> None:
    index.save(str(folder))


def load_bm25(folder: Path) -> bm25s.BM25:
    return bm25s.BM25.load(str(folder), mmap=True)


def search_bm25(index: bm25s.BM25, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and scores of the ``k`` best documents for ``query``, best first (zero scores dropped)."""
    tokens = tokenize(query)
    if not tokens:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores = np.asarray(index.get_scores(tokens), dtype=np.float32)
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    top = top[np.argsort(-scores[top], kind="stable")]
    top = top[scores[top] > 0]
    return top.astype(np.int64), scores[top]


class _TokenIds:
    """Documents as lists of token ids, read one at a time from a flat id array and the length of
    each document (both may be memory-mapped): what bm25s iterates when it builds an index."""

    def __init__(self, flat: np.ndarray, lengths: np.ndarray):
        self.flat, self.ends = flat, np.cumsum(lengths, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ends)

    def __iter__(self):
        start = 0
        for end in self.ends:
            yield self.flat[start:end].tolist()
            start = int(end)


class _Corpus:
    def __init__(self, ids: _TokenIds, vocab: dict[str, int]):
        self.ids, self.vocab = ids, vocab


def build_bm25_from_ids(flat: np.ndarray, lengths: np.ndarray, vocab: dict[str, int]) -> bm25s.BM25:
    """The index :func:`build_bm25` gives, from token ids instead of texts: document ``i`` holds
    ``flat[sum(lengths[:i]):sum(lengths[:i + 1])]``, ids of ``vocab`` (0..len-1). Only the sparse
    matrix is built in memory; the documents are read one by one."""
    index = bm25s.BM25()
    index.index(_Corpus(_TokenIds(flat, lengths), dict(vocab)), show_progress=False)
    return index
