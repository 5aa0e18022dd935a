"""What ``several_articles`` and ``sub_questions`` are worth on a question about two articles at once.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/two_articles.py --bench ../shared/bench/drcd_dev
    .venv/bin/python benchmarks/two_articles.py --bench ../shared/bench/cmrc2018 --pairs 200

The Wikipedia sets hold no question that asks about two articles, so ``benchmarks/ablation.py``
cannot see the two rules that serve one (「A和B分别是什么？」). This script builds them from the
set's article titles: two titles drawn apart (seeded), neither containing the other, asked as
「A和B分别是什么？」 (even pairs) or 「请分别介绍A和B。」 (odd pairs). A reply covers an article when it
cites one of that article's passages; the right reply covers both. Each question is asked with
every rule on, with ``several_articles`` off, with ``sub_questions`` off, and with both off.
Printed and written to ``benchmarks/results/two_articles_<bench>.json``: the share of replies that
cover both articles, either, refusals, median answer characters, p50 answer milliseconds, and how
often the question is split into the two titles' own questions. Nothing is fitted; the index is
the benchmark's cached one (built when missing, about 5 minutes).
"""

from __future__ import annotations

import random
import re
import sys
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from measure_main import measure_main, measure_parser, summarize  # noqa: E402
_QUALIFIER = re.compile(r"\s*_?[(（].*$")
_JOINT = re.compile(r"和|与|及")
FORMS = ("{a}和{b}分别是什么？", "请分别介绍{a}和{b}。")
CONDITIONS = {"rule_on": (), "several_articles_off": ("several_articles",), "sub_questions_off": ("sub_questions",),
              "both_off": ("several_articles", "sub_questions")}


def build_pairs(titles: list[str], n: int, seed: int = 0) -> list[dict]:
    """Up to ``n`` questions about two different articles, by title."""
    rng = random.Random(seed)
    # A title's qualifier (「真如_(佛教)」) is no part of how a reader names it; a title holding 和
    # (「塞尔维亚和黑山」) would make the question ambiguous.
    pool = sorted({t for t in (_QUALIFIER.sub("", t) for t in titles) if t and len(t) <= 12 and not _JOINT.search(t)})
    seen: set[tuple[str, str]] = set()
    out: list[dict] = []
    tries = 0
    while len(out) < n and tries < 20 * n and len(pool) >= 2:
        tries += 1
        a, b = rng.sample(pool, 2)
        if a in b or b in a or (a, b) in seen or (b, a) in seen:
            continue
        seen.add((a, b))
        form = FORMS[len(out) % 2]
        out.append({"question": form.format(a=a, b=b), "titles": [a, b], "form": form})
    return out


def covered(cited_titles: list[str], titles: list[str]) -> dict:
    """Which of the two articles the reply cites."""
    got = [t in cited_titles for t in titles]
    return {"both": all(got), "either": any(got)}


def run(bench_dir: Path, n_pairs: int, seed: int = 0) -> dict:
    from rag.bench import ensure_bench_index, load_bench, open_bench_engine
    from rag.embedders import query_vector
    from rag.questions import analyse
    from rag.rules import disabled
    from tqdm import tqdm

    bench = load_bench(bench_dir)
    pairs = build_pairs([p.get("title", "") for p in bench.passages], n_pairs, seed)
    index_dir, _ = ensure_bench_index(bench)
    engine = open_bench_engine(index_dir)
    rows: dict[str, list[dict]] = {c: [] for c in CONDITIONS}
    split_right = 0
    for pair in tqdm(pairs, desc=f"{bench.name} pairs", unit="pair"):
        a, b = pair["titles"]
        parts = analyse(pair["question"]).parts
        split_right += len(parts) == 2 and a in parts[0] and b in parts[1] and b not in parts[0] and a not in parts[1]
        for condition, off in CONDITIONS.items():
            query_vector.cache_clear()  # each way of asking pays for its own embeddings
            with ExitStack() as stack:
                for name in off:
                    stack.enter_context(disabled(name))
                started = time.perf_counter()
                reply = engine.ask(pair["question"])
                ms = (time.perf_counter() - started) * 1000
            cited = [] if reply.refused else [c.title for c in reply.citations]
            rows[condition].append({**covered(cited, pair["titles"]), "refused": reply.refused,
                                    "chars": len(reply.text), "ms": ms})
    out = {"bench": bench.name, "pairs": len(pairs), "seed": seed,
           "split_into_the_two_titles": round(split_right / max(len(pairs), 1), 4)}
    for condition, rs in rows.items():
        out[condition] = summarize(rs)
    return out


def markdown(result: dict) -> str:
    lines = [f"**{result['bench']}**: {result['pairs']} questions about two articles; split into the two titles' "
             f"questions: {result['split_into_the_two_titles']:.3f}", "",
             "| asked | n | cites both articles | either | refused | median chars | p50 ms |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for condition in CONDITIONS:
        s = result[condition]
        if s.get("n"):
            lines.append(f"| {condition} | {s['n']} | {s['both']:.3f} | {s['either']:.3f} | {s['refused']:.3f} | "
                         f"{s['chars_p50']} | {s['ms_p50']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = measure_parser(__doc__, "pairs", 1000)
    p.add_argument("--seed", type=int, default=0)
    return measure_main("two_articles", p, "pairs", lambda a: run(a.bench, a.pairs, a.seed), markdown, argv)


if __name__ == "__main__":
    sys.exit(main())
