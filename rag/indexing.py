"""Build the index of a corpus: ingest, chunk, embed, BM25, write atomically."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from .bm25 import build_bm25
from .chunking import ChunkSettings, chunk_articles
from .config import Settings
from .embedders import load_embedder
from .ingest import load_corpus
from .store import FORMAT_VERSION, Manifest, corpus_fingerprint, write_index
from .vectors import build_vectors, choose_kind

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


class CorpusEmptyError(RuntimeError):
    """No article could be read from the corpus."""


def build_index(
    corpus_dir: Path | str = "corpus",
    index_dir: Path | str = "index",
    embedder: str | None = None,
    chunking: ChunkSettings | None = None,
    vector_kind: str | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Index every readable file of ``corpus_dir`` into ``index_dir`` and return the manifest.

    ``progress(fraction, message)`` is called as work advances. Files that cannot be read are
    reported in the manifest's ``errors`` and skipped; the previous index stays live until the
    new one is complete."""
    settings = Settings()
    embedder_name = embedder or settings.embedder
    chunking = chunking or settings.chunking
    vector_kind = vector_kind or settings.vector_kind
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    if not corpus_dir.is_dir():
        raise CorpusEmptyError(f"Corpus folder {corpus_dir}/ does not exist.")

    report(0.0, f"reading {corpus_dir}/")
    fingerprint = corpus_fingerprint(corpus_dir)
    articles, errors = load_corpus(corpus_dir)
    for err in errors:
        log.warning("skipped: %s", err)
    if not articles:
        detail = "; ".join(str(e) for e in errors) or "no .txt or .md files"
        raise CorpusEmptyError(f"No article could be read from {corpus_dir}/ ({detail}).")

    report(0.02, f"loading embedder {embedder_name}")
    model = load_embedder(embedder_name)
    chunks = chunk_articles(articles, model.count_tokens, chunking)
    report(0.05, f"{len(articles)} articles, {len(chunks)} passages; embedding")

    def on_batch(done: int, total: int) -> None:
        report(0.05 + 0.9 * done / max(total, 1), f"embedded {done}/{total} passages")

    vectors = model.encode_passages([c.embed_text() for c in chunks], progress=on_batch)
    report(0.95, "building BM25 and vector indexes")
    bm25 = build_bm25([c.embed_text() for c in chunks])
    kind = choose_kind(len(chunks)) if vector_kind == "auto" else vector_kind
    vector_index = build_vectors(vectors, kind)
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        embedder=embedder_name,
        embedder_id=model.id,
        dim=model.dim,
        chunking=chunking.as_dict(),
        vector_kind=kind,
        corpus=fingerprint,
        articles=len(articles),
        chunks=len(chunks),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        build_seconds=round(time.perf_counter() - started, 2),
        errors=[str(e) for e in errors],
    )
    write_index(index_dir, manifest, articles, chunks, vector_index, bm25)
    report(1.0, f"index ready: {len(articles)} articles, {len(chunks)} passages")
    return manifest
