"""Pages uploaded from the web app: checked, saved into the corpus folder under safe names.

What is refused gets one line saying why (wrong kind, too large, empty or undecodable, as `rag
index` would say it); nothing in the corpus is ever overwritten: a name already taken by a
different file gets a ``-2``, ``-3``… suffix, and an identical file is not saved twice. The
saved pages are then indexed incrementally by :func:`rag.indexing.add_to_index` (see
``EngineHolder.add`` in ``ui/app.py``)."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from rag.ingest import SUFFIXES, IngestError, id_prefix, max_file_bytes, read_text

log = logging.getLogger(__name__)

#: Longest file name kept (characters of the stem).
MAX_STEM = 80


@dataclass
class UploadResult:
    """The pages saved (paths in the corpus folder) and one line per file not saved or renamed."""

    saved: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def safe_name(name: str) -> str:
    """A file name that is safe in the corpus folder: no folders, no hidden or control characters,
    underscores made dashes (the part before the first ``_`` is an id prefix that another page
    may hold), a ``.txt`` / ``.md`` suffix kept as it was."""
    base = Path(str(name).replace("\\", "/")).name
    base = unicodedata.normalize("NFC", base)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, "txt"
    suffix = suffix.lower()
    stem = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|]+", "", stem)
    stem = re.sub(r"[\s_]+", "-", stem).strip(".- ")
    stem = stem[:MAX_STEM] or "page"
    return f"{stem}.{suffix}"


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def _free_target(corpus_dir: Path, name: str, sha: str, taken_prefixes: set[str]) -> tuple[Path | None, str]:
    """Where to save a page of ``name`` and content ``sha``: ``(None, note)`` when the very same
    file is already there; a renamed target (and a note) when the name or its id prefix is taken."""
    stem, suffix = name.rsplit(".", 1)
    for n in range(1, 1000):
        candidate = f"{stem}.{suffix}" if n == 1 else f"{stem}-{n}.{suffix}"
        target = corpus_dir / candidate
        if target.exists():
            if target.is_file() and _sha(target) == sha:
                return None, f"{name}: already in the corpus as {candidate}; not saved again."
            continue
        if id_prefix(candidate) in taken_prefixes:
            continue
        note = "" if n == 1 else f"{name}: a different page has that name; saved as {candidate}."
        return target, note
    raise OSError(f"no free name for {name}")


def save_uploads(files: Iterable[str | Path], corpus_dir: Path | str, names: Iterable[str] | None = None,
                 max_bytes: int | None = None) -> UploadResult:
    """Check the uploaded ``files`` (temporary paths; ``names`` are the names the user gave them,
    default the paths' names) and copy the acceptable ones into ``corpus_dir`` atomically."""
    corpus_dir = Path(corpus_dir)
    limit = max_file_bytes() if max_bytes is None else max_bytes
    files = [Path(f) for f in files]
    given = list(names) if names is not None else [f.name for f in files]
    out = UploadResult()
    corpus_dir.mkdir(parents=True, exist_ok=True)
    taken = {id_prefix(p.relative_to(corpus_dir).as_posix()) for p in corpus_dir.rglob("*")
             if p.is_file() and p.suffix.lower() in SUFFIXES}
    for path, original in zip(files, given):
        shown = Path(str(original).replace("\\", "/")).name or path.name
        if Path(shown).suffix.lower() not in SUFFIXES:
            out.refused.append(f"{shown}: only .txt and .md pages can be added.")
            continue
        try:
            size = path.stat().st_size
        except OSError as exc:
            out.refused.append(f"{shown}: cannot be read ({exc.strerror or exc}).")
            continue
        if size > limit:
            out.refused.append(f"{shown}: {size / 1e6:.1f} MB is over the {limit / 1e6:.1f} MB limit for one page "
                               "(split it, or raise YUWEN_MAX_FILE_MB).")
            continue
        try:
            read_text(path)  # the same decoding as indexing: BOMs, UTF-8, GB18030, a few bad bytes
        except IngestError as exc:
            out.refused.append(f"{shown}: {exc.reason}.")
            continue
        name = safe_name(shown)
        try:
            target, note = _free_target(corpus_dir, name, _sha(path), taken)
            if target is None:
                out.notes.append(note)
                continue
            tmp = target.with_name(f".{target.name}.adding")  # hidden: never read as a half-copied page
            shutil.copyfile(path, tmp)
            tmp.replace(target)
        except OSError as exc:
            out.refused.append(f"{shown}: cannot be saved into {corpus_dir}/ ({getattr(exc, 'strerror', None) or exc}).")
            continue
        taken.add(id_prefix(target.name))
        if note:
            out.notes.append(note)
        out.saved.append(target)
        log.info("uploaded page saved as %s", target)
    return out
