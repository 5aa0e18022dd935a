"""Our retrieval modes against the LlamaIndex baseline, on CMRC 2018 and on the dev set.

    .venv/bin/python benchmarks/compare.py                       # both runs, then the tables
    .venv/bin/python benchmarks/compare.py --sample 800          # 800 CMRC questions spread over the set
    .venv/bin/python benchmarks/compare.py --tables-only         # reprint the tables of saved runs

Each run is the CLI's own (`rag eval --bench DIR --compare`, `rag eval dev.jsonl --compare`),
with its JSON and recall@k chart written under ``benchmarks/results/``. The dev set needs an
index of the demo corpus built with the current code: ``--dev-index`` (default: a fresh one in
a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results"
RAG = str(REPO / ".venv" / "bin" / "rag")


def _run(cmd: list[str], out: Path) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    print("$", " ".join(cmd), f"> {out}", file=sys.stderr, flush=True)
    with open(out, "w", encoding="utf-8") as fh:
        subprocess.run(cmd, stdout=fh, check=True, env=env, cwd=REPO)


def tables(path: Path) -> str:
    """The comparison table of a saved ``--compare --json`` run."""
    from rag.bench import format_comparison

    data = json.loads(path.read_text("utf-8"))
    results = [{"system": name, "n": s["n"], "overall": s["overall"]} for name, s in data["systems"].items()]
    head = f"## {path.name}  ({data.get('bench') or data.get('questions')}; embedder {data.get('embedder', '-')})"
    builds = [f"  {name}: {s['chunks']} chunks, built in {s['build_seconds']} s"
              for name, s in data["systems"].items() if "chunks" in s]
    return "\n".join([head, format_comparison(results)] + builds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench" / "cmrc2018")
    ap.add_argument("--dev", type=Path, default=REPO.parent / "shared" / "eval" / "dev.jsonl")
    ap.add_argument("--dev-index", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--sample", type=int, default=None, help="N CMRC questions evenly spaced over the set")
    ap.add_argument("--peer-limit", type=int, default=None)
    ap.add_argument("--embedder", default="e5-small")
    ap.add_argument("--tables-only", action="store_true")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    bench_json = RESULTS / f"{args.bench.name}_compare.json"
    dev_json = RESULTS / "dev_compare.json"
    if not args.tables_only:
        cmd = [RAG, "eval", "--bench", str(args.bench), "--compare", "--json", "--details", "--embedder", args.embedder,
               "--plot", str(RESULTS / f"{args.bench.name}_recall.png")]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        if args.sample:
            cmd += ["--sample", str(args.sample)]
        if args.peer_limit:
            cmd += ["--peer-limit", str(args.peer_limit)]
        _run(cmd, bench_json)
        dev_index = args.dev_index
        if dev_index is None:
            dev_index = Path(tempfile.mkdtemp(prefix="yuwen-dev-index-"))
            subprocess.run([RAG, "index", "--corpus", str(REPO / "corpus"), "--index", str(dev_index),
                            "--embedder", args.embedder], check=True, cwd=REPO, env=dict(os.environ, HF_HUB_OFFLINE="1"))
        _run([RAG, "eval", str(args.dev), "--compare", "--json", "--corpus", str(REPO / "corpus"), "--index", str(dev_index),
              "--embedder", args.embedder, "--plot", str(RESULTS / "dev_recall.png")], dev_json)
    for path in (bench_json, dev_json):
        if path.is_file():
            print(tables(path))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
