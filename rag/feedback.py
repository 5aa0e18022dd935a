"""Readers' ratings of answers (👍/👎 with an optional comment), kept in SQLite beside the index.

One row per rated answer: the question, the standalone question it was searched as, the answer
text, its citations (JSON), the backend and retrieval mode that answered, the rating, the
comment and the time. Every write is one transaction (SQLite's journal makes it atomic: a crash
leaves the previous rows). :func:`export_dev_set` writes the thumbs-down rows in the schema of
the question sets ``rag eval`` reads, as drafts of new test cases."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)

#: The database's file name inside the index folder (beside the builds; never removed by them).
FILE_NAME = "feedback.sqlite3"
RATINGS = ("up", "down")
#: Longest comment kept (a longer one is cut, not refused).
MAX_COMMENT = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    question TEXT NOT NULL,
    rewritten TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL DEFAULT '',
    citations TEXT NOT NULL DEFAULT '[]',
    backend TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL DEFAULT '',
    refused INTEGER NOT NULL DEFAULT 0,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT NOT NULL DEFAULT ''
)
"""
_COLUMNS = ("id", "time", "question", "rewritten", "answer", "citations", "backend", "mode", "refused", "rating", "comment")


class FeedbackError(RuntimeError):
    """The feedback database cannot be used (damaged, not writable) or a rating is invalid."""


class FeedbackMissingError(FeedbackError):
    """The row to update is not in the database (it was moved away or emptied)."""


@dataclass
class Feedback:
    """One rated answer."""

    question: str
    rating: str
    rewritten: str = ""
    answer: str = ""
    citations: list[dict] = field(default_factory=list)
    backend: str = ""
    mode: str = ""
    refused: bool = False
    comment: str = ""
    time: str = ""
    id: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def feedback_path(index_dir: Path | str) -> Path:
    """Where the ratings of the index in ``index_dir`` are kept."""
    return Path(index_dir) / FILE_NAME


def _connect(path: Path, create: bool = True) -> sqlite3.Connection:
    path = Path(path)
    if not create and not path.exists():
        raise FileNotFoundError(path)
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=10)
        conn.execute(_SCHEMA)
        conn.commit()
        return conn
    except sqlite3.DatabaseError as exc:
        raise FeedbackError(
            f"The feedback database {path} is damaged ({exc}); move it away and a new one is started."
        ) from None
    except OSError as exc:
        raise FeedbackError(f"Cannot open the feedback database {path} ({exc.strerror or exc}).") from None


def _check(rating: str) -> str:
    rating = str(rating or "").strip().lower()
    aliases = {"👍": "up", "👎": "down", "+1": "up", "-1": "down", "good": "up", "bad": "down"}
    rating = aliases.get(rating, rating)
    if rating not in RATINGS:
        raise FeedbackError(f"A rating is 'up' or 'down', not {rating!r}.")
    return rating


def _guard(path: Path, work):
    """Run ``work(conn)`` in one transaction; a damaged file becomes one FeedbackError line."""
    conn = _connect(path)
    try:
        with conn:
            return work(conn)
    except sqlite3.DatabaseError as exc:
        raise FeedbackError(f"The feedback database {path} is damaged ({exc}); move it away and a new one is started.") from None
    finally:
        conn.close()


def record(path: Path | str, item: Feedback) -> int:
    """Store ``item`` (its ``time`` is now when empty); return its row id."""
    rating = _check(item.rating)
    stamp = item.time or time.strftime("%Y-%m-%dT%H:%M:%S%z")
    row = (stamp, str(item.question), item.rewritten or "", item.answer or "",
           json.dumps(list(item.citations or []), ensure_ascii=False), item.backend or "", item.mode or "",
           int(bool(item.refused)), rating, (item.comment or "")[:MAX_COMMENT])

    def work(conn: sqlite3.Connection) -> int:
        cur = conn.execute(
            "INSERT INTO feedback (time, question, rewritten, answer, citations, backend, mode, refused, rating, comment) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        return int(cur.lastrowid)

    rid = _guard(Path(path), work)
    log.info("feedback %d recorded (%s)", rid, rating)
    return rid


def update(path: Path | str, row_id: int, rating: str | None = None, comment: str | None = None) -> None:
    """Change the rating and/or the comment of row ``row_id`` (FeedbackMissingError when there is none)."""
    sets, args = [], []
    if rating is not None:
        sets.append("rating = ?")
        args.append(_check(rating))
    if comment is not None:
        sets.append("comment = ?")
        args.append(str(comment)[:MAX_COMMENT])
    if not sets:
        return

    def work(conn: sqlite3.Connection) -> int:
        return conn.execute(f"UPDATE feedback SET {', '.join(sets)} WHERE id = ?", (*args, int(row_id))).rowcount

    if not _guard(Path(path), work):
        raise FeedbackMissingError(f"There is no feedback row {row_id} in {path}.")


def _from_row(r: Iterable[Any]) -> Feedback:
    d = dict(zip(_COLUMNS, r))
    try:
        cites = json.loads(d["citations"] or "[]")
    except ValueError:
        cites = []
    return Feedback(id=d["id"], time=d["time"], question=d["question"], rewritten=d["rewritten"], answer=d["answer"],
                    citations=cites if isinstance(cites, list) else [], backend=d["backend"], mode=d["mode"],
                    refused=bool(d["refused"]), rating=d["rating"], comment=d["comment"])


def list_feedback(path: Path | str, rating: str | None = None) -> list[Feedback]:
    """The rows, oldest first; only those of ``rating`` when given. No database yet: no rows."""
    path = Path(path)
    if not path.exists():
        return []
    where, args = ("WHERE rating = ?", (_check(rating),)) if rating else ("", ())

    def work(conn: sqlite3.Connection) -> list[Feedback]:
        return [_from_row(r) for r in conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM feedback {where} ORDER BY id", args)]

    return _guard(path, work)


def as_test_case(f: Feedback) -> dict:
    """A thumbs-down row as a draft question in the dev-set schema (id, question, type, answer,
    must_include, evidence, article). The right answer is not known yet: ``answer``,
    ``must_include`` and ``evidence`` are left for a person to fill in; what the system said is
    kept under ``feedback`` (with the passages it cited as candidate evidence)."""
    standalone = f.rewritten.strip() or f.question.strip()
    cites = [c for c in f.citations if isinstance(c, dict)]
    return {
        "id": f"feedback-{f.id}",
        "question": standalone,
        "type": "fact",
        "answer": "",
        "must_include": [],
        "evidence": [],
        "article": str(cites[0].get("title", "")) if cites else "",
        "feedback": {
            "asked": f.question,
            "answer_given": f.answer,
            "comment": f.comment,
            "backend": f.backend,
            "mode": f.mode,
            "refused": f.refused,
            "time": f.time,
            "cited": [{"file": c.get("file", ""), "title": c.get("title", ""), "quote": c.get("passage", "")} for c in cites],
        },
    }


def export_dev_set(path: Path | str, out: Path | str) -> int:
    """Write the thumbs-down rows of ``path`` to ``out`` as JSON Lines in the dev-set schema
    (see :func:`as_test_case`), atomically; return how many were written."""
    rows = [as_test_case(f) for f in list_feedback(path, "down")]
    out = Path(out)
    tmp = out.with_name(f".{out.name}.writing")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FeedbackError(f"Cannot write {out} ({exc.strerror or exc}).") from None
    return len(rows)
