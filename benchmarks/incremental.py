"""Incremental index updates against a full build, on a copy of the demo corpus.

Runs the real commands as a user would (a fresh process each: imports and model load included)
in a temporary folder, never touching corpus/ or index/:

    full build        rag index --full
    no change         rag index
    one article edit  one number of one article changed, then rag index
    page added        rag add NEW_PAGE (an invented page of three articles' length)
    page removed      rag remove FILE

and prints wall time, the command's CPU time (user + system, all its threads: on a busy machine
the wall time swings with the load, the CPU time much less), the command's own account (articles
re-embedded, texts embedded / reused) and each update's share of the full build. ``--in-process`` runs the same steps through the Python
API in one process whose embedder is already loaded (as the web app's re-index button does), so
the figures leave out Python start-up and the model load. ``--embedder minilm`` for a quick look; the default
embedder is what the README reports. Results also go to benchmarks/results/incremental.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

NEW_PAGE = """临江区举办首届社区运动会

■记者 周七

11月20日，临江区首届社区运动会在滨江体育公园开幕，来自全区38个社区的1200余名居民报名参加。
运动会设置拔河、跳绳、定向越野等12个项目，既有适合老人的健身项目，也有面向青少年的竞技比赛。
区文化旅游委负责人介绍，今年全区新建和改造社区健身场地46处，居民步行15分钟即可到达一处健身点。

智慧停车平台上线试运行

■记者 吴八

临江区智慧停车平台日前上线试运行，首批接入公共停车场52个、泊位1.8万个。
市民通过手机即可查询空余车位、预约停车并在线缴费，平均找车位时间缩短约一半。
平台运营方表示，明年将把医院、商圈周边的停车资源全部接入平台。
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and the last line printed of the command ``cmd``."""
    started, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return seconds, _children_cpu() - cpu, proc.stdout.strip().splitlines()[-1]


def edit_one_article(corpus: Path) -> str:
    """Change one number in the middle of one page; return the file's name."""
    page = sorted(corpus.glob("*.txt"))[1]
    text = page.read_text("utf-8")
    middle = len(text) // 2
    m = re.compile(r"\d").search(text, middle)
    if m is None:
        raise SystemExit(f"{page} holds no digit to change")
    digit = str((int(m.group()) + 1) % 10)
    page.write_text(text[: m.start()] + digit + text[m.end():], "utf-8")
    return page.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="e5-small")
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus")
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/results/incremental[-in-process].json")
    parser.add_argument("--in-process", action="store_true", help="use the Python API in this process, model loaded once")
    args = parser.parse_args()
    args.out = args.out or REPO / "benchmarks" / "results" / f"incremental{'-in-process' if args.in_process else ''}.json"

    root = Path(tempfile.mkdtemp(prefix="yuwen-incremental-"))
    corpus, index = root / "corpus", root / "index"
    shutil.copytree(args.corpus, corpus)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    rag = [sys.executable, "-m", "rag.cli"]
    common = ["--corpus", str(corpus), "--index", str(index), "--embedder", args.embedder]
    (root / "new_page.txt").write_text(NEW_PAGE, "utf-8")
    removed = sorted(corpus.glob("*.txt"))[-1].name

    steps = [
        ("full build", lambda: None, [*rag, "index", "--full", *common]),
        ("no change", lambda: None, [*rag, "index", *common]),
        ("one article edited", lambda: edit_one_article(corpus), [*rag, "index", *common]),
        ("page added (rag add)", lambda: None, [*rag, "add", str(root / "new_page.txt"), *common]),
        ("page removed (rag remove)", lambda: None, [*rag, "remove", removed, *common]),
    ]
    results = []
    run_step = run
    if args.in_process:
        sys.path.insert(0, str(REPO))
        from rag.embedders import load_embedder
        from rag.indexing import add_to_index, build_index, describe_update, remove_from_index

        load_embedder(args.embedder)  # once, before timing: the running app has it loaded
        calls = {
            "full build": lambda: build_index(corpus, index, embedder=args.embedder, full=True),
            "no change": lambda: build_index(corpus, index, embedder=args.embedder),
            "one article edited": lambda: build_index(corpus, index, embedder=args.embedder),
            "page added (rag add)": lambda: add_to_index([root / "new_page.txt"], corpus, index, embedder=args.embedder),
            "page removed (rag remove)": lambda: remove_from_index([removed], corpus, index, embedder=args.embedder),
        }

        def run_step(name, env):  # the in-process stand-in for a command
            started, cpu = time.perf_counter(), time.process_time()
            m = calls[name]()
            return time.perf_counter() - started, time.process_time() - cpu, describe_update(m)

    try:
        for name, prepare, cmd in steps:
            prepare()
            seconds, cpu, said = run_step(name if args.in_process else cmd, env)
            manifest = json.loads((index / (index / "CURRENT").read_text("utf-8").strip() / "manifest.json").read_text("utf-8"))
            results.append({"step": name, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "said": said,
                            "update": manifest.get("update", {})})
            print(f"{name:28s} {seconds:6.1f} s  {cpu:6.1f} s cpu   {said}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    full, full_cpu = results[0]["seconds"], results[0]["cpu_seconds"]
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"\nfull build: {full:.1f} s ({full_cpu:.1f} s cpu); load average now {' '.join(load)}")
    for r in results:
        if not r["step"].startswith("full"):
            r["share_of_full"] = round(r["seconds"] / full, 3)
            r["cpu_share_of_full"] = round(r["cpu_seconds"] / max(full_cpu, 1e-9), 3)
            print(f"  {r['step']:28s} {r['seconds']:6.1f} s = {100 * r['share_of_full']:.0f} % of a full build "
                  f"({100 * r['cpu_share_of_full']:.0f} % of its cpu)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"embedder": args.embedder, "in_process": args.in_process, "cpu_threads": os.environ.get("OMP_NUM_THREADS"),
                                    "load_average": load,
                                    "measured": time.strftime("%Y-%m-%d %H:%M"), "results": results},
                                   ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
