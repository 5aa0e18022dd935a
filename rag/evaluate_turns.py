"""Measure conversations: every turn is asked with the earlier turns as history and scored like a
single question (the dev.jsonl schema), with the figures given per turn position.

A conversation file holds one JSON object a line: ``{"id": ..., "turns": [turn, turn, ...]}``;
a turn has the dev-set fields (``question``, ``type``, ``must_include``, ``evidence``…) and may
give ``standalone``: the question it should be rewritten to (a string or a list of acceptable
ones), which measures the follow-up rewriter. The history of a turn is what a user saw: the
earlier questions as asked and the system's own answers to them.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from .engine import Engine
from .evaluate import EvalSetError, Outcome, _fmt, _mean, score, summarize
from .jsonl import read_jsonl

#: Figures per turn position, in table order.
TURN_METRICS = ("recall@5", "mrr@10", "answer_hit", "refusal_accuracy", "false_refusal_rate", "citation_precision",
                "rewrite_accuracy")


def is_conversation_file(path: Path | str) -> bool:
    """Whether the first JSON line of ``path`` is a conversation (has ``turns``)."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    item = json.loads(line)
                    return isinstance(item, dict) and "turns" in item
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return False


def load_conversations(path: Path | str) -> list[dict]:
    """The conversations of a JSONL file; every turn needs a non-empty ``question``."""
    path = Path(path)
    if not path.is_file():
        raise EvalSetError(f"Conversation file {path} does not exist.")
    out = []
    for n, item in read_jsonl(path, EvalSetError):
        turns = item.get("turns")
        if not isinstance(turns, list) or not turns:
            raise EvalSetError(f"{path}:{n}: each line needs \"turns\": a list of questions in the dev-set schema.")
        for i, turn in enumerate(turns, 1):
            if not isinstance(turn, dict) or not str(turn.get("question", "")).strip():
                raise EvalSetError(f"{path}:{n}: turn {i} needs a non-empty \"question\".")
        out.append(_filled(item, f"line{n}"))
    if not out:
        raise EvalSetError(f"Conversation file {path} holds no conversations.")
    return out


def _filled(conv: dict, default_id: str) -> dict:
    """``conv`` with its id and every turn's id, type, must_include and evidence filled in."""
    conv_id = str(conv.get("id") or default_id)
    turns = []
    for i, turn in enumerate(conv["turns"], 1):
        turn = dict(turn)
        turn.setdefault("id", f"{conv_id}.{i}")
        turn.setdefault("type", "fact")
        turn.setdefault("must_include", [])
        turn.setdefault("evidence", [])
        turns.append(turn)
    return {**conv, "id": conv_id, "turns": turns}


def _same_question(a: str, b: str) -> bool:
    def norm(t: str) -> str:
        t = re.sub(r"\s+", "", t).lower().replace("？", "?").replace("，", ",")
        return t.rstrip("?.!。！")

    return norm(a) == norm(b)


@dataclass
class TurnOutcome:
    """One turn of a conversation: how it was rewritten and how it was answered."""

    conversation: str
    position: int  # 1-based
    question: str
    rewritten: str
    rewritten_by: str
    rewrite_ok: bool | None  # None when the turn gives no expected standalone question
    outcome: Outcome


def evaluate_conversation(engine: Engine, conv: dict, k: int = 5, mode: str = "hybrid",
                          llm: str | None = None) -> list[TurnOutcome]:
    """Ask the turns of one conversation in order, each with the earlier ones as history."""
    history: list[tuple[str, str]] = []
    out = []
    for i, turn in enumerate(conv["turns"], 1):
        started = time.perf_counter()
        answer = engine.ask(turn["question"], k=k, mode=mode, history=history or None, llm=llm)
        hits = engine.search(answer.rewritten, k=10, mode=mode)  # what the rewritten question retrieves
        outcome = score(turn, hits, answer, time.perf_counter() - started)
        wanted = turn.get("standalone")
        wanted = [wanted] if isinstance(wanted, str) else list(wanted or [])
        ok = any(_same_question(answer.rewritten, w) for w in wanted) if wanted else None
        out.append(TurnOutcome(conv["id"], i, turn["question"], answer.rewritten, answer.rewritten_by, ok, outcome))
        history.append((turn["question"], answer.text))
    return out


def summarize_turns(turns: list[TurnOutcome]) -> dict:
    """:func:`rag.evaluate.summarize` over the turns, plus how often the rewrite was the expected one."""
    figures = summarize([t.outcome for t in turns])
    checked = [t for t in turns if t.rewrite_ok is not None]
    figures["rewrite_accuracy"] = _mean([1.0 if t.rewrite_ok else 0.0 for t in checked])
    figures["rewrites_checked"] = len(checked)
    figures["turns"] = len(turns)
    return figures


def evaluate_conversations(
    engine: Engine,
    conversations: list[dict],
    k: int = 5,
    mode: str = "hybrid",
    progress: Callable[[int, int], None] | None = None,
    llm: str | None = None,
) -> dict:
    """``{"conversations", "turns", "overall", "by_turn", "outcomes"}``: figures per turn position."""
    outcomes: list[TurnOutcome] = []
    conversations = [_filled(c, f"conversation{i + 1}") for i, c in enumerate(conversations)]
    for i, conv in enumerate(conversations):
        outcomes.extend(evaluate_conversation(engine, conv, k=k, mode=mode, llm=llm))
        if progress:
            progress(i + 1, len(conversations))
    positions = sorted({t.position for t in outcomes})
    return {
        "conversations": len(conversations),
        "turns": len(outcomes),
        "overall": summarize_turns(outcomes),
        "by_turn": {str(p): summarize_turns([t for t in outcomes if t.position == p]) for p in positions},
        "outcomes": outcomes,
    }


def report_json(report: dict, details: bool = False) -> dict:
    """The report as JSON-ready data (``details``: every turn with its rewrite and outcome)."""
    out = {k: report[k] for k in ("conversations", "turns", "overall", "by_turn")}
    if details:
        out["outcomes"] = [asdict(t) for t in report["outcomes"]]
    return out


def format_turn_table(report: dict) -> str:
    """One row per turn position, then overall."""
    cols = ["turn", "n", *TURN_METRICS]
    rows = [[f"turn {p}", str(m["turns"])] + [_fmt(m.get(c)) for c in TURN_METRICS]
            for p, m in report["by_turn"].items()]
    rows.append(["overall", str(report["turns"])] + [_fmt(report["overall"].get(c)) for c in TURN_METRICS])
    widths = [max(len(cols[i]), *(len(r[i]) for r in rows)) for i in range(len(cols))]
    line = lambda r: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(r) for r in rows])
