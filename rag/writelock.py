"""One writer per index folder: an advisory lock on ``index/LOCK`` naming its owner.

The kernel drops a ``flock`` when its process dies, however it dies, so a lock left by a killed
``rag index`` is simply taken over by the next writer; the file's text (pid, start time, command)
only tells a second writer who is busy."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
import time
from pathlib import Path

LOCK_NAME = "LOCK"


class IndexBusyError(RuntimeError):
    """Another process is writing this index folder."""


class IndexWriteError(RuntimeError):
    """The index folder cannot be written (not a folder, read-only, full disk); nothing was changed."""


def check_index_folder(index_dir: Path) -> None:
    """IndexWriteError unless ``index_dir`` is (or can become) a writable folder."""
    index_dir = Path(index_dir)
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexWriteError(f"--index {index_dir} is a file, not a folder: give a folder for the index.")
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexWriteError(f"Cannot create the index folder {index_dir}/ ({exc.strerror or exc}).") from exc
    if not os.access(index_dir, os.W_OK | os.X_OK):
        raise IndexWriteError(f"The index folder {index_dir}/ is not writable (permission denied).")


class WriteLock:
    """``with WriteLock(index_dir):`` holds the folder's writer lock or raises IndexBusyError."""

    def __init__(self, index_dir: Path | str, command: str = "rag index"):
        self.index_dir = Path(index_dir)
        self.command = command
        self._fd: int | None = None

    def __enter__(self) -> "WriteLock":
        check_index_folder(self.index_dir)
        path = self.index_dir / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise IndexWriteError(f"Cannot write the lock file {path} ({exc.strerror or exc}).") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise IndexBusyError(f"The index in {self.index_dir}/ is busy: {owner_of(self.index_dir)} is writing it; "
                                     "try again when it has finished.") from None
            raise IndexWriteError(f"Cannot lock {path} ({exc.strerror or exc}).") from exc
        info = {"pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": self.command,
                "argv": " ".join(sys.argv[:3])}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        except OSError:
            pass  # the lock holds without its note (a full disk); the owner is then just unnamed
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def owner_of(index_dir: Path) -> str:
    """Who holds the lock, as the lock file says ("pid 123, rag add, since …")."""
    try:
        info = json.loads((Path(index_dir) / LOCK_NAME).read_text("utf-8") or "{}")
        return f"{info.get('command', 'another writer')} (pid {info.get('pid', '?')}, since {info.get('started', '?')})"
    except (OSError, ValueError):
        return "another writer"
