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
