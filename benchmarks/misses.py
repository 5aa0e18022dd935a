"""Where a benchmark's answer misses go, by category: refused, answered from the wrong sentence
(the gold string in the sentence just before the chosen one, just after it, elsewhere in the gold
article, or in another article), split across sentences, or not retrieved. For reading failures
on a large set (the fitting set ``drcd_test``), never for choosing items to fix.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/misses.py ../shared/bench/drcd_test [--sample N] [--out misses.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _relation(answer, gold_units) -> str:
    """Where the gold unit stands against the answer's highlighted spans."""
    spans = [(c.article_id, s, e) for c in answer.citations for s, e in c.highlights]
    found = ""
    for g in gold_units:
        for article, s, e in spans:
            if article != g.article_id:
                continue
            if 0 <= s - g.end <= 3:
                return "before"
            if 0 <= g.start - e <= 3:
                found = "after"
            found = found or "same_article"
    return found or "other_article"


def main(argv: list[str] | None = None) -> int:
    from rag.answer.features import normalise
    from rag.answer.train import _read
    from rag.bench import BenchError, answer_contains, ensure_bench_index, load_bench, open_bench_engine
    from rag.chunking import ChunkSettings
    from rag.questions import analyse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench", type=Path)
    p.add_argument("--sample", type=int, default=None)
    p.add_argument("--out", type=Path, default=None, help="also write each miss (question, gold, answer) as JSON")
    args = p.parse_args(argv)
    try:
        bench = load_bench(args.bench, sample=args.sample)
    except BenchError as exc:  # a missing or malformed benchmark folder: one line, as the CLI gives
        print(f"error: {exc}", file=sys.stderr)
        return 2
    index_dir, _ = ensure_bench_index(bench, None, chunking=ChunkSettings())
    engine = open_bench_engine(index_dir, chunking=ChunkSettings())
    counts: collections.Counter = collections.Counter()
    misses = []
    for q in bench.questions:
        a = engine.ask(q["question"], k=5)
        if not a.refused and answer_contains(a.text, q["answers"]):
            counts["hit"] += 1
            continue
        gold = [normalise(x) for x in q["answers"] if normalise(x)]
        hits, units, _, _ = _read(engine, q["question"], analyse(q["question"]), engine.query_vector(q["question"]), 5)
        holding = [u for u in units if any(g in normalise(u.text) for g in gold)]
        if a.refused:
            cat = "refused"
        elif holding:
            cat = "wrong_unit:" + _relation(a, holding)
        elif any(any(g in normalise(h.chunk.embed_text()) for g in gold) for h in hits):
            cat = "across_units"
        else:
            cat = "not_retrieved"
        counts[cat] += 1
        misses.append({"id": q["id"], "category": cat, "question": q["question"], "gold": q["answers"][0],
                       "answer": a.text[:300]})
    total = sum(counts.values())
    for cat, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{cat:28s} {n:6d}  {n / total:.3f}")
    print(f"{'questions':28s} {total:6d}")
    if args.out:
        args.out.write_text(json.dumps(misses, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
