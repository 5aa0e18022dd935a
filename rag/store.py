"""The index on disk: vectors, BM25, chunk and article metadata and a manifest, swapped in atomically.

Layout: ``index/CURRENT`` names the live build folder ``index/build-<time>-<pid>-<n>``. A new
build is written into ``<name>.partial``, renamed, and becomes live by atomically replacing
``CURRENT``; a crash at any point leaves the previous build live and intact. Every build folder
holds a marker file (``.yuwen-build``) and the manifest lists the size and BLAKE2b digest of each
of its files, so the program removes only folders it wrote and notices a damaged file by name.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from .bm25 import build_bm25, index_frequencies, load_bm25, save_bm25, search_bm25
from .documents import Article, Chunk
from .lexical import Frequencies
from .vectors import build_vectors, index_ids, load_vectors, reconstruct, reconstruct_all, save_vectors, search_vectors
from .writelock import IndexWriteError

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: answer sentences with vectors and their own FAISS index
CORPUS_SUFFIXES = (".txt", ".md")
MARKER = ".yuwen-build"  # written first into every build folder: what the program may delete
_BUILD_NAME = re.compile(r"^build-\d{8}-\d{6}-\d+-\d{6}$")
# The files a build of an older version held (no marker): enough to recognise one as ours.
_ARTEFACTS = {"meta.sqlite", "sentences.npy", "sentences.faiss", "vectors.faiss", "vectors.npy", "bm25", "manifest.json"}
FULL_CHECK_BYTES = 256 * 1024 * 1024  # at most this much is hashed on every open; beyond, sizes only


class IndexMissingError(RuntimeError):
    """There is no usable index where one was expected."""


class IndexIncompatibleError(RuntimeError):
    """The index was built with another embedder, chunker or format, or is damaged."""


class IndexDamagedError(IndexIncompatibleError):
    """A file of the index is missing, truncated or altered; ``rag index`` rebuilds it."""


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
    files: dict[str, list] = field(default_factory=dict)  # file of the build -> [size, blake2b hex]
    excluded: dict[str, list[str]] = field(default_factory=dict)  # "files"/"articles" removed by `rag remove`
    update: dict = field(default_factory=dict)  # what this build changed against the one before
    replaces: str = ""  # the build that was live when this one was written

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        data = json.loads(text)
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def corpus_fingerprint(corpus_dir: Path) -> dict[str, str]:
    """sha256 of every page the corpus offers (what ``rag index`` would read), by path relative to ``corpus_dir``."""
    from .ingest import list_corpus

    files, _ = list_corpus(corpus_dir)
    return {f.rel: file_sha256(f.path) for f in files}


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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


def new_build_name() -> str:
    return f"build-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"


def write_local(index_dir: Path, manifest: Manifest, articles: list[Article], chunks: list[Chunk], vectors: np.ndarray,
                units: list[tuple[str, int, int]], sentence_vectors: np.ndarray | None,
                sentence_chunks: list[tuple[int, int]]) -> Path:
    """BM25 and FAISS over ``chunks`` and ``vectors``, written as a new build (see :func:`write_index`)."""
    bm25 = build_bm25([c.embed_text() for c in chunks])
    vector_index = build_vectors(vectors, manifest.vector_kind)
    return write_index(index_dir, manifest, articles, chunks, vector_index, bm25, units, sentence_vectors,
                       sentence_chunks=sentence_chunks,
                       passage_vectors=vectors if manifest.vector_kind not in ("flat", "hnsw") else None)


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
    passage_vectors: np.ndarray | None = None,
) -> Path:
    """Write a complete build beside the live one, then make it live atomically. Returns its folder.

    ``passage_vectors`` are stored beside the FAISS index when that cannot give them back exactly
    (IVF-PQ), so a later update can reuse them. The caller holds the folder's WriteLock."""
    index_dir = Path(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexWriteError(f"Cannot create the index folder {index_dir}/ ({exc.strerror or exc}).") from exc
    build = index_dir / new_build_name()
    tmp = build.with_name(build.name + ".partial")
    manifest.replaces = _current_name(index_dir) or ""
    try:
        tmp.mkdir()
        (tmp / MARKER).write_text(json.dumps({"yuwen": "build", "pid": os.getpid(), "started": time.time()}) + "\n", "utf-8")
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
        if passage_vectors is not None:
            np.save(tmp / "vectors.npy", np.asarray(passage_vectors, dtype=np.float32))
        save_vectors(vectors, tmp / "vectors.faiss")
        save_bm25(bm25, tmp / "bm25")
        _go_live(index_dir, tmp, build, manifest)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        (index_dir / "CURRENT.tmp").unlink(missing_ok=True)
        if build.exists() and _current_name(index_dir) != build.name:
            shutil.rmtree(build, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _write_error(index_dir, exc) from exc
        raise
    remove_stale_builds(index_dir)
    log.info("index written to %s", build)
    return build


def _write_error(index_dir: Path, exc: OSError) -> IndexWriteError:
    """The one line for a build that could not be written (the previous one stays live)."""
    reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else (exc.strerror or str(exc))
    return IndexWriteError(f"Could not write the index in {index_dir}/ ({reason}); the previous index is "
                           "intact. Free some space or fix the folder, then run the command again.")


def _go_live(index_dir: Path, tmp: Path, build: Path, manifest: Manifest) -> None:
    """Seal the finished folder ``tmp`` (digests, manifest, fsync), rename it to ``build`` and point CURRENT at it."""
    manifest.files = file_digests(tmp)
    (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=2), "utf-8")
    _fsync_tree(tmp)
    os.replace(tmp, build)
    pointer = index_dir / "CURRENT.tmp"
    pointer.write_text(build.name + "\n", "utf-8")
    _fsync_file(pointer)
    os.replace(pointer, index_dir / "CURRENT")  # the one atomic step that makes it live


def publish_build(index_dir: Path, tmp: Path, manifest: Manifest) -> Path:
    """Make the complete build folder ``tmp`` (``<name>.partial``, written by the caller) live as
    :func:`write_index` does. On failure the folder ``tmp`` is kept (a streamed build resumes from
    it) and the previous build stays live. The caller holds the folder's WriteLock."""
    index_dir = Path(index_dir)
    build = tmp.with_name(tmp.name.removesuffix(".partial"))
    manifest.replaces = _current_name(index_dir) or ""
    try:
        _go_live(index_dir, tmp, build, manifest)
    except BaseException as exc:
        (index_dir / "CURRENT.tmp").unlink(missing_ok=True)
        if build.exists() and _current_name(index_dir) != build.name:
            build.rename(tmp)  # not live: back to a partial build the next run resumes
        if isinstance(exc, OSError):
            raise _write_error(index_dir, exc) from exc
        raise
    remove_stale_builds(index_dir)
    log.info("index written to %s", build)
    return build


def file_digests(folder: Path) -> dict[str, list]:
    """Size and BLAKE2b digest of every file of a build (the manifest and marker excepted)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel not in ("manifest.json", MARKER):
            out[rel] = [path.stat().st_size, _blake2b(path)]
    return out


def _blake2b(path: Path) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            _fsync_file(path)


def _current_name(index_dir: Path) -> str | None:
    """The build CURRENT names, when it is a valid name; None otherwise."""
    try:
        name = (Path(index_dir) / "CURRENT").read_bytes().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name if _BUILD_NAME.match(name) else None


def is_own_build(path: Path) -> bool:
    """Whether ``path`` is a build folder (complete or ``.partial``) this program wrote.

    Ours: a strict build name and our marker file; or, for builds of versions before the marker,
    a strict name and nothing inside but the artefacts an index holds."""
    name = path.name.removesuffix(".partial")
    if not _BUILD_NAME.match(name) or path.is_symlink() or not path.is_dir():
        return False
    marker = path / MARKER
    if marker.is_file():
        try:
            return json.loads(marker.read_text("utf-8")).get("yuwen") == "build"
        except (OSError, ValueError, AttributeError):
            return False
    entries = {p.name for p in path.iterdir()}
    return bool(entries) and entries <= _ARTEFACTS


def remove_stale_builds(index_dir: Path, keep: Iterable[str] = ()) -> list[str]:
    """Remove the build folders this program wrote that no reader needs: leftovers of killed
    builds (``.partial``, or complete but never made live) and builds older than the one the live
    build replaced (that one is kept, so a reader that has not yet switched still finds its
    files). Without a valid ``CURRENT`` only unfinished builds go. Only call it holding the
    folder's WriteLock. Returns the names removed."""
    index_dir = Path(index_dir)
    live = _current_name(index_dir)
    keep = ({live} if live else set()) | set(keep)  # ``keep``: e.g. the partial build a streamed build resumes
    if live:
        try:
            keep.add(Manifest.from_json((index_dir / live / "manifest.json").read_text("utf-8")).replaces)
        except (OSError, ValueError, TypeError):
            pass
    removed = []
    for path in sorted(index_dir.glob("build-*")):
        if path.name in keep or not is_own_build(path):
            continue
        if live is None and not path.name.endswith(".partial"):
            continue  # no valid CURRENT: a complete build may be the one to point it back at
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    if removed:
        log.info("removed old or unfinished builds: %s", ", ".join(removed))
    return removed


def live_build(index_dir: Path) -> Path:
    """The folder of the live build, or IndexMissingError / IndexDamagedError saying what to do."""
    index_dir = Path(index_dir)
    pointer = index_dir / "CURRENT"
    rebuild = f"rebuild it with `rag index --index {index_dir}`"
    if not pointer.is_file():
        raise IndexMissingError(f"No index in {index_dir}/: build it with `rag index --index {index_dir}`.")
    try:
        name = pointer.read_bytes().decode("utf-8").strip()
    except UnicodeDecodeError:
        raise IndexDamagedError(f"index damaged: {pointer} is not text; {rebuild}.") from None
    except OSError as exc:
        raise IndexDamagedError(f"index damaged: {pointer} cannot be read ({exc.strerror or exc}); {rebuild}.") from None
    if not _BUILD_NAME.match(name):
        shown = name[:60].encode("unicode_escape").decode("ascii")
        raise IndexDamagedError(f"index damaged: {pointer} must name a build folder beside it, not '{shown}'; {rebuild}.")
    build = index_dir / name
    if build.is_symlink() or not (build / "manifest.json").is_file():
        raise IndexMissingError(
            f"The index in {index_dir}/ points at {name}, which is missing: rebuild with `rag index --index {index_dir}`."
        )
    return build


def read_manifest(index_dir: Path) -> Manifest:
    """The manifest of the live build."""
    return _manifest_of(live_build(index_dir), Path(index_dir))


def _manifest_of(build: Path, index_dir: Path) -> Manifest:
    try:
        return Manifest.from_json((build / "manifest.json").read_text("utf-8"))
    except (ValueError, TypeError, OSError) as exc:
        raise IndexDamagedError(
            f"index damaged: {build.name}/manifest.json is unreadable ({type(exc).__name__}); "
            f"rebuild it with `rag index --index {index_dir}`."
        ) from exc


def verify_files(build: Path, manifest: Manifest, index_dir: Path, full: bool) -> None:
    """IndexDamagedError naming the first file of ``build`` that is missing, of the wrong size
    or (with ``full``) whose digest differs from the manifest's. A build without digests (written
    by an older version) passes."""
    rebuild = f"rebuild it with `rag index --index {index_dir}`"
    for rel, (size, digest) in manifest.files.items():
        path = build / rel
        try:
            actual = path.stat().st_size
        except OSError:
            raise IndexDamagedError(f"index damaged: {build.name}/{rel} is missing; {rebuild}.") from None
        if actual != size:
            raise IndexDamagedError(
                f"index damaged: {build.name}/{rel} is {actual} bytes, the manifest says {size}; {rebuild}.")
        if full and _blake2b(path) != digest:
            raise IndexDamagedError(f"index damaged: {build.name}/{rel} does not match its checksum; {rebuild}.")


def _full_check_on_open(manifest: Manifest) -> bool:
    return sum(size for size, _ in manifest.files.values()) <= FULL_CHECK_BYTES


class IndexReader:
    """Read access to one build: vectors, BM25, chunks and articles (safe across threads).

    Opening verifies the build's files against the manifest (digests for an index up to
    FULL_CHECK_BYTES, sizes beyond) and loads every file it will read, so the build can be
    replaced, and even removed, while the reader is in use."""

    def __init__(self, index_dir: Path, mmap: bool = False, verify: bool | None = None):
        self.index_dir = Path(index_dir)
        self.build = live_build(self.index_dir)
        self.build_name = self.build.name
        self.manifest = _manifest_of(self.build, self.index_dir)
        if self.manifest.format_version != FORMAT_VERSION:
            raise IndexIncompatibleError(
                f"The index in {self.index_dir}/ has format version {self.manifest.format_version}; this "
                f"version of yuwen reads version {FORMAT_VERSION}. Rebuild it: `rag index --index {self.index_dir}`."
            )
        self.verified_fully = _full_check_on_open(self.manifest) if verify is None else verify
        verify_files(self.build, self.manifest, self.index_dir, full=self.verified_fully)
        self._lock = threading.Lock()
        self._next_check = time.monotonic() + 1.0
        try:
            self.vectors = load_vectors(self.build / "vectors.faiss", mmap=mmap)
            self.bm25 = load_bm25(self.build / "bm25")
            self._db = sqlite3.connect(f"file:{self.build / 'meta.sqlite'}?mode=ro", uri=True, check_same_thread=False)
            n = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            self._sentence_index = self._load_sentence_index()
            path = self.build / "sentences.npy"
            self._sentence_vectors = np.load(path, mmap_mode="r") if path.is_file() else None
        except Exception as exc:
            raise self._damaged(exc) from exc
        if not (n == self.manifest.chunks == self.vectors.ntotal):
            raise IndexDamagedError(
                f"index damaged: {self.index_dir}/ is inconsistent ({n} chunks in metadata, {self.vectors.ntotal} "
                f"vectors, {self.manifest.chunks} in the manifest); rebuild it with `rag index --index {self.index_dir}`."
            )
        self._articles: dict[str, Article] | None = None
        self._sentence_rows: dict[tuple[str, int, int], int] | None = None

    def _damaged(self, exc: Exception) -> IndexDamagedError:
        return IndexDamagedError(
            f"index damaged: {self.build.name} cannot be read ({type(exc).__name__}: {str(exc)[:120]}); "
            f"rebuild it with `rag index --index {self.index_dir}`."
        )

    def _query(self, sql: str, params: Iterable = ()) -> list[tuple]:
        try:
            with self._lock:
                return self._db.execute(sql, list(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def _load_sentence_index(self) -> tuple[object, list[list[int]]] | None:
        path = self.build / "sentences.faiss"
        if not path.is_file():
            return None
        pairs = self._db.execute("SELECT sentence_row, chunk_row FROM sentence_chunks").fetchall()
        index = load_vectors(path)
        owners: list[list[int]] = [[] for _ in range(index.ntotal)]
        for srow, crow in pairs:
            owners[srow].append(crow)
        return index, owners

    def changed(self, every: float = 1.0) -> bool:
        """Whether ``CURRENT`` now names another build than this reader's (read at most once per
        ``every`` seconds; False in between)."""
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + every
        name = _current_name(self.index_dir)
        return name is not None and name != self.build.name

    def recheck_after(self, seconds: float) -> None:
        """Let :meth:`changed` look at ``CURRENT`` again only after ``seconds``."""
        self._next_check = time.monotonic() + seconds

    def dense(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and cosines of the ``n`` passages nearest to ``query``, best first."""
        return search_vectors(self.vectors, query, n)

    def lexical(self, question: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and BM25 scores of the ``n`` best passages for the words of ``question``."""
        return search_bm25(self.bm25, question, n)

    def sentence_rows(self, query: np.ndarray, n: int) -> list[int]:
        """Passage rows ranked by their single best-matching answer sentence: a passage whose one
        sentence answers the question outranks a passage that is only broadly on topic."""
        if self._sentence_index is None:
            return []
        index, owners = self._sentence_index
        ids, _ = search_vectors(index, query, 4 * n)
        ranked: list[int] = []
        seen: set[int] = set()
        for sid in ids:
            for row in owners[int(sid)]:
                if row not in seen:
                    seen.add(row)
                    ranked.append(row)
        return ranked[:n]

    def passage_vector(self, row: int) -> np.ndarray | None:
        """The passage vector stored for ``row``, if this kind of index can give it back."""
        return reconstruct(self.vectors, row)

    def sentence_index(self) -> tuple[object, list[list[int]]] | None:
        """The FAISS index of answer sentences and, per sentence row, the chunk rows holding it;
        None for a build without sentence vectors."""
        return self._sentence_index

    def sentence_vector(self, article_id: str, start: int, end: int) -> np.ndarray | None:
        """The stored vector of the sentence ``article.text[start:end]``, if the build has one."""
        if self._sentence_rows is None:
            rows = self._query('SELECT row, article_id, start, "end" FROM sentences')
            self._sentence_rows = {(a, s, e): r for r, a, s, e in rows} if self._sentence_vectors is not None else {}
        row = self._sentence_rows.get((article_id, start, end))
        return None if row is None else np.asarray(self._sentence_vectors[row])

    def chunks(self, rows: Iterable[int]) -> list[Chunk]:
        """The chunks stored at ``rows``, in that order."""
        rows = [int(r) for r in rows]
        if not rows:
            return []
        found = self._query(
            f"SELECT c.row, c.id, c.article_id, c.ordinal, c.start, c.\"end\", c.text, a.title, a.file, a.byline "
            f"FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.row IN ({','.join('?' * len(rows))})",
            rows,
        )
        by_row = {
            r[0]: Chunk(id=r[1], article_id=r[2], ordinal=r[3], start=r[4], end=r[5], text=r[6], title=r[7], file=r[8],
                         byline=r[9])
            for r in found
        }
        return [by_row[r] for r in rows if r in by_row]

    def all_chunks(self) -> list[Chunk]:
        """Every chunk, by row."""
        n = self.manifest.chunks
        return self.chunks(range(n)) if n else []

    def sentence_spans(self) -> list[tuple[str, int, int]]:
        """(article id, start, end) of every stored answer sentence, by row."""
        return [tuple(r) for r in self._query('SELECT article_id, start, "end" FROM sentences ORDER BY row')]

    def stored_sentence_vectors(self) -> np.ndarray | None:
        """Every answer sentence's vector, by row (memory-mapped), or None."""
        return self._sentence_vectors

    def passage_vectors(self) -> np.ndarray | None:
        """Every passage's vector, by row, when the build can give them back exactly; else None."""
        path = self.build / "vectors.npy"
        if path.is_file():
            return np.load(path, mmap_mode="r")
        return reconstruct_all(self.vectors)

    def rows_of_articles(self, article_ids: Iterable[str]) -> frozenset[int]:
        """The chunk rows cut from the articles ``article_ids``."""
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return frozenset()
        found = self._query(f"SELECT row FROM chunks WHERE article_id IN ({','.join('?' * len(ids))})", ids)
        return frozenset(r[0] for r in found)

    def chunk_texts(self) -> list[str]:
        """Every chunk's text, by row (for tools that rebuild a part of the index)."""
        return [r[0] for r in self._query("SELECT text FROM chunks ORDER BY row")]

    def articles(self) -> dict[str, Article]:
        """Every article by id, in corpus order (loaded once)."""
        if self._articles is None:
            rows = self._query(
                "SELECT id, file, title, byline, note, title_inferred, text, segments FROM articles ORDER BY ordinal"
            )
            self._articles = {
                r[0]: Article(
                    id=r[0], file=r[1], title=r[2], byline=r[3], note=r[4], title_inferred=bool(r[5]), text=r[6],
                    segments=[tuple(s) for s in json.loads(r[7])],
                )
                for r in rows
            }
        return self._articles

    def document_frequencies(self) -> tuple[Frequencies, int]:
        """How many passages hold each BM25 token, and how many passages there are."""
        return index_frequencies(self.bm25)

    def articles_of(self, article_ids: Iterable[str]) -> dict[str, Article]:
        """The articles of ``article_ids`` that the build holds, by id."""
        articles = self.articles()  # a local build is read whole once; it is on this machine anyway
        return {i: articles[i] for i in dict.fromkeys(article_ids) if i in articles}

    def check(self) -> list[str]:
        """Every problem a full check finds: files against their digests, and that vectors, BM25
        documents, metadata rows and answer sentences all agree (no vector without its row, no row
        without its vector). Empty when the build is sound."""
        problems = []
        try:
            verify_files(self.build, self.manifest, self.index_dir, full=True)
        except IndexDamagedError as exc:
            problems.append(str(exc))
        if not self.manifest.files:
            problems.append(f"{self.build.name} has no checksums (built by an older version); "
                            f"rebuild it with `rag index --index {self.index_dir}` to have them")
        n_rows = self._query("SELECT COUNT(*) FROM chunks")[0][0]
        ids = index_ids(self.vectors)
        if sorted(ids.tolist()) != list(range(n_rows)):
            problems.append(f"vectors and chunk rows disagree ({len(ids)} vectors, {n_rows} rows)")
        n_docs = int(self.bm25.scores.get("num_docs", -1)) if isinstance(getattr(self.bm25, "scores", None), dict) else -1
        if n_docs != n_rows:
            problems.append(f"BM25 holds {n_docs} documents for {n_rows} chunk rows")
        orphans = self._query("SELECT COUNT(*) FROM chunks WHERE article_id NOT IN (SELECT id FROM articles)")[0][0]
        if orphans:
            problems.append(f"{orphans} chunks belong to no article")
        n_sent = self._query("SELECT COUNT(*) FROM sentences")[0][0]
        orphans = self._query("SELECT COUNT(*) FROM sentences WHERE article_id NOT IN (SELECT id FROM articles)")[0][0]
        if orphans:
            problems.append(f"{orphans} answer sentences belong to no article")
        if self._sentence_index is not None:
            s_index = self._sentence_index[0]
            if s_index.ntotal != n_sent or self._sentence_vectors is None or len(self._sentence_vectors) != n_sent:
                problems.append(f"answer sentences disagree ({n_sent} rows, {s_index.ntotal} vectors)")
        elif n_sent:
            problems.append(f"{n_sent} answer sentences have no vectors")
        bad_pairs = self._query("SELECT COUNT(*) FROM sentence_chunks WHERE sentence_row NOT IN (SELECT row FROM sentences) "
                                "OR chunk_row NOT IN (SELECT row FROM chunks)")[0][0]
        if bad_pairs:
            problems.append(f"{bad_pairs} sentence-passage links point at no row")
        articles = self._query("SELECT COUNT(*) FROM articles")[0][0]
        if articles != self.manifest.articles or n_rows != self.manifest.chunks:
            problems.append(f"the manifest counts {self.manifest.articles} articles and {self.manifest.chunks} chunks; "
                            f"the metadata holds {articles} and {n_rows}")
        return problems

    def counts(self) -> dict[str, int]:
        """How many articles, chunk rows, vectors, BM25 documents and answer sentences the build holds."""
        n_docs = int(self.bm25.scores.get("num_docs", -1)) if isinstance(getattr(self.bm25, "scores", None), dict) else -1
        return {
            "articles": self._query("SELECT COUNT(*) FROM articles")[0][0],
            "chunk_rows": self._query("SELECT COUNT(*) FROM chunks")[0][0],
            "vectors": int(self.vectors.ntotal),
            "bm25_documents": n_docs,
            "sentences": self._query("SELECT COUNT(*) FROM sentences")[0][0],
            "sentence_vectors": int(self._sentence_index[0].ntotal) if self._sentence_index else 0,
        }

    def close(self) -> None:
        self._db.close()
