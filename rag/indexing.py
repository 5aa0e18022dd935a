"""Build the index of a corpus: ingest, chunk, embed, BM25, write atomically."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from .units import answer_units
from .bm25 import build_bm25
from .chunking import ChunkSettings, chunk_articles
from .config import Settings
from .documents import Article, Chunk
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
    return build_index_from_articles(
        articles,
        index_dir,
        embedder=embedder_name,
        chunking=chunking,
        vector_kind=vector_kind,
        progress=report,
        fingerprint=fingerprint,
        errors=errors,
        started=started,
    )


def build_index_from_articles(
    articles: list[Article],
    index_dir: Path | str,
    embedder: str | None = None,
    chunking: ChunkSettings | None = None,
    vector_kind: str | None = None,
    progress: Progress | None = None,
    fingerprint: dict[str, str] | None = None,
    errors: list | None = None,
    started: float | None = None,
) -> Manifest:
    """Chunk, embed and index ready-made ``articles`` into ``index_dir``; return the manifest.

    The second half of :func:`build_index`, for articles that come from elsewhere than a corpus
    folder (e.g. a benchmark's passages). ``fingerprint`` is recorded as the manifest's corpus
    (file -> sha256), ``errors`` as its skipped files, ``started`` (a ``perf_counter`` time) as
    the start of the build."""
    settings = Settings()
    embedder_name = embedder or settings.embedder
    chunking = chunking or settings.chunking
    vector_kind = vector_kind or settings.vector_kind
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter() if started is None else started
    index_dir = Path(index_dir)
    fingerprint = fingerprint or {}
    errors = errors or []
    if not articles:
        raise CorpusEmptyError("No article to index.")

    report(0.02, f"loading embedder {embedder_name}")
    model = load_embedder(embedder_name)
    chunks = chunk_articles(articles, model.count_tokens, chunking)
    report(0.05, f"{len(articles)} articles, {len(chunks)} passages; embedding")

    def on_batch(done: int, total: int) -> None:
        report(0.05 + 0.9 * done / max(total, 1), f"embedded {done}/{total} passages")

    # The sentences an answer can quote are embedded now, so that answering needs no encoding
    # beyond the question's own.
    units = [(a.id, s, e) for a in articles for s, e, _ in answer_units(a)]
    by_id = {a.id: a for a in articles}
    texts = [c.embed_text() for c in chunks] + [by_id[a].text[s:e] for a, s, e in units]
    all_vectors = model.encode_passages(texts, progress=on_batch)
    vectors, sentence_vectors = all_vectors[: len(chunks)], all_vectors[len(chunks) :]
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
        sentences=len(units),
        embedder_precision=model.precision,
    )
    write_index(
        index_dir, manifest, articles, chunks, vector_index, bm25, units, sentence_vectors,
        sentence_chunks=_sentence_chunks(units, chunks),
    )
    report(1.0, f"index ready: {len(articles)} articles, {len(chunks)} passages")
    return manifest


def _sentence_chunks(units: list[tuple[str, int, int]], chunks: list[Chunk]) -> list[tuple[int, int]]:
    """(sentence row, chunk row) for every chunk that holds the sentence (overlaps give two)."""
    by_article: dict[str, list[tuple[int, Chunk]]] = {}
    for row, c in enumerate(chunks):
        by_article.setdefault(c.article_id, []).append((row, c))
    pairs = []
    for srow, (aid, s, e) in enumerate(units):
        for crow, c in by_article.get(aid, []):
            if c.start <= s and e <= c.end:
                pairs.append((srow, crow))
    return pairs
