"""The BM25 index over jieba tokens (bm25s: sparse matrices, saved as plain numpy files)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import logging

import bm25s
import numpy as np

from .lexical import tokenize

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at DEBUG otherwise


def build_bm25(texts: Sequence[str]) -> bm25s.BM25:
    """A BM25 index whose document ``i`` is ``texts[i]``."""
    index = bm25s.BM25()
    # An empty document would be dropped by some tokenisers; keep a placeholder token so rows align.
    index.index([tokenize(t) or ["\u2205"] for t in texts], show_progress=False)
    return index


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
