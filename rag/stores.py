"""The store seam: what the pipeline reads from and writes to an index, and the registry of backends.

``local`` (the default) is the FAISS + bm25s + SQLite folder of ``store.py``; ``milvus`` keeps the
same records in Milvus collections (``store_milvus.py``), embedded (``milvus-lite:///path/file.db``)
or on a server (``http://host:19530``, token in ``YUWEN_MILVUS_TOKEN``). Chosen by ``--store`` or
``YUWEN_STORE``."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Protocol

import numpy as np

from .documents import Article, Chunk
from .lexical import Frequencies
from .store import IndexMissingError, IndexReader, Manifest, write_local


class StoreError(IndexMissingError):
    """The store is misnamed or cannot be reached; the message says what to do."""


class Store(Protocol):
    """One opened index: search by vector, by words, fetch records, say what it holds."""

    index_dir: Path
    manifest: Manifest
    build_name: str  # what is live: a build folder, or a collection family
    verified_fully: bool

    def dense(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and cosines of the ``n`` passages nearest to ``query``, best first."""

    def sentence_rows(self, query: np.ndarray, n: int) -> list[int]:
        """Passage rows ranked by their best-matching answer sentence."""

    def lexical(self, question: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and BM25 scores of the ``n`` best passages for the words of ``question``."""

    def passage_vector(self, row: int) -> np.ndarray | None: ...
    def chunks(self, rows: Iterable[int]) -> list[Chunk]: ...
    def all_chunks(self) -> list[Chunk]: ...
    def rows_of_articles(self, article_ids: Iterable[str]) -> frozenset[int]: ...
    def articles(self) -> dict[str, Article]:
        """Every article by id, in corpus order: a full read, for listings and index updates."""

    def articles_of(self, article_ids: Iterable[str]) -> dict[str, Article]:
        """The articles of ``article_ids`` that the index holds, by id: what one question reads."""

    def document_frequencies(self) -> tuple[Frequencies, int]:
        """How many passages hold each BM25 token (``tokenize``'s), and how many passages there
        are: what the answer layer's IDF is computed from."""

    def sentence_vector(self, article_id: str, start: int, end: int) -> np.ndarray | None: ...
    def sentence_spans(self) -> list[tuple[str, int, int]]: ...
    def stored_sentence_vectors(self) -> np.ndarray | None: ...
    def passage_vectors(self) -> np.ndarray | None: ...
    def changed(self, every: float = 1.0) -> bool: ...
    def recheck_after(self, seconds: float) -> None: ...
    def check(self) -> list[str]: ...
    def counts(self) -> dict[str, int]: ...
    def close(self) -> None: ...


def backend_of(spec: str) -> str:
    """``local`` or ``milvus`` for a store spec (``local``, ``milvus-lite:///f.db``, ``http(s)://host:port``)."""
    spec = (spec or "local").strip()
    if spec == "local":
        return "local"
    if spec.startswith(("milvus-lite://", "http://", "https://", "tcp://", "grpc://")):
        return "milvus"
    raise StoreError(f"unknown store '{spec}': use local, milvus-lite:///path/to/file.db or http://host:19530")


def current_spec(spec: str | None = None) -> str:
    from .config import Settings

    return spec or Settings().store


def check_server(spec: str | None = None) -> None:
    """StoreError in one line when ``spec`` names a Milvus server that cannot be reached or is too
    old, so that a build says so before it embeds anything (milvus-lite and local need no check)."""
    spec = current_spec(spec)
    if backend_of(spec) == "milvus" and not spec.startswith("milvus-lite://"):
        from .store_milvus import connect

        connect(spec).close()


def open_store(index_dir: Path | str, spec: str | None = None, verify: bool | None = None) -> Store:
    """The index of ``index_dir`` opened in the store ``spec`` (default: ``YUWEN_STORE`` or local)."""
    spec = current_spec(spec)
    if backend_of(spec) == "local":
        return IndexReader(Path(index_dir), verify=verify)
    from .store_milvus import MilvusStore

    return MilvusStore.open(Path(index_dir), spec)


def write_store(index_dir: Path, manifest: Manifest, articles: list[Article], chunks: list[Chunk], vectors: np.ndarray,
                units: list[tuple[str, int, int]], sentence_vectors: np.ndarray | None,
                sentence_chunks: list[tuple[int, int]], spec: str | None = None) -> None:
    """Make ``articles`` with their passages and answer sentences (and vectors) the live content of
    the store. The caller holds the index folder's WriteLock."""
    spec = current_spec(spec)
    if backend_of(spec) == "local":
        write_local(index_dir, manifest, articles, chunks, vectors, units, sentence_vectors, sentence_chunks)
        return
    from .store_milvus import write_milvus

    write_milvus(Path(index_dir), spec, manifest, articles, chunks, vectors, units, sentence_vectors, sentence_chunks)
