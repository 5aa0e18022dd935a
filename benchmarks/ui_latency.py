"""Latency of the web app's /ask endpoint as a service: time to the first answer after start-up,
then p50/p95 for one user and for 8 concurrent users (gradio_client threads).

    .venv/bin/python benchmarks/ui_latency.py                      # starts the app itself
    .venv/bin/python benchmarks/ui_latency.py --url http://127.0.0.1:7860/   # a running app

Every request goes to this machine only; the number of requests is bounded (--requests).
Prints a table and writes JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger("ui_latency")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ui.app import default_concurrency  # noqa: E402  (the repo root on the path first)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadstats import percentile  # noqa: E402  (one percentile for both load benchmarks)

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "川渝工业增加值增长多少？",
    "重庆工业经济“十五五”期间要迈上多大的规模台阶？",
    "重庆南开中学开发的教育大模型叫什么？",
    "What is the education large model developed by Chongqing Nankai Secondary School called?",
    "重庆如何推动人工智能与制造业融合？",
    "What are the “33618” modern manufacturing clusters?",
    "成渝地区双城经济圈共同打造哪些万亿级产业集群？",
    "火星上的咖啡馆每天营业几个小时？",
]

# Neutral wording around each question, so that no request repeats an earlier one: the engine
# caches question embeddings, and a benchmark of cached repeats would flatter it.
_PREFIX_ZH = ["", "请问", "我想知道", "麻烦告诉我", "想了解一下", "请帮我查一下"]
_SUFFIX_ZH = ["", "谢谢", "请简要回答", "请给出处"]
_PREFIX_EN = ["", "Please tell me: ", "I'd like to know: ", "Quick question: ", "Could you check: ", "Help me find out: "]
_SUFFIX_EN = ["", " Thanks.", " Briefly, please.", " With sources."]
_seq = iter(range(10**9))
_seq_lock = threading.Lock()


def next_question() -> str:
    """The next question of the cycle, worded so that it was not asked before in this run."""
    with _seq_lock:
        i = next(_seq)
    q = QUESTIONS[i % len(QUESTIONS)]
    v = i // len(QUESTIONS)
    english = q.isascii() or "What" in q
    prefixes, suffixes = (_PREFIX_EN, _SUFFIX_EN) if english else (_PREFIX_ZH, _SUFFIX_ZH)
    return prefixes[v % len(prefixes)] + q + suffixes[(v // len(prefixes)) % len(suffixes)]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summarize(name: str, latencies: list[float], wall: float, errors: int) -> dict:
    """Count, p50, p95, mean, max (seconds) and throughput of one run."""
    return {
        "run": name,
        "requests": len(latencies) + errors,
        "errors": errors,
        "p50_s": round(percentile(latencies, 50), 3),
        "p95_s": round(percentile(latencies, 95), 3),
        "mean_s": round(statistics.fmean(latencies), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(latencies) / wall, 2) if wall else None,
    }


def ensure_index(index_dir: Path, corpus_dir: Path, embedder: str) -> tuple[Path, float]:
    """``index_dir`` when it holds an index, else a fresh one built in a temporary folder."""
    if (index_dir / "CURRENT").exists():
        return index_dir, 0.0
    from rag.indexing import build_index

    target = Path(tempfile.mkdtemp(prefix="yuwen-bench-")) / "index"
    log.info("no index in %s; building one in %s", index_dir, target)
    started = time.perf_counter()
    build_index(corpus_dir, target, embedder=embedder)
    return target, time.perf_counter() - started


def start_app(index_dir: Path, corpus_dir: Path, embedder: str, port: int, log_path: Path) -> tuple[subprocess.Popen, float]:
    """Start ``rag serve``'s app in a child process logging to ``log_path``; returns it and its
    start time. (Its output goes to a file: an unread pipe would fill up and stall the server.)"""
    code = (
        "import logging, sys; logging.basicConfig(level=logging.WARNING);"
        "from ui.app import serve;"
        f"serve('127.0.0.1', {port}, index_dir={str(index_dir)!r}, corpus_dir={str(corpus_dir)!r}, embedder={embedder!r})"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=str(REPO), env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, started


def first_answer(url: str, started: float, proc: subprocess.Popen | None, log_path: Path | None = None,
                 timeout: float = 300) -> float:
    """Seconds from ``started`` until /ask first returns an answer."""
    from gradio_client import Client

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:] if log_path else ""
            raise RuntimeError(f"the app exited:\n{tail}")
        try:
            client = Client(url, verbose=False)
            client.predict(question=next_question(), k=5, mode="hybrid", api_name="/ask")
            return time.perf_counter() - started
        except Exception:
            time.sleep(0.25)
    raise RuntimeError(f"no answer from {url} within {timeout:.0f} s")


def run_load(url: str, users: int, requests: int, mode: str) -> tuple[list[float], float, int]:
    """``requests`` /ask calls spread over ``users`` threads, each with its own client."""
    from gradio_client import Client

    local = threading.local()

    def one(_: int) -> float | None:
        if not hasattr(local, "client"):
            local.client = Client(url, verbose=False)
        q = next_question()
        t0 = time.perf_counter()
        try:
            local.client.predict(question=q, k=5, mode=mode, api_name="/ask")
        except Exception as exc:
            log.warning("request failed: %s", exc)
            return None
        return time.perf_counter() - t0

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=users) as pool:
        results = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - started
    latencies = [r for r in results if r is not None]
    return latencies, wall, len(results) - len(latencies)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a running app; without it the app is started here")
    ap.add_argument("--index", default=str(REPO / "index"))
    ap.add_argument("--corpus", default=str(REPO / "corpus"))
    ap.add_argument("--embedder", default="e5-small")
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--requests", type=int, default=96, help="requests of the concurrent run (bounded)")
    ap.add_argument("--sequential", type=int, default=16, help="requests of the one-user run")
    ap.add_argument("--mode", default="hybrid")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ui_latency.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("httpx", "gradio_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    proc = None
    build_s = 0.0
    log_path = Path(tempfile.gettempdir()) / "yuwen-ui-latency-app.log"
    try:
        if args.url:
            url, started = args.url, time.perf_counter()
        else:
            index, build_s = ensure_index(Path(args.index), Path(args.corpus), args.embedder)
            port = free_port()
            url = f"http://127.0.0.1:{port}/"
            proc, started = start_app(index, Path(args.corpus), args.embedder, port, log_path)
            log.info("app starting on %s (log: %s)", url, log_path)
        startup = first_answer(url, started, proc, log_path if proc else None)
        log.info("first answer %.2f s after start-up", startup)
        seq = summarize("1 user, sequential", *run_load(url, 1, args.sequential, args.mode))
        conc = summarize(f"{args.users} users, concurrent", *run_load(url, args.users, args.requests, args.mode))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    report = {
        "url": url if args.url else "started by the benchmark",
        "time_to_first_answer_s": round(startup, 2) if not args.url else None,
        "index_build_s": round(build_s, 1) if build_s else None,
        "runs": [seq, conc],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "concurrency_limit": default_concurrency(),
        "mode": args.mode,
        "embedder": args.embedder,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    header = f"{'run':<22} {'req':>5} {'err':>4} {'p50 s':>7} {'p95 s':>7} {'mean s':>7} {'max s':>7} {'req/s':>6}"
    lines = [header, "-" * len(header)]
    for r in report["runs"]:
        lines.append(f"{r['run']:<22} {r['requests']:>5} {r['errors']:>4} {r['p50_s']:>7.3f} {r['p95_s']:>7.3f} "
                     f"{r['mean_s'] or 0:>7.3f} {r['max_s'] or 0:>7.3f} {r['throughput_rps'] or 0:>6.2f}")
    if report["time_to_first_answer_s"] is not None:
        lines.append(f"time to first answer after start-up: {report['time_to_first_answer_s']:.2f} s")
    logging.getLogger("ui_latency").info("\n".join(lines))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    log.info("wrote %s", out)
    return 0 if all(r["errors"] == 0 for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
