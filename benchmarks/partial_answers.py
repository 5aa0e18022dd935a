"""What the ``partial_answer`` rule is worth on questions whose constraint the articles do not state.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/partial_answers.py --bench ../shared/bench/drcd_dev
    .venv/bin/python benchmarks/partial_answers.py --bench ../shared/bench/cmrc2018 --limit 300

The rule only rewords a refusal, so ``benchmarks/ablation.py`` (hits and refusals) sees nothing.
This script asks what the reworded refusal tells the reader. Each question of the set that has a
near-miss twin (``rag/nearmiss.py``: one constraint changed to one its gold article never states)
is asked as that twin with every rule on and with ``partial_answer`` off, and as itself with its
gold passages hidden. For a twin, a good partial answer names the constraint that was asked
(the replacement), names the one the article states instead (the original), and shows the
sentence that answers the original question (it holds the gold answer). Printed and written to
``benchmarks/results/partial_answers_<bench>.json``: the share of twins refused, the share of
refusals that are partial, and of the partial ones how many name the asked and the stated
constraint and hold the gold; by kind of constraint; and how often switching the rule off changes
a refusal into an answer or back (it should never). Nothing is fitted; the index is the
benchmark's cached one (built when missing, about 5 minutes).
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from measure_main import measure_main, measure_parser  # noqa: E402

# The two templates of rag/answer/extractive.py's partial answer: what was asked, what is stated instead.
_ZH = re.compile(r"资料没有给出“(?P<asked>[^”]*)”.*?文中给出的是“(?P<instead>[^”]*)”的：")
_EN = re.compile(r"The articles give no figure for (?P<asked>.*?) \(.*?what they state is for (?P<instead>.*?): ")


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def read_partial(text: str) -> tuple[str, str] | None:
    """(asked, stated instead) of a partial answer's text, or None when it is not one."""
    m = _ZH.search(text) or _EN.search(text)
    return (m["asked"], m["instead"]) if m else None


def score_twin(text: str, refused: bool, partial: bool, original: str, replacement: str, answers: list[str]) -> dict:
    """What a twin's reply tells the reader."""
    from rag.bench import answer_contains

    row = {"refused": refused, "partial": bool(refused and partial), "names_asked": False, "names_stated": False,
           "holds_gold": False}
    said = read_partial(text) if row["partial"] else None
    if said is not None:
        asked, instead = said
        row["names_asked"] = _norm(replacement) in _norm(asked) or _norm(asked) in _norm(replacement)
        row["names_stated"] = _norm(original) in _norm(instead)
        row["holds_gold"] = answer_contains(text, answers)
    return row


def summarize(rows: list[dict]) -> dict:
    """Shares of one group's rows; the last three are shares of the partial answers."""
    if not rows:
        return {"n": 0}
    partial = [r for r in rows if r["partial"]]
    refused = sum(r["refused"] for r in rows)

    def share(key: str, of: list[dict]) -> float | None:
        return round(sum(r[key] for r in of) / len(of), 4) if of else None

    return {
        "n": len(rows),
        "refused": round(refused / len(rows), 4),
        "partial": round(len(partial) / len(rows), 4),
        "partial_of_refused": round(len(partial) / refused, 4) if refused else None,
        "names_asked": share("names_asked", partial),
        "names_stated": share("names_stated", partial),
        "holds_gold": share("holds_gold", partial),
    }


def run(bench_dir: Path, limit: int | None = None, details: bool = False) -> dict:
    from rag.bench import article_texts, ensure_bench_index, load_bench, open_bench_engine
    from rag.embedders import query_vector
    from rag.nearmiss import twins
    from rag.rules import disabled
    from tqdm import tqdm

    bench = load_bench(bench_dir)
    twin = twins(bench.questions, article_texts(bench))
    asked = [q for q in bench.questions if q["id"] in twin][:limit]
    index_dir, _ = ensure_bench_index(bench)
    engine = open_bench_engine(index_dir)

    def ask(question: str, hidden: tuple[str, ...] = ()):
        query_vector.cache_clear()
        return engine.ask(question, hidden=hidden)

    rows: dict[str, list[dict]] = defaultdict(list)
    flipped = 0
    for q in tqdm(asked, desc=f"{bench.name} twins", unit="q"):
        t = twin[q["id"]]
        on = ask(t.question)
        with disabled("partial_answer"):
            off = ask(t.question)
        flipped += on.refused != off.refused
        row = {**score_twin(on.text, on.refused, on.partial, t.original, t.replacement, q["answers"]), "kind": t.kind}
        if details:
            row.update(id=q["id"], question=t.question, original=t.original, replacement=t.replacement,
                       answers=q["answers"], text=on.text)
        rows["twin"].append(row)
        hid = ask(q["question"], tuple(q["passage_ids"]))
        rows["hidden"].append({"refused": hid.refused, "partial": bool(hid.refused and hid.partial),
                               "names_asked": False, "names_stated": False, "holds_gold": False})
    out = {"bench": bench.name, "twins": len(asked), "refusals_changed_by_the_rule": flipped,
           "twin": summarize(rows["twin"]), "hidden": {k: v for k, v in summarize(rows["hidden"]).items()
                                                       if k in ("n", "refused", "partial", "partial_of_refused")},
           "twin_by_kind": {k: summarize([r for r in rows["twin"] if r["kind"] == k])
                            for k in sorted({r["kind"] for r in rows["twin"]})}}
    if details:
        out["details"] = rows["twin"]
    return out


def markdown(result: dict) -> str:
    lines = [f"**{result['bench']}**: {result['twins']} near-miss twins; refusals changed by switching the rule "
             f"off: {result['refusals_changed_by_the_rule']}", "",
             "| asked | n | refused | partial | partial of refused | names the asked | names the stated | "
             "holds the gold |", "|---|---:|---:|---:|---:|---:|---:|---:|"]

    def f(v) -> str:
        return "–" if v is None else f"{v:.3f}"

    groups = [("twins, all", result["twin"])] + [(f"twins, {k}", s) for k, s in result["twin_by_kind"].items()]
    groups.append(("gold hidden", result["hidden"]))
    for name, s in groups:
        lines.append(f"| {name} | {s['n']} | {f(s['refused'])} | {f(s['partial'])} | {f(s['partial_of_refused'])} | "
                     f"{f(s.get('names_asked'))} | {f(s.get('names_stated'))} | {f(s.get('holds_gold'))} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = measure_parser(__doc__, "limit", None)
    p.add_argument("--details", action="store_true", help="also write each twin's question and reply")
    return measure_main("partial_answers", p, "limit", lambda a: run(a.bench, a.limit, a.details), markdown, argv)


if __name__ == "__main__":
    sys.exit(main())
