"""Find the passages for a question: three rankings fused by reciprocal rank — passage vectors,
best-sentence vectors and BM25 over words."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .documents import Chunk
from .embedders import Embedder
from .stores import Store

MODES = ("hybrid", "dense", "bm25")
RRF_K = 60  # the constant of Cormack et al.; damps the weight of the very first ranks


@dataclass
class Hit:
    """One retrieved passage with the evidence for its rank."""

    row: int
    chunk: Chunk
    score: float  # fused score (RRF in hybrid mode, the single ranking's score otherwise)
    dense: float | None = None  # cosine to the question, when the dense ranking saw it
    bm25: float | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None


def fuse(rankings: list[list[int]], weights: list[float] | None = None, k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of ranked id lists: ``sum(w / (k + rank))``, best first, ties by first seen."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, row in enumerate(ranking, start=1):
            scores[row] = scores.get(row, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def retrieve(
    reader: Store,
    embedder: Embedder,
    question: str,
    k: int = 5,
    mode: str = "hybrid",
    candidates: int = 50,
    query_vector: np.ndarray | None = None,
    hidden: frozenset[int] = frozenset(),
) -> list[Hit]:
    """The ``k`` best passages for ``question`` by ``mode`` (hybrid, dense or bm25), best first.
    ``hidden``: chunk rows left out of every ranking (a benchmark's gold passages, to ask
    questions the index cannot answer)."""
    if mode not in MODES:
        raise ValueError(f"unknown retrieval mode '{mode}'; choose one of {', '.join(MODES)}")
    n = max(k, candidates)
    # Hidden rows are searched for and dropped, so each ranking still holds n others.
    wanted = n
    n += len(hidden)
    dense_rows: list[int] = []
    dense_scores: dict[int, float] = {}
    sentence_rows: list[int] = []
    if mode in ("hybrid", "dense"):
        q = query_vector if query_vector is not None else embedder.encode_queries([question])[0]
        ids, scores = reader.dense(q, n)
        dense_rows = [int(i) for i in ids]
        dense_scores = {int(i): float(s) for i, s in zip(ids, scores)}
        sentence_rows = reader.sentence_rows(q, n)
    bm25_rows: list[int] = []
    bm25_scores: dict[int, float] = {}
    if mode in ("hybrid", "bm25"):
        ids, scores = reader.lexical(question, n)
        bm25_rows = [int(i) for i in ids]
        bm25_scores = {int(i): float(s) for i, s in zip(ids, scores)}

    if hidden:
        dense_rows = [r for r in dense_rows if r not in hidden][:wanted]
        sentence_rows = [r for r in sentence_rows if r not in hidden][:wanted]
        bm25_rows = [r for r in bm25_rows if r not in hidden][:wanted]
    if mode == "bm25":
        ranked = [(r, bm25_scores[r]) for r in bm25_rows]
    elif mode == "dense":
        ranked = fuse([dense_rows, sentence_rows]) if sentence_rows else [(r, dense_scores[r]) for r in dense_rows]
    elif getattr(reader, "server_fusion", False):
        # The store fuses passage vectors and BM25 itself (Milvus's RRFRanker); no sentence ranking.
        ranked = [(r, sc) for r, sc in reader.hybrid(q, question, n) if r not in hidden][:wanted]
    else:
        ranked = fuse([dense_rows, bm25_rows, sentence_rows])
    ranked = ranked[:k]
    chunks = reader.chunks([r for r, _ in ranked])
    if query_vector is not None:
        # BM25 alone says nothing of meaning: the answer layer reads every hit's cosine, so it is
        # computed for the few hits the dense ranking did not score.
        for r, _ in ranked:
            if r not in dense_scores:
                v = reader.passage_vector(r)
                if v is not None:
                    dense_scores[r] = float(v @ query_vector)
    dense_rank = {r: i + 1 for i, r in enumerate(dense_rows)}
    bm25_rank = {r: i + 1 for i, r in enumerate(bm25_rows)}
    return [
        Hit(
            row=r,
            chunk=c,
            score=s,
            dense=dense_scores.get(r),
            bm25=bm25_scores.get(r),
            dense_rank=dense_rank.get(r),
            bm25_rank=bm25_rank.get(r),
        )
        for (r, s), c in zip(ranked, chunks)
    ]


def widen(
    hits: list[Hit], part_rankings: list[list[Hit]], deeper: list[Hit] = (), per_part: int = 2, articles: int = 2
) -> list[Hit]:
    """``hits`` for a question that asks several things, grown so each thing has its evidence:
    the best ``per_part`` passages of each sub-question's own ranking, then, while fewer than
    ``articles`` articles are present, the best passage of the next article in ``deeper`` (the
    whole question's longer ranking). Order: the whole question's hits first, as ranked."""
    out = list(hits)
    seen = {h.row for h in out}
    for ranking in part_rankings:
        # A part whose best passages are already in counts them as its own.
        for h in ranking[:per_part]:
            if h.row not in seen:
                out.append(h)
                seen.add(h.row)
    present = {h.chunk.article_id for h in out}
    for h in deeper:
        if len(present) >= articles:
            break
        if h.chunk.article_id not in present:
            out.append(h)
            present.add(h.chunk.article_id)
    return out
