"""The `rag` command line: index, ask, chat, eval, serve, articles, show, status."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path

log = logging.getLogger("rag")

EXAMPLE_QUESTION = "重庆工业经济“十五五”期间要迈上多大的规模台阶？"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: corpus/ or $YUWEN_CORPUS)")
    p.add_argument("--index", type=Path, default=None, help="index folder (default: index/ or $YUWEN_INDEX)")
    p.add_argument("--embedder", default=None, help="embedder: e5-small (default), minilm, a hub name or a local folder")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")


def _ask_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--top-k", type=int, default=5, help="passages to retrieve (default 5)")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid", help="retrieval mode")
    p.add_argument("--backend", default="extractive", help="answer backend (default: extractive)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="渝问 yuwen: cited answers from Chinese news articles.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build the index of the corpus (atomic: the old index stays usable until done)")
    _common(p)
    p.add_argument("--vector-index", default=None, choices=["auto", "flat", "hnsw", "ivfpq"], help="FAISS index kind")
    p.add_argument("--max-tokens", type=int, default=None, help="passage budget in model tokens (default 200)")

    p = sub.add_parser("ask", help="answer one question with citations")
    _common(p)
    p.add_argument("question", help="the question, in Chinese or English")
    _ask_options(p)

    p = sub.add_parser("chat", help="ask several questions in a row; follow-ups are read in context")
    _common(p)
    _ask_options(p)

    p = sub.add_parser("eval", help="measure retrieval, answers and refusals on a question set")
    _common(p)
    p.add_argument("questions", type=Path, nargs="?", help="a JSONL question set (dev.jsonl schema)")
    p.add_argument("-k", "--top-k", type=int, default=5, help="passages the answer uses (default 5)")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--details", action="store_true", help="also list every question's outcome")

    p = sub.add_parser("serve", help="start the web chat (builds the index first if there is none)")
    _common(p)
    p.add_argument("--host", default=os.environ.get("YUWEN_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("YUWEN_PORT", "7860")))
    p.add_argument("--no-build", action="store_true", help="do not build a missing index")

    p = sub.add_parser("articles", help="list the articles in the index")
    _common(p)
    p.add_argument("--filter", default="", help="only articles whose title, byline or file contain this")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("show", help="print one article's clean text")
    _common(p)
    p.add_argument("article_id")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("status", help="what the index holds and whether it is up to date")
    _common(p)
    p.add_argument("--json", action="store_true")
    return parser


def _progress_bar(desc: str):
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% {postfix}")

    def update(fraction: float, message: str) -> None:
        bar.n = round(fraction * 100, 1)
        bar.set_postfix_str(message[:60])
        bar.refresh()

    return bar, update


def cmd_index(args) -> int:
    from .chunking import ChunkSettings
    from .config import Settings
    from .indexing import build_index

    settings = Settings()
    chunking = ChunkSettings(max_tokens=args.max_tokens) if args.max_tokens else None
    bar, update = _progress_bar("indexing")
    try:
        m = build_index(
            args.corpus or settings.corpus_dir,
            args.index or settings.index_dir,
            embedder=args.embedder,
            chunking=chunking,
            vector_kind=args.vector_index,
            progress=update,
        )
    finally:
        bar.close()
    for err in m.errors:
        print(f"skipped: {err}", file=sys.stderr)
    print(f"indexed {m.articles} articles, {m.chunks} passages with {m.embedder_id} in {m.build_seconds:.1f} s")
    return 0


def _open(args):
    from .engine import Engine

    engine = Engine.open(args.index, args.corpus, embedder=args.embedder)
    for w in engine.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return engine


def _print_answer(answer, as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer.as_dict(), ensure_ascii=False, indent=2))
        return
    if answer.rewritten != answer.question:
        print(f"(searched as: {answer.rewritten})\n")
    print(answer.text)
    print()
    print("Nearest passages (no answer found):" if answer.refused else "Sources:")
    for c in answer.citations:
        print(f"[{c.n}] {c.title}  ·  {c.file} lines {c.line_start}-{c.line_end}  ·  {c.chunk_id}")
        passage = c.passage.replace("\n", " ")
        print(f"    「{passage[:300]}{'…' if len(passage) > 300 else ''}」")


def cmd_ask(args) -> int:
    engine = _open(args)
    answer = engine.ask(args.question, k=args.top_k, mode=args.mode, backend=args.backend)
    _print_answer(answer, args.json)
    return 0


def cmd_chat(args) -> int:
    engine = _open(args)
    history: list[tuple[str, str]] = []
    interactive = sys.stdin.isatty()
    from .engine import QuestionError

    while True:
        try:
            line = input("问> " if interactive else "")
        except EOFError:
            break
        if not line.strip():
            continue
        try:
            answer = engine.ask(line, k=args.top_k, mode=args.mode, backend=args.backend, history=history)
        except QuestionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            continue
        _print_answer(answer, args.json)
        print()
        history.append((answer.rewritten, answer.text))
    return 0


def cmd_eval(args) -> int:
    from tqdm import tqdm

    from .evaluate import evaluate, format_table, load_questions

    if args.questions is None:
        print("error: give a question file, e.g. `rag eval ../shared/eval/dev.jsonl`", file=sys.stderr)
        return 2
    questions = load_questions(args.questions)
    engine = _open(args)
    bar = tqdm(total=len(questions), desc="evaluating", unit="q", disable=args.json and not sys.stderr.isatty())
    report = evaluate(engine, questions, k=args.top_k, mode=args.mode, progress=lambda d, t: bar.update(1))
    bar.close()
    if args.json:
        out = {"n": report["n"], "overall": report["overall"], "by_type": report["by_type"]}
        if args.details:
            out["outcomes"] = [asdict(o) for o in report["outcomes"]]
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print(f"{args.questions}: {report['n']} questions, mode={args.mode}, k={args.top_k}, embedder={engine.manifest.embedder_id}")
        print(format_table(report))
        if args.details:
            for o in report["outcomes"]:
                print(asdict(o))
    return 0


def cmd_serve(args) -> int:
    from .config import Settings
    from .store import IndexMissingError, live_build

    settings = Settings()
    index_dir = args.index or settings.index_dir
    corpus_dir = args.corpus or settings.corpus_dir
    try:
        live_build(index_dir)
    except IndexMissingError:
        if args.no_build:
            raise
        print(f"No index in {index_dir}/ yet: building it from {corpus_dir}/ first.", file=sys.stderr)
        args.vector_index, args.max_tokens, args.corpus, args.index = None, None, corpus_dir, index_dir
        cmd_index(args)
    from ui.app import serve

    serve(host=args.host, port=args.port, index_dir=index_dir, corpus_dir=corpus_dir, embedder=args.embedder)
    return 0


def cmd_articles(args) -> int:
    engine = _open(args)
    needle = args.filter.lower()
    rows = [a for a in engine.articles() if needle in f"{a.title} {a.byline} {a.file}".lower()]
    if args.json:
        print(json.dumps([{"id": a.id, "title": a.title, "byline": a.byline, "file": a.file, "chars": len(a.text)}
                          for a in rows], ensure_ascii=False, indent=2))
    else:
        for a in rows:
            print(f"{a.id}\t{a.file}\t{len(a.text):>5} chars\t{a.title}\t{a.byline}")
    return 0


def cmd_show(args) -> int:
    engine = _open(args)
    try:
        a = engine.article(args.article_id)
    except KeyError:
        print(f"error: no article '{args.article_id}'; `rag articles` lists them", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(asdict(a), ensure_ascii=False, indent=2))
    else:
        first, last = a.lines_for(0, len(a.text))
        print(f"# {a.title}\n{a.byline}\n({a.file}, lines {first}-{last})\n")
        print(a.text)
    return 0


def cmd_status(args) -> int:
    engine = _open(args)
    status = engine.status()
    if args.json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
    else:
        for key, value in status.items():
            print(f"{key}: {value}")
    return 0


COMMANDS = {
    "index": cmd_index,
    "ask": cmd_ask,
    "chat": cmd_chat,
    "eval": cmd_eval,
    "serve": cmd_serve,
    "articles": cmd_articles,
    "show": cmd_show,
    "status": cmd_status,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from .embedders import EmbedderError
    from .engine import QuestionError
    from .evaluate import EvalSetError
    from .indexing import CorpusEmptyError
    from .store import IndexIncompatibleError, IndexMissingError

    try:
        return COMMANDS[args.command](args)
    except (QuestionError, IndexMissingError, IndexIncompatibleError, EmbedderError, CorpusEmptyError, EvalSetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
