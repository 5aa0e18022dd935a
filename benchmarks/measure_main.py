"""The command line shared by the scripts that measure a rule on a set they build
(``two_questions.py``, ``two_articles.py``, ``partial_answers.py``): one clear line for a bad count
or an unusable benchmark, the result written atomically beside the command that made it."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def measure_parser(doc: str, count: str, default: int | None) -> argparse.ArgumentParser:
    """The options every such script takes: ``--bench``, ``--out`` and the count of items to build."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench" / "drcd_dev")
    p.add_argument(f"--{count}", type=int, default=default)
    p.add_argument("--out", type=Path, default=None)
    return p


def measure_main(name: str, parser: argparse.ArgumentParser, count: str, run: Callable[[argparse.Namespace], dict],
                 markdown: Callable[[dict], str], argv: list[str] | None = None,
                 label: Callable[[argparse.Namespace], str] | None = None) -> int:
    """Parse ``argv``, check ``--count`` is at least 1, ``run`` the measurement, write
    ``benchmarks/results/<label>_<bench>.json`` (or ``--out``) and print its table; 2 on bad input.
    ``name`` is the script's; ``label(args)`` names the results when the options change what is
    measured (default ``name``)."""
    args = parser.parse_args(argv)
    from rag.bench import BenchError

    n = getattr(args, count)
    if n is not None and n < 1:
        print(f"{name}: --{count} must be at least 1", file=sys.stderr)
        return 2
    try:
        result = run(args)
    except BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    result["command"] = f"OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/{name}.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    out = args.out or RESULTS / f"{label(args) if label else name}_{result['bench']}.json"
    sys.path.insert(0, str(REPO / "benchmarks"))
    from ablation import write_json_atomic

    write_json_atomic(out, result)
    print(markdown(result))
    print(f"written: {out}", file=sys.stderr)
    return 0


def summarize(rows: list[dict]) -> dict:
    """Shares and medians of one condition's rows: how often the reply holds both things asked
    (``both``), either, or is a refusal; median characters of the answers, p50 milliseconds."""
    if not rows:
        return {"n": 0}
    answered = [r["chars"] for r in rows if not r["refused"]]
    return {
        "n": len(rows),
        "both": round(sum(r["both"] for r in rows) / len(rows), 4),
        "either": round(sum(r["either"] for r in rows) / len(rows), 4),
        "refused": round(sum(r["refused"] for r in rows) / len(rows), 4),
        "chars_p50": statistics.median(answered) if answered else None,
        "ms_p50": round(statistics.median(r["ms"] for r in rows), 1),
    }
