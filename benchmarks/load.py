"""The web app under load: 8 and 32 concurrent users over a fixed number of varied questions,
then the same load while `rag add` of a new page (and `rag remove` of it) runs against the index.

    .venv/bin/python benchmarks/load.py                 # temp copy of corpus/, temp index, app on loopback
    .venv/bin/python benchmarks/load.py --questions 200 --users 8 --time-limit 60 --no-add   # a quick look
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:7860/ --server-pid 4242 --no-add   # a running app

Every request goes to this machine only. Each run asks at most --questions questions and stops
asking after --time-limit seconds (questions in flight finish), so the total is bounded: with the
defaults, the index build (100-150 s here), start-up, two runs of at most 100 s and the add run of
at most 180 s (--add-time-limit; the `rag add` under way is let finish). Prints per run the
throughput, p50/p95/p99 latency and errors, the server's RSS (VmRSS of /proc/<pid>/status) at
0/250/500/1 000 answered questions, and, for the add run, failed questions and when the answers
switched to the new build (a probe question only the new page answers, asked about twice a second).
Writes JSON (--out, default benchmarks/results/load.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("load")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadstats import QuestionStream, RssCheckpoints, percentile  # noqa: E402
from ui_latency import first_answer, free_port, start_app  # noqa: E402

from ui.app import default_concurrency  # noqa: E402  (the repo root on the path first)

REPO = Path(__file__).resolve().parents[1]

# Questions over the demo pages, in both languages, a few with no answer in the corpus; written for
# this benchmark (none is taken from the evaluation sets).
QUESTIONS = [
    "“33618”现代制造业集群指的是什么？",
    "重庆推动制造业“五个融合”具体是哪五个方面？",
    "市经济信息委党组书记是谁？",
    "川渝两地共建先进制造业集群有哪五大重点措施？",
    "重庆四川党政联席会议第八次会议在讨论什么？",
    "四川联动辟谣机制“1+5+N”是什么意思？",
    "哪些单位获评2023年四川省网络举报和辟谣工作优秀组织单位？",
    "怎样提升重庆城市国际传播效能？",
    "舆论引导为什么要第一时间主动发声？",
    "人工智能产业应用制高点怎么抢占？",
    "数字技术如何赋能文化领域治理？",
    "如何激发干部队伍的内生动力？",
    "党员干部增强党性要在哪些方面进一步到位？",
    "重庆制造业的“金名片”是怎么擦亮的？",
    "反腐败为什么要永远在路上？",
    "What does the Chongqing-Sichuan joint meeting say about industrial clusters?",
    "How does Chongqing plan to integrate artificial intelligence with manufacturing?",
    "Who wrote the article about the five integrations of manufacturing?",
    "What is the 1+5+N rumour-refuting mechanism in Sichuan?",
    "How can Chongqing improve its international communication?",
    "月球背面的第一家火锅店什么时候开业？",
    "What is the population of Atlantis in 2025?",
]
_PREFIX_ZH = ["", "请问", "我想知道", "麻烦说一下", "想了解：", "请帮忙查查", "问一下", "能否告诉我"]
_SUFFIX_ZH = ["", "谢谢", "请简单回答", "请附出处", "越详细越好"]
_PREFIX_EN = ["", "Please tell me: ", "I wonder: ", "Quick one: ", "Could you look up: ", "Help me out: ", "Question: ", "Tell me, "]
_SUFFIX_EN = ["", " Thanks.", " In short, please.", " Cite sources.", " As much detail as you can."]

# An invented page of two articles, added and removed while the load runs; PROBE is answered by it alone.
NEW_PAGE_NAME = "950_yuwen_load_probe.txt"
NEW_PAGE = """沙坪湾区首届无人机灯光节开幕

■记者 林九

12月1日晚，沙坪湾区首届无人机灯光节在江心岛开幕，共有863架无人机升空，
在夜空中拼出山城步道、缆车和黄葛树等图案，吸引约4.2万名市民和游客观看。
主办方介绍，灯光节将持续9个晚上，每晚两场，每场表演约15分钟。

沙坪湾区开通首条夜间公交环线

■记者 蓝十

沙坪湾区首条夜间公交环线近日开通，线路全长27公里，沿途设站31个，
运营时间为每晚22时至次日凌晨2时，发车间隔20分钟。
"""
PROBE = "沙坪湾区首届无人机灯光节共有多少架无人机升空？"
PROBE_FACT = "863"


@dataclass
class RunStats:
    name: str
    users: int
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused: int = 0
    wall: float = 0.0
    stopped_by_time: bool = False

    def summary(self) -> dict:
        ok = self.latencies

        def pct(p: float) -> float | None:
            return round(percentile(ok, p), 3) if ok else None

        return {
            "run": self.name,
            "users": self.users,
            "questions": len(ok) + len(self.errors),
            "answered": len(ok),
            "errors": len(self.errors),
            "error_samples": self.errors[:5],
            "refused": self.refused,
            "wall_s": round(self.wall, 2),
            "throughput_qps": round(len(ok) / self.wall, 2) if self.wall else None,
            "p50_s": pct(50),
            "p95_s": pct(95),
            "p99_s": pct(99),
            "max_s": round(max(ok), 3) if ok else None,
            "stopped_by_time_limit": self.stopped_by_time,
        }


class Counter:
    """Answered questions over the whole session (for the RSS marks)."""

    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def add(self) -> int:
        with self._lock:
            self.n += 1
            return self.n


def run_load(url: str, name: str, users: int, questions: int, time_limit: float, stream: QuestionStream,
             total: Counter, rss: RssCheckpoints, keep_going: threading.Event | None = None) -> RunStats:
    """``users`` threads, each with its own client, ask from ``stream`` until ``questions`` were
    started or ``time_limit`` seconds passed. With ``keep_going`` set, asking also goes on past
    ``questions`` while the event is set (the add run: load until the add and remove are done)."""
    from gradio_client import Client

    stats = RunStats(name, users)
    lock = threading.Lock()
    started_count = [0]
    started = time.perf_counter()
    deadline = started + time_limit

    def may_start() -> bool:
        with lock:
            if time.perf_counter() >= deadline:
                stats.stopped_by_time = True
                return False
            if started_count[0] >= questions and not (keep_going is not None and keep_going.is_set()):
                return False
            started_count[0] += 1
            return True

    def worker() -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as exc:
            with lock:
                stats.errors.append(f"client: {type(exc).__name__}: {exc}"[:300])
            return
        while may_start():
            q = next(stream)
            t0 = time.perf_counter()
            try:
                details = client.predict(question=q, k=5, mode="hybrid", api_name="/ask")
            except Exception as exc:
                with lock:
                    stats.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            dt = time.perf_counter() - t0
            with lock:
                stats.latencies.append(dt)
                stats.refused += bool(isinstance(details, dict) and details.get("refused"))
            rss.tick(total.add())

    threads = [threading.Thread(target=worker, name=f"user-{i}", daemon=True) for i in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats.wall = time.perf_counter() - started
    return stats


class Probe(threading.Thread):
    """Asks PROBE about twice a second and records whether the answer comes from the new page."""

    def __init__(self, url: str, t0: float, interval: float = 0.5):
        super().__init__(name="probe", daemon=True)
        self.url, self.t0, self.interval = url, t0, interval
        self.rows: list[dict] = []
        self.stop = threading.Event()

    def run(self) -> None:
        from gradio_client import Client

        client = Client(self.url, verbose=False)
        while not self.stop.is_set():
            # The same text each time: only question embeddings are cached, and they do not decide
            # which build answers.
            asked = time.perf_counter() - self.t0
            try:
                details = client.predict(question=PROBE, k=5, mode="hybrid", api_name="/ask")
                text = details["text"]
                files = sorted({Path(str(s.get("file", ""))).name for s in details["citations"]})
                self.rows.append({"t": round(asked, 2), "new_page": NEW_PAGE_NAME in files and PROBE_FACT in text,
                                  "refused": bool(isinstance(details, dict) and details.get("refused")),
                                  "cited": files, "answer": text[:80], "error": None})
            except Exception as exc:
                self.rows.append({"t": round(asked, 2), "new_page": False, "error": f"{type(exc).__name__}: {exc}"[:200]})
            self.stop.wait(self.interval)

    def first(self, after: float, new_page: bool) -> float | None:
        """Time of the first probe asked at or after ``after`` whose answer is (not) from the new page."""
        for r in self.rows:
            if r["t"] >= after and r["error"] is None and r["new_page"] == new_page:
                return r["t"]
        return None


def rag_cli(args: list[str], env: dict) -> tuple[float, int, str]:
    """Run ``rag ARGS`` as a user would (a fresh process); seconds, exit code, last output line."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=str(REPO), env=env, capture_output=True, text=True)
    out = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    return time.perf_counter() - t0, proc.returncode, out[-1] if out else ""


def add_run(url: str, index: Path, corpus: Path, workdir: Path, embedder: str, users: int, questions: int,
            time_limit: float, stream: QuestionStream, total: Counter, rss: RssCheckpoints) -> tuple[RunStats, dict]:
    """The load of ``users`` while `rag add` of NEW_PAGE, then `rag remove` of it, run beside it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    incoming = workdir / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    page = incoming / NEW_PAGE_NAME
    page.write_text(NEW_PAGE, encoding="utf-8")
    t0 = time.perf_counter()
    probe = Probe(url, t0)
    busy = threading.Event()
    busy.set()
    result: dict = {}
    holder: dict = {}

    def load() -> None:
        holder["stats"] = run_load(url, f"{users} users + rag add/remove", users, questions, time_limit, stream, total, rss, busy)

    loader = threading.Thread(target=load, name="load", daemon=True)
    probe.start()
    loader.start()
    try:
        # The load under way and the probe answered (from the old build) before the add starts.
        wait_until = time.perf_counter() + 30
        while len(probe.rows) < 2 and time.perf_counter() < wait_until:
            time.sleep(0.25)
        common = ["--corpus", str(corpus), "--index", str(index), "--embedder", embedder]
        add_start = time.perf_counter() - t0
        secs, code, line = rag_cli(["add", str(page), *common], env)
        add_end = time.perf_counter() - t0
        result["add"] = {"seconds": round(secs, 1), "exit": code, "said": line, "started_t": round(add_start, 2),
                         "finished_t": round(add_end, 2)}
        log.info("rag add: %.1f s, exit %d: %s", secs, code, line)
        # The command switches CURRENT before it exits, so the first probe from the new build may
        # have been asked while it still ran: look from its start, and say where it fell.
        seen = _wait_for(probe, add_start, True, deadline=time.perf_counter() + 60)
        result["add"]["probe_answered_from_new_page_t"] = seen
        result["add"]["switch_lag_s"] = round(seen - add_end, 2) if seen is not None else None
        rm_start = time.perf_counter() - t0
        secs, code, line = rag_cli(["remove", NEW_PAGE_NAME, *common], env)
        rm_end = time.perf_counter() - t0
        result["remove"] = {"seconds": round(secs, 1), "exit": code, "said": line, "started_t": round(rm_start, 2),
                            "finished_t": round(rm_end, 2)}
        log.info("rag remove: %.1f s, exit %d: %s", secs, code, line)
        gone = _wait_for(probe, rm_start, False, deadline=time.perf_counter() + 60)
        result["remove"]["probe_no_longer_from_new_page_t"] = gone
        result["remove"]["switch_lag_s"] = round(gone - rm_end, 2) if gone is not None else None
    finally:
        busy.clear()
        loader.join()
        probe.stop.set()
        probe.join(timeout=60)
    before = [r for r in probe.rows if r["t"] < result.get("add", {}).get("started_t", 0) and r["error"] is None]
    result["probe"] = {
        "question": PROBE,
        "asked": len(probe.rows),
        "errors": sum(r["error"] is not None for r in probe.rows),
        "from_new_page_before_add": sum(r["new_page"] for r in before),
        "asked_before_add": len(before),
        "interval_s_p50": round(percentile([b["t"] - a["t"] for a, b in zip(probe.rows, probe.rows[1:])], 50), 2)
        if len(probe.rows) > 1 else None,
        "timeline": probe.rows,
    }
    return holder["stats"], result


def _wait_for(probe: Probe, after: float, new_page: bool, deadline: float) -> float | None:
    while time.perf_counter() < deadline:
        t = probe.first(after, new_page)
        if t is not None:
            return t
        time.sleep(0.25)
    return probe.first(after, new_page)


def prepare(workdir: Path, corpus_src: Path, embedder: str) -> tuple[Path, Path, float]:
    """``workdir/corpus`` (a copy of ``corpus_src``) and ``workdir/index`` built from it; reused when there."""
    corpus, index = workdir / "corpus", workdir / "index"
    if not corpus.exists():
        shutil.copytree(corpus_src, corpus, symlinks=False)
    if (index / "CURRENT").exists():
        return corpus, index, 0.0
    log.info("building an index of %s in %s (about 100 s here)", corpus, index)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    secs, code, line = rag_cli(["index", "--corpus", str(corpus), "--index", str(index), "--embedder", embedder], env)
    if code != 0:
        raise SystemExit(f"rag index failed ({code}): {line}")
    log.info("index built in %.1f s: %s", secs, line)
    return corpus, index, secs


def print_report(report: dict) -> None:
    header = f"{'run':<28} {'asked':>6} {'err':>4} {'q/s':>6} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} {'max s':>7} {'wall s':>7}"
    lines = [header, "-" * len(header)]
    for r in report["runs"]:
        lines.append(f"{r['run']:<28} {r['questions']:>6} {r['errors']:>4} {r['throughput_qps'] or 0:>6.2f} "
                     f"{r['p50_s'] or 0:>7.3f} {r['p95_s'] or 0:>7.3f} {r['p99_s'] or 0:>7.3f} {r['max_s'] or 0:>7.3f} "
                     f"{r['wall_s']:>7.1f}" + ("  (time limit)" if r["stopped_by_time_limit"] else ""))
    lines.append("server RSS: " + ", ".join(
        f"{s['questions']} q → {s['rss_mb']} MB" + (f" ({s['label']})" if s["label"] and not s["label"].endswith("questions") else "")
        for s in report["rss"]))
    add = report.get("add_remove")
    if add:
        a, rm, p = add.get("add", {}), add.get("remove", {}), add["probe"]
        lines.append(f"rag add: {a.get('seconds')} s (exit {a.get('exit')}): {a.get('said')}")
        lines.append(f"  probe first answered from the new page when asked at t={a.get('probe_answered_from_new_page_t')} s: "
                     f"{a.get('switch_lag_s')} s from rag add's exit at t={a.get('finished_t')} s (negative: before it exited); "
                     f"before the add {p['from_new_page_before_add']} of {p['asked_before_add']} probes; "
                     f"one probe every {p['interval_s_p50']} s")
        lines.append(f"rag remove: {rm.get('seconds')} s (exit {rm.get('exit')}): {rm.get('said')}")
        lines.append(f"  probe no longer from the new page when asked at t={rm.get('probe_no_longer_from_new_page_t')} s: "
                     f"{rm.get('switch_lag_s')} s from rag remove's exit at t={rm.get('finished_t')} s")
        lines.append(f"failed questions during add/remove: {add['failed_questions']} (load) + {p['errors']} (probe, of {p['asked']})")
    la = report["machine"]["loadavg_start"], report["machine"]["loadavg_end"]
    lines.append(f"load average at start {la[0]}, at end {la[1]} ({report['machine']['cpus']} cores)")
    log.info("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a running app; without it the app is started here on a temporary index")
    ap.add_argument("--server-pid", type=int, help="with --url: the server's pid, for its RSS")
    ap.add_argument("--corpus", default=str(REPO / "corpus"), help="pages to copy into the temporary corpus")
    ap.add_argument("--workdir", help="keep the copied corpus and the index here (reused when present) instead of a temp folder")
    ap.add_argument("--embedder", default="e5-small")
    ap.add_argument("--users", default="8,32", help="concurrent users of each run, comma-separated (default 8,32)")
    ap.add_argument("--questions", type=int, default=500, help="questions per run (default 500)")
    ap.add_argument("--time-limit", type=float, default=100.0, help="seconds per run after which no question is started")
    ap.add_argument("--no-add", action="store_true", help="skip the run with rag add / rag remove beside the load")
    ap.add_argument("--add-time-limit", type=float, default=180.0,
                    help="seconds of the add run (the load goes on until rag add and rag remove are done and seen)")
    ap.add_argument("--add-users", type=int, default=None, help="users of the add run (default: the largest of --users)")
    ap.add_argument("--rss-marks", default="0,250,500,1000")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "load.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("httpx", "gradio_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    users = [int(u) for u in args.users.split(",") if u.strip()]
    if not users or min(users) < 1 or args.questions < 1 or args.time_limit <= 0:
        ap.error("--users, --questions and --time-limit must be positive")
    loadavg_start = os.getloadavg()

    proc = None
    tmp = None
    build_s = 0.0
    corpus = index = workdir = None
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    elif not args.url:
        tmp = Path(tempfile.mkdtemp(prefix="yuwen-load-"))
        workdir = tmp
    log_path = (workdir or Path(tempfile.gettempdir())) / "app.log"
    stream = QuestionStream(QUESTIONS, _PREFIX_ZH, _SUFFIX_ZH, _PREFIX_EN, _SUFFIX_EN)
    total = Counter()
    runs: list[dict] = []
    add_report = None
    try:
        if args.url:
            url, pid, started = args.url, args.server_pid, time.perf_counter()
        else:
            corpus, index, build_s = prepare(workdir, Path(args.corpus), args.embedder)
            port = free_port()
            url = f"http://127.0.0.1:{port}/"
            proc, started = start_app(index, corpus, args.embedder, port, log_path)
            pid = proc.pid
            log.info("app starting on %s (pid %d, log: %s)", url, pid, log_path)
        startup = first_answer(url, started, proc, log_path if proc else None)
        log.info("first answer %.2f s after start-up", startup)
        rss = RssCheckpoints(pid, tuple(int(m) for m in args.rss_marks.split(",") if m.strip()))
        rss.tick(0)
        for u in users:
            stats = run_load(url, f"{u} users", u, args.questions, args.time_limit, stream, total, rss)
            rss.sample(total.n, f"end of {u} users")
            runs.append(stats.summary())
            log.info("%s: %d answered, %d errors in %.1f s", stats.name, len(stats.latencies), len(stats.errors), stats.wall)
        if not args.no_add:
            if index is None:
                log.warning("the add run needs the app's index and corpus: skipped with --url")
            else:
                stats, add_report = add_run(url, index, corpus, workdir, args.embedder, args.add_users or max(users),
                                            args.questions, args.add_time_limit, stream, total, rss)
                rss.sample(total.n, "end of add/remove")
                runs.append(stats.summary())
                add_report["failed_questions"] = len(stats.errors)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)  # the temporary folder this run made, nothing else

    report = {
        "url": url if args.url else "started by the benchmark",
        "time_to_first_answer_s": round(startup, 2),
        "index_build_s": round(build_s, 1) if build_s else None,
        "settings": {"users": users, "questions_per_run": args.questions, "time_limit_s": args.time_limit,
                     "add_run": add_report is not None, "embedder": args.embedder, "mode": "hybrid", "k": 5,
                     "concurrency_limit": default_concurrency(), "distinct_base_questions": len(QUESTIONS)},
        "runs": runs,
        "rss": rss.samples,
        "add_remove": add_report,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_start": [round(x, 2) for x in loadavg_start],
                    "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    print_report(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    log.info("wrote %s", out)
    failed = sum(r["errors"] for r in runs) + (add_report["probe"]["errors"] if add_report else 0)
    switched = add_report is None or (add_report.get("add", {}).get("switch_lag_s") is not None
                                      and add_report.get("remove", {}).get("switch_lag_s") is not None)
    return 0 if failed == 0 and switched else 1


if __name__ == "__main__":
    sys.exit(main())
