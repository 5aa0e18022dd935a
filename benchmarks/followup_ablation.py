"""What each follow-up rule of ``rag/rules.py`` is worth on the committed conversations: every
turn asked with its history once with all rules on, then once per ``followup_*`` rule switched off.

    .venv/bin/python benchmarks/followup_ablation.py [--index index --corpus corpus] [--conversations FILE]

Printed: a markdown table of the follow-up turns (turn 2 and later): rewrite accuracy, recall@5,
MRR@10, answer hit and refusal accuracy, all on first, then each rule off. The conversations were
written together with the rewriter, so this says what a rule does on them, not what it is worth on
unseen conversations.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FIGURES = ("rewrite_accuracy", "recall@5", "mrr@10", "answer_hit", "refusal_accuracy")


def follow_up_figures(engine, conversations) -> dict:
    from rag.evaluate_turns import evaluate_conversations, summarize_turns

    report = evaluate_conversations(engine, conversations)
    return summarize_turns([t for t in report["outcomes"] if t.position > 1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--index", type=Path, default=REPO / "index")
    p.add_argument("--corpus", type=Path, default=REPO / "corpus")
    p.add_argument("--conversations", type=Path, default=REPO / "benchmarks" / "conversations.jsonl")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    from rag.engine import Engine
    from rag.evaluate_turns import load_conversations
    from rag.rules import RULES, disabled

    engine = Engine.open(args.index, args.corpus)
    conversations = load_conversations(args.conversations)
    rows = [("all rules on", follow_up_figures(engine, conversations))]
    for name in [n for n in RULES if n.startswith("followup_")]:
        with disabled(name):
            rows.append((f"{name} off", follow_up_figures(engine, conversations)))
        print(f"measured {name}", file=sys.stderr)
    n = rows[0][1]["turns"]
    print(f"{args.conversations.name}: {len(conversations)} conversations, {n} follow-up turns")
    print("| run | " + " | ".join(FIGURES) + " |")
    print("|---|" + "---|" * len(FIGURES))
    for label, m in rows:
        print(f"| {label} | " + " | ".join("-" if m.get(f) is None else f"{m[f]:.3f}" for f in FIGURES) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
