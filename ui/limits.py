"""How much one client may ask, and how many questions may wait: the "busy, try again" replies.

``YUWEN_RATE``: questions per minute per client address (default 30 when serving beyond loopback,
none on loopback; 0 turns the limit off).
``YUWEN_QUEUE``: questions that may wait for a worker (default 64); the page and ``/ask`` wait in
Gradio's queue, ``/v1`` in :class:`Admission`. A client is its address as the server sees it
(behind a reverse proxy every client is the proxy: set the limit there, or raise it here)."""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from typing import Any, Callable

DEFAULT_RATE = 30
DEFAULT_QUEUE = 64


class Busy(Exception):
    """A question not taken now; ``retry_after`` seconds from now it would be."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.split("/")[0])  # "30/min" reads as 30
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, not {value}")
    return value


def rate_from_env(default: int = DEFAULT_RATE) -> int:
    """``YUWEN_RATE`` (questions per minute per client), else ``default``."""
    return _env_int("YUWEN_RATE", default)


def queue_from_env() -> int:
    """``YUWEN_QUEUE`` (questions that may wait), else the default."""
    return _env_int("YUWEN_QUEUE", DEFAULT_QUEUE)


def busy_message(seconds: int, why: str = "too many questions from this address") -> str:
    return f"Busy: {why}; try again in {seconds} s. / 系统繁忙，请 {seconds} 秒后再试。"


class RateLimit:
    """At most ``per_minute`` questions per client in any 60 seconds (a sliding window)."""

    def __init__(self, per_minute: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.window = window
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> None:
        """Count one question of ``client``, or raise :class:`Busy` saying when it may ask again."""
        if self.per_minute <= 0:
            return
        now = self.clock()
        with self._lock:
            if len(self._seen) > 10_000:  # forget the clients that have been quiet for a window
                self._seen = {c: q for c, q in self._seen.items() if q and now - q[-1] < self.window}
            times = self._seen.setdefault(client, deque())
            while times and now - times[0] >= self.window:
                times.popleft()
            if len(times) >= self.per_minute:
                wait = max(1, math.ceil(self.window - (now - times[0])))
                raise Busy(busy_message(wait), wait)
            times.append(now)


class Admission:
    """At most ``workers`` questions answered at once and ``queue`` more waiting; beyond that, :class:`Busy`."""

    def __init__(self, workers: int, queue: int):
        self.workers = max(1, workers)
        self.queue = max(0, queue)
        self._slots = threading.Semaphore(self.workers)
        self._lock = threading.Lock()
        self._inside = 0  # answering or waiting

    def full(self) -> bool:
        """Whether a question arriving now would be turned away."""
        return self._inside >= self.workers + self.queue

    def busy(self) -> Busy:
        return Busy(busy_message(5, f"{self._inside} questions are being answered or waiting"), 5)

    def __enter__(self) -> "Admission":
        with self._lock:
            if self.full():
                raise self.busy()
            self._inside += 1
        self._slots.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._slots.release()
        with self._lock:
            self._inside -= 1


def client_of(request: Any) -> str:
    """The client address of a ``gr.Request`` or a Starlette request ("?" when unknown)."""
    client = getattr(request, "client", None)
    host = getattr(client, "host", None) if client is not None else None
    return str(host or "?")
