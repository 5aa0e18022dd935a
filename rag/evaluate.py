"""Measure retrieval, answers and refusals on a question set (the dev.jsonl schema)."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .engine import Engine
from .jsonl import read_jsonl

log = logging.getLogger(__name__)

METRICS = (
    "recall@1500c",
    "recall@1",
    "recall@5",
    "recall@10",
    "mrr@10",
    "answer_hit",
    "refusal_accuracy",
    "false_refusal_rate",
    "citation_precision",
    "seconds_per_question",
)
#: Figures of a run with a language model (``rag eval --llm``).
LLM_METRICS = ("supported_share", "fallback_rate", "first_token_p50", "first_token_p95")
WINDOW_CHARS = 1500


class EvalSetError(ValueError):
    """The question file cannot be read as a question set."""


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def load_questions(path: Path | str) -> list[dict]:
    """The questions of a JSONL file; each needs ``question`` and ``type``; the rest may be empty."""
    path = Path(path)
    if not path.is_file():
        raise EvalSetError(f"Question file {path} does not exist.")
    out = []
    for n, item in read_jsonl(path, EvalSetError):
        if not str(item.get("question", "")).strip():
            raise EvalSetError(f"{path}:{n}: each line needs a non-empty \"question\".")
        item.setdefault("id", f"line{n}")
        item.setdefault("type", "fact")
        item.setdefault("must_include", [])
        item.setdefault("evidence", [])
        out.append(item)
    if not out:
        raise EvalSetError(f"Question file {path} holds no questions.")
    return out


@dataclass
class Outcome:
    """What happened to one question."""

    id: str
    type: str
    answerable: bool
    first_hit_rank: int | None  # rank (1-based) of the first passage holding evidence, within 10
    in_window: bool
    answer_hit: bool
    refused: bool
    cited: int
    cited_with_evidence: int
    seconds: float
    backend: str = "extractive"
    fallback: bool = False  # a language model was asked, and its answer was not given
    sentences: int = 0  # sentences the language model wrote
    supported: int = 0  # … that their cited passages support
    first_token_seconds: float | None = None


def _holds_evidence(text: str, quotes: list[str]) -> bool:
    t = _norm(text)
    return any(q and q in t for q in quotes)


def evaluate_question(engine: Engine, item: dict, k: int = 5, mode: str = "hybrid", llm: str | None = None) -> Outcome:
    """Ask one question and score its retrieval and answer (``llm``: written by that chat model)."""
    started = time.perf_counter()
    hits = engine.search(item["question"], k=10, mode=mode)
    answer = engine.ask(item["question"], k=k, mode=mode, llm=llm)
    return score(item, hits, answer, time.perf_counter() - started)


def score(item: dict, hits: list, answer, seconds: float) -> Outcome:
    """The outcome of one question: its top-10 retrieval ``hits`` and its ``answer`` against the
    item's evidence quotes and must-include strings."""
    quotes = [_norm(e.get("quote", "")) for e in item.get("evidence", []) if e.get("quote")]
    answerable = item.get("type") != "unanswerable" and bool(quotes or item.get("must_include"))
    passages = [h.chunk.embed_text() for h in hits]
    first = next((i + 1 for i, p in enumerate(passages) if _holds_evidence(p, quotes)), None)
    window = _norm("".join(passages))[:WINDOW_CHARS]
    text = _norm(answer.text)
    must = [_norm(m) for m in item.get("must_include", [])]
    cited_ok = sum(_holds_evidence(c.title + c.passage, quotes) for c in answer.citations) if not answer.refused else 0
    return Outcome(
        id=item["id"],
        type=item.get("type", "fact"),
        answerable=answerable,
        first_hit_rank=first,
        in_window=any(q in window for q in quotes),
        answer_hit=bool(must) and not answer.refused and all(m in text for m in must),
        refused=answer.refused,
        cited=0 if answer.refused else len(answer.citations),
        cited_with_evidence=cited_ok,
        seconds=seconds,
        backend=answer.backend,
        fallback=bool(answer.fallback_reason),
        sentences=len(answer.sentences),
        supported=sum(1 for x in answer.sentences if x.get("supported")),
        first_token_seconds=answer.first_token_seconds,
    )


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarize(outcomes: list[Outcome]) -> dict:
    """The metrics over ``outcomes`` (None where a metric has nothing to measure)."""
    with_evidence = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    answered = [o for o in with_evidence if not o.refused and o.cited]

    def recall(k: int) -> float | None:
        return _mean([1.0 if o.first_hit_rank and o.first_hit_rank <= k else 0.0 for o in with_evidence])

    cited = sum(o.cited for o in answered)
    return {
        "recall@1500c": _mean([1.0 if o.in_window else 0.0 for o in with_evidence]),
        "recall@1": recall(1),
        "recall@5": recall(5),
        "recall@10": recall(10),
        "mrr@10": _mean([1.0 / o.first_hit_rank if o.first_hit_rank else 0.0 for o in with_evidence]),
        "answer_hit": _mean([1.0 if o.answer_hit else 0.0 for o in with_evidence]),
        "refusal_accuracy": _mean([1.0 if o.refused else 0.0 for o in unanswerable]),
        "false_refusal_rate": _mean([1.0 if o.refused else 0.0 for o in with_evidence]),
        "citation_precision": round(sum(o.cited_with_evidence for o in answered) / cited, 4) if cited else None,
        "seconds_per_question": _mean([o.seconds for o in outcomes]),
        **llm_figures(outcomes),
    }


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(q * len(v)))], 4)


def llm_figures(outcomes: list[Outcome]) -> dict:
    """Share of the model's sentences that their citations support, how often its answer was
    not given, and its time to first token (empty when no language model was asked)."""
    asked = [o for o in outcomes if o.backend == "llm" or o.fallback or o.sentences]
    if not asked:
        return {}
    written = sum(o.sentences for o in asked)
    first = [o.first_token_seconds for o in asked if o.first_token_seconds is not None]
    return {
        "supported_share": round(sum(o.supported for o in asked) / written, 4) if written else None,
        "fallback_rate": _mean([1.0 if o.fallback else 0.0 for o in asked]),
        "first_token_p50": _quantile(first, 0.5),
        "first_token_p95": _quantile(first, 0.95),
    }


def evaluate(
    engine: Engine,
    questions: Iterable[dict],
    k: int = 5,
    mode: str = "hybrid",
    progress: Callable[[int, int], None] | None = None,
    llm: str | None = None,
) -> dict:
    """``{"n", "overall", "by_type", "outcomes"}`` for a question set (``llm``: answers by that chat model)."""
    items = list(questions)
    outcomes = []
    for i, item in enumerate(items):
        outcomes.append(evaluate_question(engine, item, k=k, mode=mode, llm=llm))
        if progress:
            progress(i + 1, len(items))
    by_type: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_type.setdefault(o.type, []).append(o)
    return {
        "n": len(outcomes),
        "overall": summarize(outcomes),
        "by_type": {t: summarize(os_) for t, os_ in sorted(by_type.items())},
        "outcomes": outcomes,
    }


def format_table(report: dict) -> str:
    """The report as a fixed-width table: one row per type, then overall."""
    metrics = list(METRICS) + [m for m in LLM_METRICS if m in report["overall"]]
    cols = ["type", "n"] + metrics
    rows = [[t, str(sum(1 for o in report["outcomes"] if o.type == t))] + [_fmt(m.get(c)) for c in metrics]
            for t, m in report["by_type"].items()]
    rows.append(["overall", str(report["n"])] + [_fmt(report["overall"].get(c)) for c in metrics])
    widths = [max(len(cols[i]), *(len(r[i]) for r in rows)) for i in range(len(cols))]
    line = lambda r: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"
