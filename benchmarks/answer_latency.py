"""Full-answer latency on the demo index: ``Engine.ask`` (rewrite, retrieval, evidence, answer)
per question, the query-vector cache cleared before each so no question is flattered.

    .venv/bin/python benchmarks/answer_latency.py [--questions ../shared/eval/dev.jsonl] [--rounds 3]

Needs an index of corpus/ (`rag index`). Prints p50 / p95 in milliseconds and the share of the
time spent in the answer layer (evidence + backend) rather than retrieval.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--questions", type=Path, default=REPO.parent / "shared" / "eval" / "dev.jsonl")
    p.add_argument("--index", type=Path, default=REPO / "index")
    p.add_argument("--corpus", type=Path, default=REPO / "corpus")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)

    from rag.embedders import query_vector
    from rag.engine import Engine
    from rag.jsonl import read_jsonl

    questions = [item["question"] for _, item in read_jsonl(args.questions, ValueError)]
    engine = Engine.open(args.index, args.corpus)
    engine.ask(questions[0])  # warm: model, units and jieba loaded once per process
    total, search = [], []
    for _ in range(args.rounds):
        for q in questions:
            query_vector.cache_clear()
            started = time.perf_counter()
            engine.search(q, k=5, cosines=True)
            search.append(time.perf_counter() - started)
            query_vector.cache_clear()
            started = time.perf_counter()
            engine.ask(q)
            total.append(time.perf_counter() - started)
    ms = lambda v, q: round(float(np.percentile(v, q)) * 1000, 1)  # noqa: E731
    out = {"questions": len(questions), "rounds": args.rounds, "answer_ms_p50": ms(total, 50),
           "answer_ms_p95": ms(total, 95), "retrieval_ms_p50": ms(search, 50)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
