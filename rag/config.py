"""Settings that choose the swappable parts; defaults, overridden by YUWEN_* variables or flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .chunking import ChunkSettings
from .embedders import DEFAULT_EMBEDDER


@dataclass
class Settings:
    """One place for every choice the pipeline makes."""

    corpus_dir: Path = field(default_factory=lambda: Path(os.environ.get("YUWEN_CORPUS", "corpus")))
    index_dir: Path = field(default_factory=lambda: Path(os.environ.get("YUWEN_INDEX", "index")))
    embedder: str = field(default_factory=lambda: os.environ.get("YUWEN_EMBEDDER", DEFAULT_EMBEDDER))
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    vector_kind: str = field(default_factory=lambda: os.environ.get("YUWEN_VECTOR_INDEX", "auto"))
    # The answer reader's parameters (default: rag/answer/reader.json), e.g. one refitted by `rag train --out`.
    reader: str | None = field(default_factory=lambda: os.environ.get("YUWEN_READER") or None)
    top_k: int = 5
    mode: str = "hybrid"
    backend: str = "extractive"
    # FAISS HNSW (the local store's index past 50k passages): links per node, build and search breadth.
    hnsw_m: int = field(default_factory=lambda: int(os.environ.get("YUWEN_HNSW_M", "32")))
    hnsw_ef_construction: int = field(default_factory=lambda: int(os.environ.get("YUWEN_HNSW_EF_CONSTRUCTION", "80")))
    hnsw_ef_search: int = field(default_factory=lambda: int(os.environ.get("YUWEN_HNSW_EF_SEARCH", "128")))
    # Where the index lives: local (the index folder), milvus-lite:///path/file.db or http://host:19530.
    store: str = field(default_factory=lambda: os.environ.get("YUWEN_STORE", "local"))
    milvus_token: str = field(default_factory=lambda: os.environ.get("YUWEN_MILVUS_TOKEN", ""))
    # Milvus vector index: auto (FLAT up to 50k passages, HNSW beyond), FLAT, HNSW or IVF_FLAT.
    milvus_index: str = field(default_factory=lambda: os.environ.get("YUWEN_MILVUS_INDEX", "auto"))
    milvus_hnsw_m: int = field(default_factory=lambda: int(os.environ.get("YUWEN_MILVUS_HNSW_M", "32")))
    milvus_hnsw_ef: int = field(default_factory=lambda: int(os.environ.get("YUWEN_MILVUS_HNSW_EF", "128")))
    # BM25 tokens in Milvus: yuwen (our jieba tokens, as the local store) or jieba (Milvus's own analyser).
    milvus_analyzer: str = field(default_factory=lambda: os.environ.get("YUWEN_MILVUS_ANALYZER", "yuwen"))
    # Hybrid fusion: client (our three-way RRF, as local) or server (Milvus's RRFRanker over dense + BM25).
    milvus_fusion: str = field(default_factory=lambda: os.environ.get("YUWEN_MILVUS_FUSION", "client"))
