"""Build the index of a corpus: ingest, chunk, embed, BM25, write atomically; incrementally.

Every build is written whole into a new folder and switched in by ``CURRENT`` (see store.py),
but only what changed is computed again: pages whose bytes did not change keep their articles,
articles whose text did not change keep their passages, and every passage or answer sentence
whose text the live build already embedded keeps its vector. One writer at a time holds the
folder's lock (writelock.py)."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .chunking import ChunkSettings, chunk_article
from .config import Settings
from .documents import Article, Chunk
from .ingest import IngestError, id_prefix, ingest_file, list_corpus
from .store import (
    FORMAT_VERSION,
    IndexIncompatibleError,
    IndexMissingError,
    Manifest,
    file_sha256,
    remove_stale_builds,
)
from .stores import Store, backend_of, check_server, current_spec, open_store, write_store
from .units import answer_units
from .vectors import choose_kind
from .writelock import WriteLock

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


class CorpusEmptyError(RuntimeError):
    """No article could be read from the corpus."""


class UpdateError(ValueError):
    """`rag add` / `rag remove` was given something it cannot add or remove."""


def build_index(
    corpus_dir: Path | str = "corpus",
    index_dir: Path | str = "index",
    embedder: str | None = None,
    chunking: ChunkSettings | None = None,
    vector_kind: str | None = None,
    progress: Progress | None = None,
    full: bool = False,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    command: str = "rag index",
) -> Manifest:
    """Bring the index in ``index_dir`` up to date with every readable file of ``corpus_dir``;
    return the manifest of the live build (its ``update`` says what changed).

    Only what changed is embedded again, unless ``full``. ``exclude`` names corpus files or
    article ids to leave out from now on (``rag remove``), ``include`` files to take back
    (``rag add``); both persist in the manifest. ``progress(fraction, message)`` is called as work
    advances. Unreadable files are reported in the manifest's ``errors`` and skipped; the previous
    index stays live until the new one is complete."""
    settings = Settings()
    embedder_name = embedder or settings.embedder
    chunking = chunking or settings.chunking
    vector_kind = vector_kind or settings.vector_kind
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    if not corpus_dir.is_dir():
        raise CorpusEmptyError(f"Corpus folder {corpus_dir}/ does not exist.")

    with WriteLock(index_dir, command):
        _remove_stale(index_dir)
        prev = None if full else _Previous.open(index_dir, embedder_name, chunking)
        report(0.0, f"reading {corpus_dir}/")
        files, errors = list_corpus(corpus_dir)
        fingerprint = {f.rel: file_sha256(f.path) for f in files}
        include = set(include)
        excluded_files, excluded_articles = _exclusions(index_dir, prev, include, set(exclude), set(fingerprint))
        articles: list[Article] = []
        for f in files:
            if f.rel in excluded_files:
                continue
            kept = prev.articles_of_unchanged_file(f.rel, fingerprint[f.rel], f.prefix) if prev and f.rel not in include \
                else None
            if kept is not None:
                articles.extend(kept)
                continue
            try:
                articles.extend(ingest_file(f))
            except IngestError as e:
                errors.append(e)
        for err in errors:
            log.warning("skipped: %s", err)
        articles = [a for a in articles if a.id not in excluded_articles]
        if not articles:
            detail = "; ".join(str(e) for e in errors) or "no .txt or .md files"
            if excluded_files or excluded_articles:
                detail += "; the others were removed with `rag remove`"
            raise CorpusEmptyError(f"No article could be read from {corpus_dir}/ ({detail}).")
        excluded = {"files": sorted(excluded_files), "articles": sorted(excluded_articles)}
        return _build(articles, index_dir, embedder_name, chunking, vector_kind, report, prev, fingerprint,
                      [str(e) for e in errors], excluded, started)


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
    the start of the build. Texts the live build already embedded are not embedded again."""
    settings = Settings()
    embedder_name = embedder or settings.embedder
    chunking = chunking or settings.chunking
    vector_kind = vector_kind or settings.vector_kind
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter() if started is None else started
    index_dir = Path(index_dir)
    if not articles:
        raise CorpusEmptyError("No article to index.")
    with WriteLock(index_dir, "rag index"):
        _remove_stale(index_dir)
        prev = _Previous.open(index_dir, embedder_name, chunking)
        return _build(articles, index_dir, embedder_name, chunking, vector_kind, report, prev, fingerprint or {},
                      [str(e) for e in errors or []], {}, started)


def add_to_index(paths: Iterable[Path | str], corpus_dir: Path | str, index_dir: Path | str, **kwargs) -> Manifest:
    """Copy the pages ``paths`` (files, or folders of pages) into ``corpus_dir`` when they are not
    in it already, take back any that `rag remove` had left out, and update the index.

    A page whose name is taken in the corpus by a different file is refused (UpdateError); nothing
    in the corpus is overwritten."""
    import shutil

    corpus_dir = Path(corpus_dir)
    root = corpus_dir.resolve()
    plan: list[tuple[Path, Path]] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UpdateError(f"{path} does not exist.")
        pages = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower()
                                                      in (".txt", ".md"))
        if not pages:
            raise UpdateError(f"{path} holds no .txt or .md page.")
        for page in pages:
            real = page.resolve()
            if root in real.parents:
                plan.append((page, real))
                continue
            target = corpus_dir / page.name
            if target.exists() and (not target.is_file() or file_sha256(target) != file_sha256(page)):
                raise UpdateError(f"{target} already exists and differs from {page}: edit it in place and run "
                                  "`rag index`, or give the page another name.")
            plan.append((page, target))
    for stale in corpus_dir.glob(".*.adding") if corpus_dir.is_dir() else ():
        stale.unlink(missing_ok=True)  # left by a killed `rag add`: never a page, never the user's
    for source, target in plan:
        if target.exists():
            continue
        tmp = target.with_name(f".{target.name}.adding")  # hidden: never read as a page half copied
        try:
            corpus_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp)
            tmp.replace(target)
        except OSError as exc:
            if tmp.parent.is_dir():
                tmp.unlink(missing_ok=True)
            raise UpdateError(f"Cannot copy {source} into {corpus_dir}/ ({exc.strerror or exc}); nothing was added.") from exc
    rels = [t.resolve().relative_to(root).as_posix() for _, t in plan]
    return build_index(corpus_dir, index_dir, include=rels, command="rag add", **kwargs)


def remove_from_index(items: Iterable[str], corpus_dir: Path | str, index_dir: Path | str, **kwargs) -> Manifest:
    """Leave the corpus files or articles ``items`` (a file name or path in the corpus, or an
    article id) out of the index from now on, and update it. The files themselves are not
    touched; `rag add FILE` takes a file back."""
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    reader = open_store(index_dir, verify=False)
    try:
        articles = reader.articles()
        files = {a.file for a in articles.values()}
    finally:
        reader.close()
    root = corpus_dir.resolve()
    names = []
    for item in items:
        if item in articles or item in files:
            names.append(item)
            continue
        real = Path(item).resolve()
        rel = real.relative_to(root).as_posix() if root in real.parents else None
        if rel in files:
            names.append(rel)
            continue
        raise UpdateError(f"'{item}' is neither an article id nor a file in the index: `rag articles` lists them.")
    return build_index(corpus_dir, index_dir, exclude=names, command="rag remove", **kwargs)


def _exclusions(index_dir: Path, prev: "_Previous | None", include: set[str], exclude: set[str],
                files: set[str]) -> tuple[set[str], set[str]]:
    """The files and article ids left out from now on: those the live build left out (even when
    it is not reused, e.g. with ``--full``), less the files taken back, plus ``exclude``."""
    try:
        before = (prev.manifest if prev else _live_manifest(index_dir)).excluded or {}
    except (IndexMissingError, IndexIncompatibleError):
        before = {}
    new_files = {x for x in exclude if x in files or x.lower().endswith((".txt", ".md"))}
    excluded_files = (set(before.get("files", [])) - include) | new_files
    # An article id is its page's prefix, "-" and its number: a page taken back takes its articles back.
    prefixes = {id_prefix(f) for f in include} | {f.rsplit(".", 1)[0] for f in include}
    excluded_articles = {a for a in before.get("articles", []) if a.rsplit("-", 1)[0] not in prefixes}
    excluded_articles |= exclude - new_files
    return excluded_files, excluded_articles


def _remove_stale(index_dir: Path) -> None:
    """Leftover build folders go (the local store's; a Milvus store keeps no folders)."""
    if backend_of(current_spec()) == "local":
        remove_stale_builds(index_dir)


def _live_manifest(index_dir: Path) -> Manifest:
    reader = open_store(index_dir, verify=False)
    try:
        return reader.manifest
    finally:
        reader.close()


def content_key(a: Article) -> str:
    """What an article's passages and their vectors depend on: title, byline and text."""
    return hashlib.sha256("\x00".join((a.title, a.byline or "", a.text)).encode("utf-8", "surrogatepass")).hexdigest()


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass
class _Previous:
    """The live build, opened to reuse what it holds."""

    reader: Store
    manifest: Manifest
    articles: dict[str, Article]
    chunks_by_article: dict[str, list[Chunk]] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    passage_vectors: np.ndarray | None = None
    sentence_vectors: np.ndarray | None = None
    passage_rows: dict[bytes, int] = field(default_factory=dict)
    sentence_rows: dict[bytes, int] = field(default_factory=dict)

    @classmethod
    def open(cls, index_dir: Path, embedder: str, chunking: ChunkSettings) -> "_Previous | None":
        """The live build when its vectors can be reused (same embedder, chunker and format, not
        damaged); None otherwise."""
        try:
            reader = open_store(index_dir)
        except IndexMissingError:
            return None
        except IndexIncompatibleError as exc:
            log.warning("building afresh: %s", exc)
            return None
        m = reader.manifest
        if m.embedder != embedder or m.chunking != chunking.as_dict():
            log.info("building afresh: the live build used embedder %s, chunking %s", m.embedder, m.chunking)
            reader.close()
            return None
        articles = reader.articles()
        chunks = reader.all_chunks()
        prev = cls(reader=reader, manifest=m, articles=articles)
        for c in chunks:
            prev.chunks_by_article.setdefault(c.article_id, []).append(c)
        prev.by_key = {content_key(a): aid for aid, a in articles.items()}
        prev.passage_vectors = reader.passage_vectors()
        if prev.passage_vectors is not None:
            prev.passage_rows = {_text_key(c.embed_text()): row for row, c in enumerate(chunks)}
        prev.sentence_vectors = reader.stored_sentence_vectors()
        if prev.sentence_vectors is not None:
            prev.sentence_rows = {_text_key(articles[aid].text[s:e]): row
                                  for row, (aid, s, e) in enumerate(reader.sentence_spans()) if aid in articles}
        return prev

    def articles_of_unchanged_file(self, rel: str, sha: str, prefix: str) -> list[Article] | None:
        """The stored articles of page ``rel`` when its bytes and id prefix are what the live build read."""
        if self.manifest.corpus.get(rel) != sha:
            return None
        found = [a for a in self.articles.values() if a.file == rel]
        if not found or not all(a.id.startswith(prefix + "-") for a in found):
            return None  # read again: it gave no article last time, or its ids would differ now
        return found

    def close(self) -> None:
        self.reader.close()


class _ModelChanged(Exception):
    """The embedder's name now loads another model than the live build's vectors came from."""


def _build(
    articles: list[Article],
    index_dir: Path,
    embedder_name: str,
    chunking: ChunkSettings,
    vector_kind: str,
    report: Progress,
    prev: _Previous | None,
    fingerprint: dict[str, str],
    errors: list[str],
    excluded: dict,
    started: float,
) -> Manifest:
    """Passages, vectors and indexes of ``articles``, reusing what ``prev`` holds; written as a new build."""
    check_server()  # an unreachable or too old server is said before anything is embedded
    try:
        return _build_once(articles, index_dir, embedder_name, chunking, vector_kind, report, prev, fingerprint, errors,
                           excluded, started)
    except _ModelChanged:
        log.warning("embedder %s now loads another model than the live build used: embedding everything", embedder_name)
        return _build_once(articles, index_dir, embedder_name, chunking, vector_kind, report, None, fingerprint, errors,
                           excluded, started)
    finally:
        if prev is not None:
            prev.close()


def _build_once(
    articles: list[Article],
    index_dir: Path,
    embedder_name: str,
    chunking: ChunkSettings,
    vector_kind: str,
    report: Progress,
    prev: _Previous | None,
    fingerprint: dict[str, str],
    errors: list[str],
    excluded: dict,
    started: float,
) -> Manifest:
    model = None

    def embedder():
        nonlocal model
        if model is None:
            from .embedders import load_embedder

            report(0.02, f"loading embedder {embedder_name}")
            model = load_embedder(embedder_name)
            if prev is not None and (model.id, model.dim) != (prev.manifest.embedder_id, prev.manifest.dim):
                raise _ModelChanged
        return model

    chunks: list[Chunk] = []
    kept_ids, changed_ids = [], []
    for a in articles:
        old_id = None
        if prev is not None:
            key = content_key(a)
            if a.id in prev.articles and content_key(prev.articles[a.id]) == key:
                old_id = a.id
            else:
                old_id = prev.by_key.get(key)
        if old_id is not None and old_id in prev.chunks_by_article:
            chunks.extend(replace(c, id=f"{a.id}:{c.ordinal:03d}", article_id=a.id, file=a.file, title=a.title,
                                  byline=a.byline) for c in prev.chunks_by_article[old_id])
            kept_ids.append(a.id)
        else:
            chunks.extend(chunk_article(a, embedder().count_tokens, chunking))
            changed_ids.append(a.id)
    # The sentences an answer can quote are embedded now, so that answering needs no encoding
    # beyond the question's own.
    units = [(a.id, s, e) for a in articles for s, e, _ in answer_units(a)]
    by_id = {a.id: a for a in articles}
    passage_texts = [c.embed_text() for c in chunks]
    sentence_texts = [by_id[aid].text[s:e] for aid, s, e in units]

    vectors, p_missing = _reuse(passage_texts, prev.passage_vectors if prev else None, prev.passage_rows if prev else {})
    sentence_vectors, s_missing = _reuse(sentence_texts, prev.sentence_vectors if prev else None,
                                         prev.sentence_rows if prev else {})
    todo = [passage_texts[i] for i in p_missing] + [sentence_texts[i] for i in s_missing]
    old_ids = set(prev.articles) if prev else set()
    new_ids = [a.id for a in articles]
    added = [i for i in new_ids if i not in old_ids]
    removed = sorted(old_ids - set(new_ids))
    update = {
        "added": added, "removed": removed, "reembedded": changed_ids, "kept": len(kept_ids),
        "embedded_texts": len(todo), "reused_texts": len(passage_texts) + len(sentence_texts) - len(todo),
        "full": prev is None,
    }
    kind = choose_kind(len(chunks)) if vector_kind == "auto" else vector_kind
    if prev is not None and not todo and _same_build(prev, articles, chunks, fingerprint, errors, excluded, kind):
        report(1.0, "index up to date")
        return replace(prev.manifest, update={**update, "unchanged": True})

    # Say what the embedded texts are: passages and answer sentences together outnumber the
    # passages the status shows (e.g. 748 texts for 148 passages).
    what = f"{len(p_missing)} passages + {len(s_missing)} answer sentences"
    report(0.05, f"{len(articles)} articles, {len(chunks)} passages; embedding {what} "
                 f"({update['reused_texts']} vectors reused)")

    def on_batch(done: int, total: int) -> None:
        report(0.05 + 0.9 * done / max(total, 1), f"embedded {done} of {total} texts ({what})")

    if todo:
        fresh = embedder().encode_passages(todo, progress=on_batch)
        dim = fresh.shape[1]
        vectors = _fill(vectors, p_missing, fresh[: len(p_missing)], dim)
        sentence_vectors = _fill(sentence_vectors, s_missing, fresh[len(p_missing):], dim)
    report(0.95, "writing BM25 and vector indexes")
    if model is not None:
        embedder_id, dim, precision = model.id, model.dim, model.precision
    else:
        embedder_id, dim, precision = prev.manifest.embedder_id, prev.manifest.dim, prev.manifest.embedder_precision
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        embedder=embedder_name,
        embedder_id=embedder_id,
        dim=dim,
        chunking=chunking.as_dict(),
        vector_kind=kind,
        corpus=fingerprint,
        articles=len(articles),
        chunks=len(chunks),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        build_seconds=round(time.perf_counter() - started, 2),
        errors=errors,
        sentences=len(units),
        embedder_precision=precision,
        excluded=excluded,
        update=update,
    )
    write_store(index_dir, manifest, articles, chunks, vectors, units, sentence_vectors, _sentence_chunks(units, chunks))
    manifest.build_seconds = round(time.perf_counter() - started, 2)
    report(1.0, f"index ready: {len(articles)} articles, {len(chunks)} passages")
    return manifest


def _reuse(texts: list[str], stored: np.ndarray | None, rows: dict[bytes, int]) -> tuple[np.ndarray | None, list[int]]:
    """The stored vector of every text the previous build embedded, and the positions still to embed."""
    if stored is None or not len(texts):
        return None, list(range(len(texts)))
    out = np.zeros((len(texts), stored.shape[1]), dtype=np.float32)
    missing = []
    for i, t in enumerate(texts):
        row = rows.get(_text_key(t))
        if row is None:
            missing.append(i)
        else:
            out[i] = stored[row]
    return out, missing


def _fill(vectors: np.ndarray | None, positions: list[int], fresh: np.ndarray, dim: int) -> np.ndarray:
    if vectors is None:
        vectors = np.zeros((len(positions), dim), dtype=np.float32)
    if positions:
        vectors[positions] = fresh
    return vectors


def _same_build(prev: _Previous, articles: list[Article], chunks: list[Chunk], fingerprint: dict, errors: list[str],
                excluded: dict, kind: str) -> bool:
    """Whether writing would give the live build again (nothing to do)."""
    m = prev.manifest
    return (
        [a.id for a in articles] == list(prev.articles)
        and all(content_key(a) == content_key(prev.articles[a.id]) and a.file == prev.articles[a.id].file for a in articles)
        and len(chunks) == m.chunks
        and fingerprint == m.corpus
        and errors == m.errors
        and excluded == (m.excluded or {"files": [], "articles": []})
        and kind == m.vector_kind
        and bool(m.files)
        and not getattr(prev.reader, "stale_layout", False)
    )


def describe_update(m: Manifest) -> str:
    """One line saying what the last update did: ``+2 articles, −1, 3 re-embedded, 17 kept``."""
    u = m.update or {}
    if u.get("streamed"):
        return (f"indexed {m.articles} articles, {m.chunks} passages with {m.embedder_id} in {m.build_seconds:.1f} s, "
                f"in batches of {u['batch']} texts ({u['resumed']} articles resumed from a killed build)")
    if u.get("unchanged"):
        return f"index up to date: {m.articles} articles, {m.chunks} passages; nothing re-embedded"
    if u.get("full") or not u:
        return f"indexed {m.articles} articles, {m.chunks} passages with {m.embedder_id} in {m.build_seconds:.1f} s"
    return (f"updated in {m.build_seconds:.1f} s: +{len(u['added'])} articles, −{len(u['removed'])}, "
            f"{len(u['reembedded'])} re-embedded, {u['kept']} kept ({u['embedded_texts']} texts embedded, "
            f"{u['reused_texts']} vectors reused); {m.articles} articles, {m.chunks} passages")


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
