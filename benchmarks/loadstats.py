"""Small measuring helpers of the load benchmark (benchmarks/load.py): percentiles, a process's
resident memory from /proc, memory samples at question counts, and a stream of questions worded
so that none repeats within a run."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100) of ``values`` by linear interpolation; NaN when empty."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def read_rss_kb(pid: int, proc_root: Path = Path("/proc")) -> int | None:
    """Resident set size (VmRSS) of process ``pid`` in kB, from ``/proc/<pid>/status``; None when
    the process is gone or the line is missing (e.g. a kernel thread, or not Linux)."""
    try:
        text = (proc_root / str(pid) / "status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1])
    return None


@dataclass
class RssCheckpoints:
    """Samples a process's RSS when the count of answered questions first reaches each mark.

    ``tick(n)`` is called after every answered question (from any thread); ``sample(n, label)``
    records one sample outright (e.g. at the end of a run)."""

    pid: int | None
    marks: tuple[int, ...] = (0, 250, 500, 1000)
    proc_root: Path = Path("/proc")
    samples: list[dict] = field(default_factory=list)
    _pending: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._pending = sorted(set(self.marks))

    def sample(self, questions: int, label: str = "") -> dict:
        rss = read_rss_kb(self.pid, self.proc_root) if self.pid is not None else None
        row = {"questions": questions, "rss_mb": round(rss / 1024, 1) if rss is not None else None, "label": label}
        with self._lock:
            self.samples.append(row)
        return row

    def tick(self, questions: int) -> None:
        with self._lock:
            due = [m for m in self._pending if m <= questions]
            if not due:
                return
            self._pending = [m for m in self._pending if m > questions]
        for m in due:
            self.sample(questions, f"{m} questions")


class QuestionStream:
    """Questions cycled from a base list, each wrapped in neutral wording (prefix, suffix) chosen so
    that no text repeats within the stream: the engine caches question embeddings, and cached
    repeats would flatter a benchmark. Thread-safe."""

    def __init__(self, questions: list[str], prefixes_zh: list[str], suffixes_zh: list[str],
                 prefixes_en: list[str], suffixes_en: list[str]):
        if not questions:
            raise ValueError("QuestionStream needs at least one question")
        self.questions = list(questions)
        self._zh = (list(prefixes_zh) or [""], list(suffixes_zh) or [""])
        self._en = (list(prefixes_en) or [""], list(suffixes_en) or [""])
        self._i = 0
        self._lock = threading.Lock()

    def __next__(self) -> str:
        with self._lock:
            i = self._i
            self._i += 1
        q = self.questions[i % len(self.questions)]
        v = i // len(self.questions)
        prefixes, suffixes = self._en if q.isascii() else self._zh
        combos = len(prefixes) * len(suffixes)
        text = prefixes[v % len(prefixes)] + q + suffixes[(v // len(prefixes)) % len(suffixes)]
        if v >= combos:  # every wording used once: number the round, still a new text
            text += f" ({v // combos + 1})"
        return text

    def __iter__(self) -> "QuestionStream":
        return self
