"""The local store written in batches: a build folder that grows batch by batch and survives a crash.

A streamed build writes into ``index/build-….partial`` as ``store.py`` lays a build out, but
appends as it goes: passage and sentence vectors to raw float32 files, BM25 token ids to a raw
int32 file, article, passage and sentence rows to ``meta.sqlite``. Each batch ends with one SQLite
transaction that also records, per article, its content key and how many rows, vectors and tokens
exist after it (``build_progress``): what is recorded is done. A killed build leaves the folder;
the next one opens it, cuts the raw files back to the last recorded batch and goes on. Only at
the end are the FAISS and BM25 indexes built (reading the raw files, not copies in memory), the
raw files and progress tables dropped, and the folder made live by ``CURRENT`` (store.publish_build).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .bm25 import build_bm25_from_ids, save_bm25
from .store import _SCHEMA, MARKER, Manifest, is_own_build, new_build_name, publish_build, remove_stale_builds
from .vectors import build_vectors, save_vectors

if TYPE_CHECKING:
    from .build_stream import Batch

log = logging.getLogger(__name__)

BLOCK = 65_536  # rows read at a time from the raw files when the indexes are built
_RAW = ("vectors.f32", "sentences.f32", "tokens.i32", "tokens.len.i32")
_PROGRESS = """
CREATE TABLE build_info (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE build_progress (ordinal INTEGER PRIMARY KEY, article_id TEXT, key TEXT, chunk_end INTEGER,
                             sentence_end INTEGER, token_end INTEGER);
CREATE TABLE build_vocab (token TEXT PRIMARY KEY, id INTEGER UNIQUE, ordinal INTEGER);
"""


class LocalStreamWriter:
    """Appends batches to a partial build of ``index_dir`` made with ``info`` (embedder id, dim,
    chunking, format), resuming one left by a killed build with the same ``info``. The caller
    holds the folder's WriteLock."""

    def __init__(self, index_dir: Path, info: dict):
        self.index_dir = Path(index_dir)
        self.dim = int(info["dim"])
        self.info = json.dumps(info, sort_keys=True)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        found = self._resumable()
        remove_stale_builds(self.index_dir, keep={found.name} if found else ())
        self.resumed = found is not None
        if found is None:
            self.folder = self.index_dir / (new_build_name() + ".partial")
            self.folder.mkdir()
            (self.folder / MARKER).write_text(json.dumps({"yuwen": "build", "pid": os.getpid(), "streamed": True}) + "\n",
                                              "utf-8")
            self.db = sqlite3.connect(self.folder / "meta.sqlite")
            self.db.executescript(_SCHEMA + _PROGRESS)
            self.db.execute("INSERT INTO build_info VALUES ('info', ?)", (self.info,))
            self.db.commit()
        else:
            self.folder = found
            self.db = sqlite3.connect(self.folder / "meta.sqlite")
            log.info("resuming the partial build %s", found.name)
        self.vocab = dict(self.db.execute("SELECT token, id FROM build_vocab"))
        self._cut_raw_files()

    def _resumable(self) -> Path | None:
        """The newest partial build this writer can go on with."""
        for path in sorted(self.index_dir.glob("build-*.partial"), reverse=True):
            if not is_own_build(path) or not (path / "meta.sqlite").is_file():
                continue
            try:
                db = sqlite3.connect(f"file:{path / 'meta.sqlite'}?mode=ro", uri=True)
                try:
                    row = db.execute("SELECT value FROM build_info WHERE key = 'info'").fetchone()
                finally:
                    db.close()
            except sqlite3.DatabaseError:
                continue  # not a streamed build, or damaged: removed as stale
            if row and row[0] == self.info:
                return path
        return None

    # -- what is done
    def _ends(self) -> tuple[int, int, int, int]:
        """(articles, chunk rows, sentence rows, tokens) recorded as done."""
        row = self.db.execute("SELECT ordinal, chunk_end, sentence_end, token_end FROM build_progress "
                              "ORDER BY ordinal DESC LIMIT 1").fetchone()
        return (row[0] + 1, row[1], row[2], row[3]) if row else (0, 0, 0, 0)

    def done(self) -> list[tuple[str, str]]:
        """(article id, content key) of every article written, in order."""
        return [(a, k) for a, k in self.db.execute("SELECT article_id, key FROM build_progress ORDER BY ordinal")]

    def counts(self) -> tuple[int, int, int]:
        """Articles, passages and answer sentences written."""
        n, chunks, sentences, _ = self._ends()
        return n, chunks, sentences

    def keep(self, k: int) -> None:
        """Forget every article after the first ``k`` (and their rows, vectors and tokens)."""
        n, *_ = self._ends()
        if k >= n:
            return
        row = self.db.execute("SELECT chunk_end, sentence_end, token_end FROM build_progress WHERE ordinal = ?",
                              (k - 1,)).fetchone() if k else (0, 0, 0)
        ce, se, _ = row
        with self.db:
            self.db.execute("DELETE FROM articles WHERE ordinal >= ?", (k,))
            self.db.execute("DELETE FROM chunks WHERE row >= ?", (ce,))
            self.db.execute("DELETE FROM sentences WHERE row >= ?", (se,))
            self.db.execute("DELETE FROM sentence_chunks WHERE sentence_row >= ?", (se,))
            self.db.execute("DELETE FROM build_vocab WHERE ordinal >= ?", (k,))
            self.db.execute("DELETE FROM build_progress WHERE ordinal >= ?", (k,))
        self.vocab = dict(self.db.execute("SELECT token, id FROM build_vocab"))
        self._cut_raw_files()

    def _cut_raw_files(self) -> None:
        """The raw files cut back to what the progress table records (a killed batch may have appended more)."""
        _, ce, se, te = self._ends()
        for name, size in (("vectors.f32", ce * self.dim * 4), ("sentences.f32", se * self.dim * 4),
                           ("tokens.i32", te * 4), ("tokens.len.i32", ce * 4)):
            path = self.folder / name
            with open(path, "ab") as fh:
                if fh.tell() < size:
                    raise RuntimeError(f"{path} is shorter than its progress record")
                fh.truncate(size)

    # -- writing
    def add(self, batch: "Batch") -> None:
        """Append one batch; it counts as done once this returns."""
        n, ce, se, te = self._ends()
        flat: list[int] = []
        lengths: list[int] = []
        new_tokens: list[tuple[str, int, int]] = []
        first = {a.id: n + i for i, a in enumerate(batch.articles)}
        for c, toks in zip(batch.chunks, batch.tokens):
            for t in toks:
                tid = self.vocab.get(t)
                if tid is None:
                    tid = self.vocab[t] = len(self.vocab)
                    new_tokens.append((t, tid, first[c.article_id]))
                flat.append(tid)
            lengths.append(len(toks))
        self._append("vectors.f32", np.asarray(batch.vectors, dtype=np.float32).reshape(-1, self.dim))
        self._append("sentences.f32", np.asarray(batch.unit_vectors, dtype=np.float32).reshape(-1, self.dim))
        self._append("tokens.i32", np.asarray(flat, dtype=np.int32))
        self._append("tokens.len.i32", np.asarray(lengths, dtype=np.int32))
        progress, c_end, s_end, t_end = [], ce, se, te
        per_article_chunks: dict[str, int] = {}
        per_article_tokens: dict[str, int] = {}
        for c, length in zip(batch.chunks, lengths):
            per_article_chunks[c.article_id] = per_article_chunks.get(c.article_id, 0) + 1
            per_article_tokens[c.article_id] = per_article_tokens.get(c.article_id, 0) + length
        per_article_units: dict[str, int] = {}
        for aid, _, _ in batch.units:
            per_article_units[aid] = per_article_units.get(aid, 0) + 1
        for a, key in zip(batch.articles, batch.keys):
            c_end += per_article_chunks.get(a.id, 0)
            s_end += per_article_units.get(a.id, 0)
            t_end += per_article_tokens.get(a.id, 0)
            progress.append((first[a.id], a.id, key, c_end, s_end, t_end))
        with self.db:
            self.db.executemany(
                "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?)",
                ((a.id, a.file, a.title, a.byline, a.note, int(a.title_inferred), a.text, json.dumps(a.segments),
                  first[a.id]) for a in batch.articles))
            self.db.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?)",
                                ((ce + i, c.id, c.article_id, c.ordinal, c.start, c.end, c.text)
                                 for i, c in enumerate(batch.chunks)))
            self.db.executemany("INSERT INTO sentences VALUES (?,?,?,?)",
                                ((se + i, *u) for i, u in enumerate(batch.units)))
            self.db.executemany("INSERT INTO sentence_chunks VALUES (?,?)",
                                ((se + s, ce + c) for s, c in batch.pairs))
            self.db.executemany("INSERT INTO build_vocab VALUES (?,?,?)", new_tokens)
            self.db.executemany("INSERT INTO build_progress VALUES (?,?,?,?,?,?)", progress)

    def _append(self, name: str, array: np.ndarray) -> None:
        with open(self.folder / name, "ab") as fh:
            fh.write(array.tobytes())
            fh.flush()
            os.fsync(fh.fileno())

    def _raw(self, name: str, dtype, rows: int, width: int = 1) -> np.ndarray:
        shape = (rows, width) if width > 1 else (rows,)
        if rows == 0:
            return np.zeros(shape, dtype=dtype)
        return np.memmap(self.folder / name, dtype=dtype, mode="r", shape=shape)

    def _rows(self, name: str, rows: int) -> "_FileRows":
        return _FileRows(self.folder / name, rows, self.dim)

    def finish(self, manifest: Manifest) -> Path:
        """Build the FAISS and BM25 indexes from the raw files and make the build live."""
        _, ce, se, te = self._ends()
        # Read block by block with plain reads, not memory maps: the pages of a map count as this
        # process's memory while they stay cached, and the FAISS index already holds its own copy.
        vectors = self._rows("vectors.f32", ce)
        save_vectors(build_vectors(vectors, manifest.vector_kind, block=BLOCK), self.folder / "vectors.faiss")
        if manifest.vector_kind not in ("flat", "hnsw"):
            _copy_to_npy(vectors, self.folder / "vectors.npy")  # IVF-PQ cannot give them back
        if se:
            sentences = self._rows("sentences.f32", se)
            _copy_to_npy(sentences, self.folder / "sentences.npy")
            save_vectors(build_vectors(sentences, block=BLOCK), self.folder / "sentences.faiss")
        bm25 = build_bm25_from_ids(self._raw("tokens.i32", np.int32, te), self._raw("tokens.len.i32", np.int32, ce),
                                   self.vocab)
        save_bm25(bm25, self.folder / "bm25")
        del bm25, vectors
        with self.db:
            self.db.executescript("DROP TABLE build_info; DROP TABLE build_progress; DROP TABLE build_vocab;")
        self.db.close()
        for name in _RAW:
            (self.folder / name).unlink(missing_ok=True)
        return publish_build(self.index_dir, self.folder, manifest)

    def close(self) -> None:
        """Stop writing; the partial build stays for the next run to resume."""
        try:
            self.db.close()
        except sqlite3.Error:
            pass


class _FileRows:
    """The float32 rows of a raw file, read on demand (``rows[a:b]``, ``rows[[i, j, …]]``)."""

    def __init__(self, path: Path, rows: int, dim: int):
        self.path, self.dim = path, dim
        self.shape = (rows, dim)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        with open(self.path, "rb") as fh:
            if isinstance(key, slice):
                start, stop, _ = key.indices(self.shape[0])
                fh.seek(start * self.dim * 4)
                return np.fromfile(fh, dtype=np.float32, count=max(stop - start, 0) * self.dim).reshape(-1, self.dim)
            out = np.empty((len(key), self.dim), dtype=np.float32)
            for i, row in enumerate(key):
                fh.seek(int(row) * self.dim * 4)
                out[i] = np.fromfile(fh, dtype=np.float32, count=self.dim)
            return out


def _copy_to_npy(source: _FileRows, path: Path) -> None:
    """``source`` written as a ``.npy`` file, block by block."""
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                                                  "fortran_order": False, "shape": source.shape})
        for s in range(0, len(source), BLOCK):
            source[s:s + BLOCK].tofile(fh)
