"""The same index in two stores: search and answer latency, and whether they rank alike.

    .venv/bin/python benchmarks/stores.py --local-index index --milvus-index /tmp/m/index \\
        --store milvus-lite:///tmp/m/demo.db [--questions ../shared/eval/dev.jsonl] [--rounds 3]

Both indexes must be built from the same corpus with the same embedder (`rag index`, once with
``--store``). For each store it prints p50 / p95 of ``Engine.search`` per mode and of
``Engine.ask``, the query-vector cache cleared before each question; then how many questions get
the same top-10 passages, the same answer text and the same citations from both stores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _open(index: Path, corpus: Path, store: str):
    os.environ["YUWEN_STORE"] = store
    from rag.engine import Engine

    return Engine.open(index, corpus)


def _timed(engine, questions: list[str], rounds: int) -> dict:
    from rag.embedders import query_vector

    out = {}
    for name, call in (("dense", lambda q: engine.search(q, k=5, mode="dense")),
                       ("bm25", lambda q: engine.search(q, k=5, mode="bm25")),
                       ("hybrid", lambda q: engine.search(q, k=5, mode="hybrid")),
                       ("ask", lambda q: engine.ask(q))):
        times = []
        for _ in range(rounds):
            for q in questions:
                if hasattr(query_vector, "cache_clear"):
                    query_vector.cache_clear()
                t = time.perf_counter()
                call(q)
                times.append(1000 * (time.perf_counter() - t))
        out[name] = (float(np.percentile(times, 50)), float(np.percentile(times, 95)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--questions", type=Path, default=REPO.parent / "shared" / "eval" / "dev.jsonl")
    p.add_argument("--corpus", type=Path, default=REPO / "corpus")
    p.add_argument("--local-index", type=Path, default=REPO / "index")
    p.add_argument("--milvus-index", type=Path, required=True)
    p.add_argument("--store", required=True, help="milvus-lite:///…/file.db or http://host:19530")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    questions = [json.loads(line)["question"] for line in args.questions.read_text("utf-8").splitlines() if line.strip()]
    local = _open(args.local_index, args.corpus, "local")
    milvus = _open(args.milvus_index, args.corpus, args.store)
    same_top = sum([h.chunk.id for h in local.search(q, k=10)] == [h.chunk.id for h in milvus.search(q, k=10)]
                   for q in questions)
    same_text = same_cites = 0
    for q in questions:
        a, b = local.ask(q), milvus.ask(q)
        same_text += a.text == b.text
        same_cites += [c.chunk_id for c in a.citations] == [c.chunk_id for c in b.citations]
    print(f"{len(questions)} questions: same hybrid top-10 {same_top}, same answer text {same_text}, same citations {same_cites}")
    print("store | dense p50/p95 | bm25 p50/p95 | hybrid p50/p95 | ask p50/p95 (ms)")
    for name, engine in (("local", local), (args.store, milvus)):
        t = _timed(engine, questions, args.rounds)
        print(f"{name} | " + " | ".join(f"{t[k][0]:.1f} / {t[k][1]:.1f}" for k in ("dense", "bm25", "hybrid", "ask")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
