"""The vector store seam: FAISS indexes over unit vectors (inner product = cosine), chosen by kind."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import faiss
import numpy as np

log = logging.getLogger(__name__)


def _flat(dim: int, n: int) -> faiss.Index:
    return faiss.IndexFlatIP(dim)


def _hnsw(dim: int, n: int) -> faiss.Index:
    from .config import Settings

    s = Settings()
    index = faiss.IndexHNSWFlat(dim, s.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = s.hnsw_ef_construction
    index.hnsw.efSearch = s.hnsw_ef_search
    return index


def _ivfpq(dim: int, n: int) -> faiss.Index:
    nlist = max(16, min(65536, int(4 * np.sqrt(n))))
    m = 48 if dim % 48 == 0 else (32 if dim % 32 == 0 else 16)
    index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
    index.nprobe = max(8, nlist // 32)
    return index


# The registry: kind -> factory(dim, n). "auto" picks by size.
VECTOR_KINDS: dict[str, Callable[[int, int], faiss.Index]] = {"flat": _flat, "hnsw": _hnsw, "ivfpq": _ivfpq}


def choose_kind(n: int) -> str:
    """Exact search while it is fast enough, HNSW beyond 50k vectors, IVF-PQ beyond 2M (memory)."""
    if n <= 50_000:
        return "flat"
    if n <= 2_000_000:
        return "hnsw"
    return "ivfpq"


def build_vectors(vectors: np.ndarray, kind: str = "auto", block: int | None = None) -> faiss.Index:
    """A FAISS index holding ``vectors`` under ids 0..n-1 (``IndexIDMap2``, so ids survive edits).

    With ``block``, ``vectors`` (e.g. a memory-mapped file) is read ``block`` rows at a time, so
    no second copy of them is made beside the index."""
    if block is None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    kind = choose_kind(n) if kind == "auto" else kind
    if kind not in VECTOR_KINDS:
        raise ValueError(f"unknown vector index kind '{kind}'; choose one of {sorted(VECTOR_KINDS)} or auto")
    inner = VECTOR_KINDS[kind](dim, n)
    if not inner.is_trained:
        pick = np.sort(np.random.default_rng(0).choice(n, size=min(n, 100_000), replace=False))
        sample = np.ascontiguousarray(vectors[pick], dtype=np.float32)
        inner.train(sample)
    index = faiss.IndexIDMap2(inner)
    step = block or max(n, 1)
    for s in range(0, n, step):
        part = np.ascontiguousarray(vectors[s:s + step], dtype=np.float32)
        index.add_with_ids(part, np.arange(s, s + len(part), dtype=np.int64))
    log.info("built %s vector index: %d x %d", kind, n, dim)
    return index


def save_vectors(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load_vectors(path: Path, mmap: bool = False) -> faiss.Index:
    flags = faiss.IO_FLAG_MMAP if mmap else 0
    index = faiss.read_index(str(path), flags) if flags else faiss.read_index(str(path))
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    if isinstance(inner, faiss.IndexHNSW) and os.environ.get("YUWEN_HNSW_EF_SEARCH"):
        from .config import Settings

        inner.hnsw.efSearch = Settings().hnsw_ef_search  # a search-time setting: applies to built indexes too
    return index


def search_vectors(index: faiss.Index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids and cosine scores of the ``k`` nearest vectors to one query vector, best first."""
    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
    keep = ids[0] >= 0
    return ids[0][keep], scores[0][keep]


def set_threads(n: int) -> None:
    """FAISS's OpenMP threads for searches in this process."""
    faiss.omp_set_num_threads(n)


def index_ids(index: faiss.Index) -> np.ndarray:
    """The ids an index holds (its id map's, else 0..n-1)."""
    return faiss.vector_to_array(index.id_map) if hasattr(index, "id_map") else np.arange(index.ntotal)


def reconstruct(index: faiss.Index, row: int) -> np.ndarray | None:
    """The vector stored under id ``row``, or None for an index kind that keeps no vectors."""
    try:
        return np.asarray(index.reconstruct(int(row)), dtype=np.float32)
    except RuntimeError:  # IVF-PQ without a direct map
        return None


def reconstruct_all(index: faiss.Index) -> np.ndarray | None:
    """Every vector by id 0..n-1 when the index can give them back exactly (flat, HNSW); else None."""
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    if not isinstance(inner, (faiss.IndexFlat, faiss.IndexHNSWFlat)) or index.ntotal == 0:
        return None
    try:
        ids = index_ids(index)
        if not np.array_equal(ids, np.arange(len(ids))):
            return None
        return inner.reconstruct_n(0, inner.ntotal)
    except Exception:  # an index kind that cannot give its vectors back
        log.info("stored passage vectors cannot be reconstructed", exc_info=True)
        return None
