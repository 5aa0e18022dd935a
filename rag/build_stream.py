"""A streamed, resumable build for corpora too big to hold: articles in, batches out.

Pages are read one at a time, their articles chunked, embedded and written in batches of about
``batch`` texts (passages and answer sentences), so no more than one batch of chunks and vectors
(or one article's, if bigger) is ever in memory. The store writer (store_stream.LocalStreamWriter
or store_milvus.MilvusStreamWriter) records each batch with the content key of every article in
it; a build that was killed resumes after the last recorded article, as long as the articles
come in the same order with the same content (the first one that differs, and all after it, are
done again). The previous index stays live until the end (local store: ``CURRENT`` switches
last). Unlike :func:`rag.indexing.build_index` it reuses no vector of the live build: it is for
first builds of big corpora and full rebuilds; ``rag index`` without ``--stream`` updates
incrementally."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .chunking import ChunkSettings, chunk_article
from .config import Settings
from .documents import Article, Chunk
from .indexing import CorpusEmptyError, content_key
from .ingest import IngestError, ingest_file, list_corpus
from .lexical import bm25_tokens
from .store import FORMAT_VERSION, IndexIncompatibleError, IndexMissingError, Manifest, file_sha256
from .stores import backend_of, check_server, current_spec, open_store
from .units import answer_units
from .vectors import choose_kind
from .writelock import WriteLock

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
DEFAULT_BATCH = 512  # texts per batch: ~1.5 MB of e5-small vectors; the embedder's own batches are smaller


@dataclass
class Batch:
    """Articles with their passages and answer sentences, embedded: what a writer appends at once.
    ``pairs`` links positions in ``units`` to positions in ``chunks`` (a sentence and a passage holding it)."""

    articles: list[Article]
    keys: list[str]
    chunks: list[Chunk] = field(default_factory=list)
    vectors: np.ndarray | None = None
    tokens: list[list[str]] = field(default_factory=list)
    units: list[tuple[str, int, int]] = field(default_factory=list)
    unit_vectors: np.ndarray | None = None
    pairs: list[tuple[int, int]] = field(default_factory=list)


def article_key(a: Article) -> str:
    """What says an article of a partial build is the one the corpus gives now: id, file and content."""
    return hashlib.sha256("\x00".join((a.id, a.file, content_key(a))).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def stream_index(
    corpus_dir: Path | str = "corpus",
    index_dir: Path | str = "index",
    embedder: str | None = None,
    chunking: ChunkSettings | None = None,
    vector_kind: str | None = None,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    command: str = "rag index --stream",
) -> Manifest:
    """Build the index of every readable page of ``corpus_dir`` in batches (resuming a killed
    streamed build); return the manifest. Files and articles left out with `rag remove` stay out."""
    started = time.perf_counter()
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    if not corpus_dir.is_dir():
        raise CorpusEmptyError(f"Corpus folder {corpus_dir}/ does not exist.")
    with WriteLock(index_dir, command):
        files, errors = list_corpus(corpus_dir)
        excluded = _live_exclusions(index_dir)
        fingerprint = {f.rel: file_sha256(f.path) for f in files}
        sizes = {f.rel: max(f.path.stat().st_size, 1) for f in files}

        def articles() -> Iterator[tuple[Article, float]]:
            for f in files:
                if f.rel in excluded["files"]:
                    continue
                try:
                    found = [a for a in ingest_file(f) if a.id not in excluded["articles"]]
                except IngestError as e:
                    log.warning("skipped: %s", e)
                    errors.append(e)
                    continue
                for a in found:
                    yield a, sizes[f.rel] / len(found)

        return _stream(articles(), index_dir, embedder=embedder, chunking=chunking, vector_kind=vector_kind,
                       batch=batch, progress=progress, fingerprint=fingerprint, errors=errors,
                       excluded={k: sorted(v) for k, v in excluded.items()}, started=started,
                       total=float(sum(sizes[f.rel] for f in files if f.rel not in excluded["files"])))


def _live_exclusions(index_dir: Path) -> dict[str, set[str]]:
    try:
        reader = open_store(index_dir, verify=False)
    except (IndexMissingError, IndexIncompatibleError):
        return {"files": set(), "articles": set()}
    try:
        ex = reader.manifest.excluded or {}
    finally:
        reader.close()
    return {"files": set(ex.get("files", [])), "articles": set(ex.get("articles", []))}


def stream_articles(
    articles: Iterable[Article | tuple[Article, float]],
    index_dir: Path | str,
    embedder: str | None = None,
    chunking: ChunkSettings | None = None,
    vector_kind: str | None = None,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    fingerprint: dict[str, str] | None = None,
    errors: list | None = None,
    excluded: dict | None = None,
    started: float | None = None,
    total: float | None = None,
    model=None,
    store: str | None = None,
) -> Manifest:
    """Chunk, embed and write ``articles`` (each optionally with its share of ``total`` work, for
    progress) into the store ``store`` (default: ``YUWEN_STORE``) of ``index_dir`` batch by batch;
    return the manifest. ``model`` is an embedder object to use instead of loading ``embedder``
    (what a benchmark or test passes)."""
    with WriteLock(index_dir, "rag index --stream"):
        return _stream(articles, index_dir, embedder, chunking, vector_kind, batch, progress, fingerprint, errors,
                       excluded, started, total, model, store)


def _stream(articles, index_dir, embedder=None, chunking=None, vector_kind=None, batch=DEFAULT_BATCH, progress=None,
            fingerprint=None, errors=None, excluded=None, started=None, total=None, model=None, store=None) -> Manifest:
    settings = Settings()
    embedder_name = embedder or settings.embedder
    chunking = chunking or settings.chunking
    vector_kind = vector_kind or settings.vector_kind
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter() if started is None else started
    index_dir = Path(index_dir)
    spec = current_spec(store)
    if batch < 1:
        raise ValueError("the batch size must be at least 1 text")
    check_server(spec)  # before the embedder loads: an unreachable or too old server is said at once
    if model is None:
        from .embedders import load_embedder

        report(0.0, f"loading embedder {embedder_name}")
        model = load_embedder(embedder_name)
    info = {"format": FORMAT_VERSION, "embedder": embedder_name, "embedder_id": model.id, "dim": int(model.dim),
            "chunking": chunking.as_dict(), "vector_kind": vector_kind}
    if backend_of(spec) == "local":
        from .store_stream import LocalStreamWriter

        writer = LocalStreamWriter(index_dir, info)
    else:
        from .store_milvus import MilvusStreamWriter

        writer = MilvusStreamWriter(index_dir, spec, info)
    try:
        done = writer.done()
        clock = _Clock(total, started)
        matched, diverged = 0, False
        pending: list[tuple[Article, str, list[Chunk], list[tuple[str, int, int]], list[tuple[int, int]]]] = []
        size = 0
        for item in articles:
            a, weight = item if isinstance(item, tuple) else (item, 1.0)
            key = article_key(a)
            if not diverged and matched < len(done) and done[matched] == (a.id, key):
                matched += 1  # written by the build this one resumes
                clock.skip(weight)
                continue
            if not diverged:
                diverged = True
                writer.keep(matched)
            chunks = chunk_article(a, model.count_tokens, chunking)
            units = [(a.id, s, e) for s, e, _ in answer_units(a)]
            pairs = [(u, c) for u, (_, s, e) in enumerate(units) for c, ch in enumerate(chunks)
                     if ch.start <= s and e <= ch.end]
            pending.append((a, key, chunks, units, pairs))
            size += len(chunks) + len(units)
            clock.add(weight)
            if size >= batch:
                _flush(pending, writer, model, batch)
                pending, size = [], 0
                report(*clock.status(writer.counts()))
        if pending:
            _flush(pending, writer, model, batch)
        if not diverged:
            writer.keep(matched)  # the corpus now ends earlier than the partial build did
        n_articles, n_chunks, n_sentences = writer.counts()
        if not n_chunks:
            detail = "; ".join(str(e) for e in errors or []) or "no article"
            raise CorpusEmptyError(f"No article could be read ({detail}).")
        kind = choose_kind(n_chunks) if vector_kind == "auto" else vector_kind
        report(0.96, f"{n_articles} articles, {n_chunks} passages written; building the {kind} and BM25 indexes")
        manifest = Manifest(
            format_version=FORMAT_VERSION, embedder=embedder_name, embedder_id=model.id, dim=int(model.dim),
            chunking=chunking.as_dict(), vector_kind=kind, corpus=fingerprint or {}, articles=n_articles,
            chunks=n_chunks, built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), errors=[str(e) for e in errors or []],
            sentences=n_sentences, embedder_precision=getattr(model, "precision", ""),
            excluded=excluded or {"files": [], "articles": []},
            update={"full": True, "streamed": True, "resumed": matched, "batch": batch},
        )
        manifest.build_seconds = round(time.perf_counter() - started, 2)
        writer.finish(manifest)
    except BaseException:
        writer.close()  # what was recorded stays for the next run to resume
        raise
    report(1.0, f"index ready: {n_articles} articles, {n_chunks} passages ({matched} articles resumed)")
    return manifest


def _flush(pending, writer, model, batch: int) -> None:
    """Embed the pending articles' texts (at most ``batch`` per call) and hand them to ``writer``."""
    out = Batch(articles=[p[0] for p in pending], keys=[p[1] for p in pending])
    sentence_texts: list[str] = []
    for a, _, chunks, units, pairs in pending:
        c0, u0 = len(out.chunks), len(out.units)
        out.chunks.extend(chunks)
        out.units.extend(units)
        out.pairs.extend((u0 + u, c0 + c) for u, c in pairs)
        sentence_texts.extend(a.text[s:e] for _, s, e in units)
    texts = [c.embed_text() for c in out.chunks] + sentence_texts
    vectors = np.concatenate([model.encode_passages(texts[i:i + batch]) for i in range(0, len(texts), batch)]) \
        if texts else np.zeros((0, int(model.dim)), dtype=np.float32)
    out.vectors, out.unit_vectors = vectors[: len(out.chunks)], vectors[len(out.chunks):]
    out.tokens = [bm25_tokens(c.embed_text()) for c in out.chunks]
    writer.add(out)


class _Clock:
    """Progress and ETA from the share of the work done in this run."""

    def __init__(self, total: float | None, started: float):
        self.total, self.started = total, started
        self.skipped = self.done = 0.0
        self.run_started = time.perf_counter()

    def skip(self, weight: float) -> None:
        self.skipped += weight
        self.run_started = time.perf_counter()

    def add(self, weight: float) -> None:
        self.done += weight

    def status(self, counts: tuple[int, int, int]) -> tuple[float, str]:
        n_articles, n_chunks, _ = counts
        msg = f"{n_articles} articles, {n_chunks} passages"
        if not self.total:
            return 0.5, msg
        fraction = min((self.skipped + self.done) / self.total, 1.0)
        elapsed = time.perf_counter() - self.run_started
        left = self.total - self.skipped - self.done
        if self.done > 0 and left > 0:
            eta = elapsed * left / self.done
            msg += f"; ETA {int(eta // 60)}m{int(eta % 60):02d}s"
        return 0.95 * fraction, msg
