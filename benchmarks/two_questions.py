"""What the ``sub_questions`` rule is worth on questions that ask two things at once.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/two_questions.py --bench ../shared/bench/drcd_dev
    .venv/bin/python benchmarks/two_questions.py --bench ../shared/bench/cmrc2018 --pairs 200

The Wikipedia sets hold no two-part questions, so ``benchmarks/ablation.py`` cannot see this rule.
This script builds them: two questions of the same article (same title) whose gold answers do not
overlap are joined as 「A？B？」 (even pairs) or 「A；B？」 (odd pairs). Questions are paired per
article after a seeded shuffle, consecutive ones together; the pairs are then shuffled and the
first ``--pairs`` kept. Each joined question is asked with every rule on and with
``sub_questions`` off; each part is also asked alone (the ceiling); and the joined question is
asked with every rule on and both parts' gold passages hidden ("hidden": its right reply is a
refusal, though a gold string may still stand in a sibling passage of the article). Printed and written to
``benchmarks/results/two_questions_<bench>.json``: the share of replies that hold both parts' gold,
either part's, refusals, median answer characters and p50 answer milliseconds, overall and split
by whether the two questions share a gold passage. Nothing is fitted; the index is the benchmark's
cached one (built when missing, about 5 minutes).

``--pronoun`` builds the harder kind a reader writes: the second part names the article by 它
instead of its title (「锣鼓经是什么？它常用的节奏型称为什么？」). Only pairs whose first question
names the article's title and whose second one opens with it are kept; the title (with its 《》)
is replaced by 它. "alone" still asks the two original questions, so it stays the ceiling;
"readings_off" and "hidden_readings_off" ask the joined question with ``antecedent_readings``
off (它 read as the first part's subject only), as it is and with both gold passages hidden.
"turns" and "turns_readings_off" ask the two as a conversation instead: the first question, then
the second (with 它) as its follow-up, the first turn's answer in the history; "both" is then
the second question's gold alone.
Written to ``two_questions_pronoun_<bench>.json``.
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from measure_main import measure_main, measure_parser, summarize  # noqa: E402
JOINERS = ("？", "；")
CONDITIONS = ("rule_on", "rule_off")
PRONOUN_CONDITIONS = ("readings_off", "hidden_readings_off", "turns", "turns_readings_off")  # --pronoun only


def _stem(question: str) -> str:
    return re.sub(r"[？?。！!\s]+$", "", question.strip())


def _overlap(a: list[str], b: list[str]) -> bool:
    return any(x and y and (x in y or y in x) for x in a for y in b)


def _opens_with(question: str, title: str) -> str:
    """The title as ``question`` opens with it (with its 《》 if quoted) as words of their own
    (not 「中国邮政」 of 「中国邮政储蓄银行」), or ''."""
    import jieba

    for form in (f"《{title}》", title):
        if title and question.startswith(form) and len(question) > len(form) + 2:
            ends, at = set(), 0
            for word in jieba.cut(question):
                at += len(word)
                ends.add(at)
            return form if len(form) in ends else ""
    return ""


def _pronoun_pairs(qs: list[dict], title: str) -> list[tuple[dict, dict]]:
    """(a, b) pairs of one article: ``a`` names the title, ``b`` opens with it (each question used once)."""
    openers = [q for q in qs if _opens_with(q["question"], title)]
    namers = [q for q in qs if title and title in q["question"] and q not in openers]
    # Openers left over name the title too, so they can be a first part as well.
    pairs = []
    while openers and (namers or len(openers) >= 2):
        b = openers.pop()
        a = namers.pop() if namers else openers.pop()
        pairs.append((a, b))
    return pairs


def build_pairs(questions: list[dict], titles: dict[str, str], n: int, seed: int = 0,
                pronoun: bool = False) -> list[dict]:
    """Up to ``n`` two-part questions: two questions of one article with non-overlapping gold; with
    ``pronoun`` the second names the article by 它 (see the module's docstring)."""
    rng = random.Random(seed)
    by_article: dict[str, list[dict]] = defaultdict(list)
    for q in questions:
        by_article[titles.get(q["passage_ids"][0], q["passage_ids"][0])].append(q)
    pairs = []
    for article in sorted(by_article):
        qs = by_article[article][:]
        rng.shuffle(qs)
        for a, b in (_pronoun_pairs(qs, article) if pronoun else zip(qs[0::2], qs[1::2])):
            if _overlap(a["answers"], b["answers"]) or not _stem(a["question"]) or not _stem(b["question"]):
                continue
            pairs.append((a, b))
    rng.shuffle(pairs)
    out = []
    for i, (a, b) in enumerate(pairs[:n]):
        joiner = JOINERS[i % 2]
        second = _stem(b["question"])
        if pronoun:
            second = "它" + second[len(_opens_with(second, titles[b["passage_ids"][0]])):]
        out.append({
            "question": f"{_stem(a['question'])}{joiner}{second}？",
            "joiner": joiner,
            "parts": [a, b],
            "same_passage": bool(set(a["passage_ids"]) & set(b["passage_ids"])),
        })
    return out


def score(text: str, refused: bool, parts: list[dict]) -> dict:
    """Which parts' gold the reply holds."""
    from rag.bench import answer_contains

    got = [(not refused) and answer_contains(text, p["answers"]) for p in parts]
    return {"both": all(got), "either": any(got), "refused": refused}


def run(bench_dir: Path, n_pairs: int, seed: int = 0, pronoun: bool = False) -> dict:
    from rag.bench import ensure_bench_index, load_bench, open_bench_engine
    from rag.embedders import query_vector
    from rag.questions import analyse
    from rag.rules import disabled
    from tqdm import tqdm

    bench = load_bench(bench_dir)
    titles = {p["id"]: p.get("title", "") or p["id"] for p in bench.passages}
    pairs = build_pairs(bench.questions, titles, n_pairs, seed, pronoun)
    index_dir, _ = ensure_bench_index(bench)
    engine = open_bench_engine(index_dir)

    def ask(question: str, hidden: tuple[str, ...] = (), history: list | None = None) -> tuple[str, bool, float]:
        query_vector.cache_clear()  # each way of asking pays for its own embeddings
        started = time.perf_counter()
        a = engine.ask(question, hidden=hidden, history=history)
        return a.text, a.refused, (time.perf_counter() - started) * 1000

    extra = PRONOUN_CONDITIONS if pronoun else ()
    rows: dict[str, list[dict]] = {c: [] for c in CONDITIONS + ("alone", "hidden") + extra}
    split_seen = 0
    for pair in tqdm(pairs, desc=f"{bench.name} pairs", unit="pair"):
        split_seen += len(analyse(pair["question"]).parts) >= 2
        gold = tuple(dict.fromkeys(pid for p in pair["parts"] for pid in p["passage_ids"]))
        ways = (("rule_on", ()), ("rule_off", ()), ("hidden", gold))
        if pronoun:
            ways += (("readings_off", ()), ("hidden_readings_off", gold))
        for condition, hidden in ways:
            off = ("sub_questions",) if condition == "rule_off" else ()
            off = ("antecedent_readings",) if condition.endswith("readings_off") else off
            with disabled(*off) if off else nullcontext():
                text, refused, ms = ask(pair["question"], hidden)
            rows[condition].append({**score(text, refused, pair["parts"]), "chars": len(text), "ms": ms,
                                    "same": pair["same_passage"]})
        alone = [ask(p["question"]) for p in pair["parts"]]
        got = [score(t, r, [p])["both"] for (t, r, _), p in zip(alone, pair["parts"])]
        rows["alone"].append({"both": all(got), "either": any(got), "refused": all(r for _, r, _ in alone),
                              "chars": sum(len(t) for t, _, _ in alone), "ms": sum(m for _, _, m in alone),
                              "same": pair["same_passage"]})
        if pronoun:  # the same two questions as two turns of a conversation: the 它 is a follow-up's
            second = pair["question"].split(pair["joiner"], 1)[1]
            history = [(pair["parts"][0]["question"], alone[0][0])]
            for condition in ("turns", "turns_readings_off"):
                with disabled("antecedent_readings") if condition == "turns_readings_off" else nullcontext():
                    text, refused, ms = ask(second, history=history)
                rows[condition].append({**score(text, refused, pair["parts"][1:]), "chars": len(text), "ms": ms,
                                        "same": pair["same_passage"]})
    out = {"bench": bench.name, "pairs": len(pairs), "seed": seed, "pronoun": pronoun,
           "split_detected": round(split_seen / max(len(pairs), 1), 4),
           "same_passage_share": round(sum(p["same_passage"] for p in pairs) / max(len(pairs), 1), 4)}
    for condition, rs in rows.items():
        out[condition] = {"all": summarize(rs), "same_passage": summarize([r for r in rs if r["same"]]),
                          "two_passages": summarize([r for r in rs if not r["same"]])}
    return out


def markdown(result: dict) -> str:
    lines = [f"**{result['bench']}**: {result['pairs']} two-part questions; split detected in "
             f"{result['split_detected']:.3f}; same gold passage {result['same_passage_share']:.3f}", "",
             "| asked | subset | n | both parts' gold | either | refused | median chars | p50 ms |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for condition in CONDITIONS + ("alone", "hidden") + PRONOUN_CONDITIONS:
        if condition not in result:
            continue
        for subset in ("all", "same_passage", "two_passages"):
            s = result[condition][subset]
            if not s.get("n"):
                continue
            lines.append(f"| {condition} | {subset} | {s['n']} | {s['both']:.3f} | {s['either']:.3f} | "
                         f"{s['refused']:.3f} | {s['chars_p50']} | {s['ms_p50']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = measure_parser(__doc__, "pairs", 1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pronoun", action="store_true", help="the second part names the article by 它")
    return measure_main("two_questions", p, "pairs", lambda a: run(a.bench, a.pairs, a.seed, a.pronoun), markdown, argv,
                        label=lambda a: "two_questions_pronoun" if a.pronoun else "two_questions")


if __name__ == "__main__":
    sys.exit(main())
