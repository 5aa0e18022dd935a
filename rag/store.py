"""The index on disk: vectors, BM25, chunk and article metadata and a manifest, swapped in atomically.

Layout: ``index/CURRENT`` names the live build folder ``index/build-*``. A new build is written
into a fresh folder and becomes live by atomically replacing ``CURRENT``; a crash at any point
leaves the previous build live and intact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from .bm25 import load_bm25, save_bm25
from .documents import Article, Chunk
from .vectors import build_vectors, load_vectors, save_vectors

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: answer sentences with vectors and their own FAISS index
CORPUS_SUFFIXES = (".txt", ".md")


class IndexMissingError(RuntimeError):
    """There is no usable index where one was expected."""


class IndexIncompatibleError(RuntimeError):
    """The index was built with another embedder, chunker or format, or is damaged."""


@dataclass
class Manifest:
    """What an index was built from and with; checked before the index is searched."""

    format_version: int
    embedder: str  # the name it was loaded by (registry name, hub name or path)
    embedder_id: str  # the model actually used
    dim: int
    chunking: dict
    vector_kind: str
    corpus: dict[str, str]  # file -> sha256 of its bytes
    articles: int
    chunks: int
    built_at: str
    build_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    sentences: int = 0  # answer sentences with stored vectors
    embedder_precision: str = ""  # fp32 / bf16 / int8 the vectors were computed in (informative)

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        data = json.loads(text)
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def corpus_fingerprint(corpus_dir: Path) -> dict[str, str]:
    """sha256 of every corpus file, by path relative to ``corpus_dir``."""
    corpus_dir = Path(corpus_dir)
    out = {}
    for path in sorted(corpus_dir.rglob("*")):
        if path.is_file() and path.suffix.lower() in CORPUS_SUFFIXES:
            out[path.relative_to(corpus_dir).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def describe_corpus_change(old: dict[str, str], new: dict[str, str]) -> str | None:
    """A sentence saying which files were added, removed or changed, or None when none were."""
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(f for f in set(old) & set(new) if old[f] != new[f])
    if not (added or removed or changed):
        return None
    parts = []
    for label, files in (("added", added), ("removed", removed), ("changed", changed)):
        if files:
            parts.append(f"{label}: {', '.join(files[:5])}" + (f" (+{len(files) - 5} more)" if len(files) > 5 else ""))
    return "the corpus has changed since the index was built (" + "; ".join(parts) + ")"


_SCHEMA = """
CREATE TABLE articles (id TEXT PRIMARY KEY, file TEXT, title TEXT, byline TEXT, note TEXT,
                       title_inferred INTEGER, text TEXT, segments TEXT, ordinal INTEGER);
CREATE TABLE chunks (row INTEGER PRIMARY KEY, id TEXT UNIQUE, article_id TEXT, ordinal INTEGER,
                     start INTEGER, "end" INTEGER, text TEXT);
CREATE TABLE sentences (row INTEGER PRIMARY KEY, article_id TEXT, start INTEGER, "end" INTEGER);
CREATE TABLE sentence_chunks (sentence_row INTEGER, chunk_row INTEGER);
"""


def write_index(
    index_dir: Path,
    manifest: Manifest,
    articles: Iterable[Article],
    chunks: list[Chunk],
    vectors,  # faiss.Index with ids = chunk rows
    bm25,
    sentences: list[tuple[str, int, int]] | None = None,
    sentence_vectors: np.ndarray | None = None,
    sentence_chunks: list[tuple[int, int]] | None = None,
) -> Path:
    """Write a complete build beside the live one, then make it live atomically. Returns its folder."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    build = index_dir / f"build-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"
    tmp = build.with_name(build.name + ".partial")
    tmp.mkdir()
    try:
        db = sqlite3.connect(tmp / "meta.sqlite")
        db.executescript(_SCHEMA)
        db.executemany(
            "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?)",
            (
                (a.id, a.file, a.title, a.byline, a.note, int(a.title_inferred), a.text, json.dumps(a.segments), i)
                for i, a in enumerate(articles)
            ),
        )
        db.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?)",
            ((row, c.id, c.article_id, c.ordinal, c.start, c.end, c.text) for row, c in enumerate(chunks)),
        )
        db.executemany("INSERT INTO sentences VALUES (?,?,?,?)", ((i, *u) for i, u in enumerate(sentences or [])))
        db.executemany("INSERT INTO sentence_chunks VALUES (?,?)", sentence_chunks or [])
        db.commit()
        db.close()
        if sentence_vectors is not None and len(sentence_vectors):
            np.save(tmp / "sentences.npy", np.asarray(sentence_vectors, dtype=np.float32))
            save_vectors(build_vectors(sentence_vectors), tmp / "sentences.faiss")
        save_vectors(vectors, tmp / "vectors.faiss")
        save_bm25(bm25, tmp / "bm25")
        (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=2), "utf-8")
        _fsync_tree(tmp)
        os.replace(tmp, build)
        pointer = index_dir / "CURRENT.tmp"
        pointer.write_text(build.name + "\n", "utf-8")
        _fsync_file(pointer)
        os.replace(pointer, index_dir / "CURRENT")  # the one atomic step that makes it live
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_old_builds(index_dir, keep=build.name)
    log.info("index written to %s", build)
    return build


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            _fsync_file(path)


def _remove_old_builds(index_dir: Path, keep: str) -> None:
    for path in index_dir.glob("build-*"):
        if path.name != keep and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def live_build(index_dir: Path) -> Path:
    """The folder of the live build, or IndexMissingError saying how to make one."""
    index_dir = Path(index_dir)
    pointer = index_dir / "CURRENT"
    if not pointer.is_file():
        raise IndexMissingError(f"No index in {index_dir}/: build it with `rag index --index {index_dir}`.")
    build = index_dir / pointer.read_text("utf-8").strip()
    if not (build / "manifest.json").is_file():
        raise IndexMissingError(
            f"The index in {index_dir}/ points at {build.name}, which is missing: rebuild with `rag index --index {index_dir}`."
        )
    return build


def read_manifest(index_dir: Path) -> Manifest:
    """The manifest of the live build."""
    build = live_build(index_dir)
    try:
        return Manifest.from_json((build / "manifest.json").read_text("utf-8"))
    except (ValueError, TypeError) as exc:
        raise IndexIncompatibleError(
            f"The index manifest in {build} is unreadable ({exc}): rebuild with `rag index --index {index_dir}`."
        ) from exc


class IndexReader:
    """Read access to one build: vectors, BM25, chunks and articles (safe across threads)."""

    def __init__(self, index_dir: Path, mmap: bool = False):
        self.index_dir = Path(index_dir)
        self.build = live_build(self.index_dir)
        self.manifest = read_manifest(self.index_dir)
        if self.manifest.format_version != FORMAT_VERSION:
            raise IndexIncompatibleError(
                f"The index in {self.index_dir}/ has format version {self.manifest.format_version}; this "
                f"version of yuwen reads version {FORMAT_VERSION}. Rebuild it: `rag index --index {self.index_dir}`."
            )
        try:
            self.vectors = load_vectors(self.build / "vectors.faiss", mmap=mmap)
            self.bm25 = load_bm25(self.build / "bm25")
            self._db = sqlite3.connect(f"file:{self.build / 'meta.sqlite'}?mode=ro", uri=True, check_same_thread=False)
            n = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        except Exception as exc:
            raise IndexIncompatibleError(
                f"The index in {self.index_dir}/ is damaged ({type(exc).__name__}: {exc}). "
                f"Rebuild it: `rag index --index {self.index_dir}`."
            ) from exc
        if not (n == self.manifest.chunks == self.vectors.ntotal):
            raise IndexIncompatibleError(
                f"The index in {self.index_dir}/ is inconsistent ({n} chunks in metadata, {self.vectors.ntotal} "
                f"vectors, {self.manifest.chunks} in the manifest). Rebuild it: `rag index --index {self.index_dir}`."
            )
        self._lock = threading.Lock()
        self._articles: dict[str, Article] | None = None
        self._sentence_rows: dict[tuple[str, int, int], int] | None = None
        self._sentence_vectors: np.ndarray | None = None
        self._sentence_index: tuple[object, list[list[int]]] | None = None

    def sentence_index(self) -> tuple[object, list[list[int]]] | None:
        """The FAISS index of answer sentences and, per sentence row, the chunk rows holding it;
        None for a build without sentence vectors."""
        if self._sentence_index is None:
            path = self.build / "sentences.faiss"
            if not path.is_file():
                return None
            with self._lock:
                pairs = self._db.execute("SELECT sentence_row, chunk_row FROM sentence_chunks").fetchall()
            index = load_vectors(path)
            owners: list[list[int]] = [[] for _ in range(index.ntotal)]
            for srow, crow in pairs:
                owners[srow].append(crow)
            self._sentence_index = (index, owners)
        return self._sentence_index

    def sentence_vector(self, article_id: str, start: int, end: int) -> np.ndarray | None:
        """The stored vector of the sentence ``article.text[start:end]``, if the build has one."""
        if self._sentence_rows is None:
            path = self.build / "sentences.npy"
            with self._lock:
                rows = self._db.execute('SELECT row, article_id, start, "end" FROM sentences').fetchall()
            self._sentence_vectors = np.load(path, mmap_mode="r") if path.is_file() else None
            self._sentence_rows = {(a, s, e): r for r, a, s, e in rows} if self._sentence_vectors is not None else {}
        row = self._sentence_rows.get((article_id, start, end))
        return None if row is None else np.asarray(self._sentence_vectors[row])

    def chunks(self, rows: Iterable[int]) -> list[Chunk]:
        """The chunks stored at ``rows``, in that order."""
        rows = [int(r) for r in rows]
        if not rows:
            return []
        with self._lock:
            found = self._db.execute(
                f"SELECT c.row, c.id, c.article_id, c.ordinal, c.start, c.\"end\", c.text, a.title, a.file, a.byline "
                f"FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.row IN ({','.join('?' * len(rows))})",
                rows,
            ).fetchall()
        by_row = {
            r[0]: Chunk(id=r[1], article_id=r[2], ordinal=r[3], start=r[4], end=r[5], text=r[6], title=r[7], file=r[8],
                         byline=r[9])
            for r in found
        }
        return [by_row[r] for r in rows if r in by_row]

    def rows_of_articles(self, article_ids: Iterable[str]) -> frozenset[int]:
        """The chunk rows cut from the articles ``article_ids``."""
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return frozenset()
        with self._lock:
            found = self._db.execute(
                f"SELECT row FROM chunks WHERE article_id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
        return frozenset(r[0] for r in found)

    def chunk_texts(self) -> list[str]:
        """Every chunk's text, by row (for tools that rebuild a part of the index)."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT text FROM chunks ORDER BY row")]

    def articles(self) -> dict[str, Article]:
        """Every article by id, in corpus order (loaded once)."""
        if self._articles is None:
            with self._lock:
                rows = self._db.execute(
                    "SELECT id, file, title, byline, note, title_inferred, text, segments FROM articles ORDER BY ordinal"
                ).fetchall()
            self._articles = {
                r[0]: Article(
                    id=r[0], file=r[1], title=r[2], byline=r[3], note=r[4], title_inferred=bool(r[5]), text=r[6],
                    segments=[tuple(s) for s in json.loads(r[7])],
                )
                for r in rows
            }
        return self._articles

    def close(self) -> None:
        self._db.close()
