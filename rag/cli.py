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
    p.add_argument("--store", default=None, help="where the index lives: local (default, the index folder), "
                   "milvus-lite:///path/file.db or http://host:19530 (token in $YUWEN_MILVUS_TOKEN); or $YUWEN_STORE")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")


def _ask_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--top-k", type=int, default=5, help="passages to retrieve (default 5)")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid", help="retrieval mode")
    p.add_argument("--backend", default="extractive", help="answer backend: extractive (default) or llm (the model of --llm / $YUWEN_LLM)")
    _llm_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _size_limit(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-file-mb", type=float, default=None,
                   help="refuse corpus files larger than this (default 4, or $YUWEN_MAX_FILE_MB)")


def _llm_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--llm", default=None, metavar="SPEC",
                   help="answer with a language model, each sentence checked against its source: openai[:MODEL] "
                        "(server at $YUWEN_LLM_URL) or transformers:FOLDER_OR_NAME (default $YUWEN_LLM with --backend llm)")


def _texts_per_batch(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of texts, at least 1, not '{text}'")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="渝问 yuwen: cited answers from Chinese news articles.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="bring the index up to date with the corpus, embedding only what changed "
                                     "(atomic: the old index stays usable until done)")
    _common(p)
    p.add_argument("--vector-index", default=None, choices=["auto", "flat", "hnsw", "ivfpq"], help="FAISS index kind")
    p.add_argument("--max-tokens", type=int, default=None, help="passage budget in model tokens (default 200)")
    p.add_argument("--full", action="store_true", help="embed everything again instead of reusing stored vectors")
    p.add_argument("--stream", action="store_true", help="for big corpora: build afresh in batches of bounded memory, "
                   "resuming a killed --stream build where it stopped")
    p.add_argument("--batch", type=_texts_per_batch, default=None, metavar="TEXTS",
                   help="texts per batch with --stream (default 512)")
    _size_limit(p)

    p = sub.add_parser("add", help="add pages (copied into the corpus folder if outside it) and update the index")
    _common(p)
    p.add_argument("paths", nargs="+", type=Path, help="page files (.txt/.md) or folders of pages")
    _size_limit(p)

    p = sub.add_parser("remove", help="leave corpus files or articles out of the index (the files are not deleted)")
    _common(p)
    p.add_argument("items", nargs="+", help="a corpus file (name or path) or an article id (`rag articles` lists them)")

    p = sub.add_parser("ask", help="answer one question with citations")
    _common(p)
    p.add_argument("question", help="the question, in Chinese or English")
    _ask_options(p)

    p = sub.add_parser("chat", help="ask several questions in a row; follow-ups are read in context")
    _common(p)
    _ask_options(p)

    p = sub.add_parser("eval", help="measure retrieval, answers and refusals on a question set")
    _common(p)
    p.add_argument("questions", type=Path, nargs="?",
                   help='a JSONL question set (dev.jsonl schema), or of conversations ({"turns": [...]} a line)')
    p.add_argument("-k", "--top-k", type=int, default=5, help="passages the answer uses (default 5)")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--details", action="store_true", help="also list every question's outcome")
    _llm_option(p)
    p.add_argument("--bench", type=Path, default=None,
                   help="a benchmark folder (passages.jsonl + questions.jsonl), indexed into an index of its own")
    p.add_argument("--limit", type=int, default=None, help="ask only the first N questions")
    p.add_argument("--sample", type=int, default=None, help="with --bench: ask N questions evenly spaced over the set")
    p.add_argument("--compare", action="store_true",
                   help="run bm25-only, dense-only, hybrid and the LlamaIndex baseline on the same questions")
    p.add_argument("--peer-limit", type=int, default=None, help="ask the LlamaIndex baseline only the first N questions (0: leave it out)")
    p.add_argument("--plot", type=Path, default=None, help="write a PNG of recall@k per system")
    p.add_argument("--hide-gold", nargs="?", const="passage", default=None, choices=("passage", "article"),
                   help="with --bench: also ask each question with its gold passages hidden (the right reply is a "
                        "refusal); 'article': every passage of the gold article hidden, the topic gone")
    p.add_argument("--near-miss", action="store_true",
                   help="with --bench: also ask each question's near-miss twin, one constraint changed to one its "
                        "article never states (the right reply is a refusal)")

    p = sub.add_parser("train", help="fit the learned reader on a benchmark (normal + hidden-gold questions)")
    _common(p)
    p.add_argument("--bench", type=Path, default=Path("../shared/bench/drcd_test"),
                   help="the benchmark folder to fit on (default ../shared/bench/drcd_test; never cmrc2018)")
    p.add_argument("--out", type=Path, default=None, help="where to write the parameters (default rag/answer/reader.json)")
    p.add_argument("--sample", type=int, default=None, help="fit on N questions evenly spaced over the set")
    p.add_argument("--false-refusals", type=float, default=0.03,
                   help="share of the answerable fitting questions the refusal threshold may decline (default 0.03)")
    p.add_argument("--median-chars", type=int, default=60,
                   help="the longest median answer (characters) the margin for further units may give (default 60)")
    p.add_argument("--evidence-model", choices=("blend", "trees", "linear"), default="blend",
                   help="the answer probability's model: logistic + boosted trees (blend, default), or one of them")
    p.add_argument("--no-near-miss", action="store_true",
                   help="fit without the near-miss twins (one constraint changed) as negatives")
    p.add_argument("--constraint-false-refusals", type=float, default=0.01,
                   help="share of the answerable fitting questions the near-miss (constraint) model may decline "
                        "on top (default 0.01)")
    p.add_argument("--no-joins", action="store_true",
                   help="fit without the neighbour-join models (the sentence before or after the best one)")
    p.add_argument("--hide-articles", action="store_true",
                   help="also fit on each question asked with its whole gold article hidden, as a negative "
                        "(measured as no gain, so off: model card)")
    p.add_argument("--unit-trees", action="store_true",
                   help="grow boosted trees from the linear unit scores (measured as a trade, so off by default: model card)")
    p.add_argument("--unit-folds", type=int, default=0,
                   help="score the evidence model's fitting rows with unit scorers fitted out of fold, in this many "
                        "folds by article (default 0: with the unit scorer itself)")

    p = sub.add_parser("serve", help="start the web chat (builds the index first if there is none)")
    _common(p)
    p.add_argument("--host", default=os.environ.get("YUWEN_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("YUWEN_PORT", "7860")))
    p.add_argument("--no-build", action="store_true", help="do not build a missing index")
    p.add_argument("--auth", default=None, metavar="USER:PASS",
                   help="the administrator's credentials, needed to re-index or upload (signed in at /admin); "
                        "required off loopback (default $YUWEN_AUTH, which `ps` does not show)")
    p.add_argument("--private", action="store_true", default=None,
                   help="reading needs the credentials too: a sign-in before the page, the API key USER:PASS on /v1 "
                        "(default $YUWEN_PRIVATE)")
    p.add_argument("--rate", type=int, default=None, metavar="N",
                   help="questions per minute per client (default $YUWEN_RATE, else 30 off loopback, no limit on it; 0: none)")
    _llm_option(p)

    p = sub.add_parser("articles", help="list the articles in the index")
    _common(p)
    p.add_argument("--filter", default="", help="only articles whose title, byline or file contain this")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("show", help="print one article's clean text")
    _common(p)
    p.add_argument("article_id")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("status", help="what the index holds and whether it is up to date and sound")
    _common(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", action="store_true",
                   help="verify every file's checksum and that vectors, BM25, rows and sentences agree")

    p = sub.add_parser("feedback", help="the readers' 👍/👎 ratings of answers (kept beside the index)")
    _common(p)
    fsub = p.add_subparsers(dest="feedback_command", required=True)
    fp = fsub.add_parser("list", help="print the ratings, oldest first")
    fp.add_argument("--rating", choices=["up", "down"], default=None, help="only these ratings")
    fp.add_argument("--json", action="store_true", help="one JSON object a line")
    fp = fsub.add_parser("export", help="write the thumbs-down answers as draft test cases (dev-set JSONL schema)")
    fp.add_argument("file", type=Path, help="the JSONL file to write")
    return parser


def _progress_bar(desc: str):
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% {postfix}")

    def update(fraction: float, message: str) -> None:
        bar.n = round(fraction * 100, 1)
        bar.set_postfix_str(message[:60])
        bar.refresh()

    return bar, update


def _apply_size_limit(args) -> None:
    if getattr(args, "max_file_mb", None) is not None:
        os.environ["YUWEN_MAX_FILE_MB"] = str(args.max_file_mb)


def check_index_folder(index_dir) -> None:
    from .writelock import check_index_folder as check

    check(index_dir)


def _report_update(m) -> None:
    from .indexing import describe_update

    for err in m.errors:
        print(f"skipped: {err}", file=sys.stderr)
    print(describe_update(m))


def cmd_index(args) -> int:
    from .chunking import ChunkSettings
    from .config import Settings
    from .indexing import build_index

    settings = Settings()
    _apply_size_limit(args)
    chunking = ChunkSettings(max_tokens=args.max_tokens) if args.max_tokens else None
    check_index_folder(args.index or settings.index_dir)
    bar, update = _progress_bar("indexing")
    try:
        if getattr(args, "stream", False):
            from .build_stream import DEFAULT_BATCH, stream_index

            m = stream_index(args.corpus or settings.corpus_dir, args.index or settings.index_dir, embedder=args.embedder,
                             chunking=chunking, vector_kind=args.vector_index, batch=args.batch or DEFAULT_BATCH,
                             progress=update)
        else:
            m = build_index(args.corpus or settings.corpus_dir, args.index or settings.index_dir, embedder=args.embedder,
                            chunking=chunking, vector_kind=args.vector_index, progress=update,
                            full=getattr(args, "full", False))
    finally:
        bar.close()
    _report_update(m)
    return 0


def cmd_add(args) -> int:
    from .config import Settings
    from .indexing import add_to_index

    settings = Settings()
    _apply_size_limit(args)
    check_index_folder(args.index or settings.index_dir)
    bar, update = _progress_bar("adding")
    try:
        m = add_to_index(args.paths, args.corpus or settings.corpus_dir, args.index or settings.index_dir,
                         embedder=args.embedder, progress=update)
    finally:
        bar.close()
    _report_update(m)
    return 0


def cmd_remove(args) -> int:
    from .config import Settings
    from .indexing import remove_from_index

    settings = Settings()
    bar, update = _progress_bar("removing")
    try:
        m = remove_from_index(args.items, args.corpus or settings.corpus_dir, args.index or settings.index_dir,
                              embedder=args.embedder, progress=update)
    finally:
        bar.close()
    _report_update(m)
    return 0


def _open(args):
    from .engine import Engine

    engine = Engine.open(args.index, args.corpus, embedder=args.embedder)
    for w in engine.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return engine


def _print_answer(answer, as_json: bool) -> None:
    if as_json:
        from .answer import to_reply

        print(json.dumps(to_reply(answer), ensure_ascii=False, indent=2))
        return
    if answer.rewritten != answer.question:
        print(f"(searched as: {answer.rewritten})\n")
    if answer.rewrite_note:
        print(f"notice: {answer.rewrite_note}\n")
    if answer.fallback_reason:
        print(f"notice: the language model's answer is not given ({answer.fallback_reason}); "
              "this is the extractive answer.\n")
    if answer.backend == "llm" and answer.sentences:
        print(checked_text(answer))
        n, ok = len(answer.sentences), sum(1 for x in answer.sentences if x["supported"])
        print(f"\n({ok} of {n} sentences supported by their sources · {answer.llm})")
    else:
        print(answer.text)
    print()
    if answer.partial:
        print("Sources (they do not answer the question as asked; what they state instead):")
    else:
        print("Nearest passages (no answer found):" if answer.refused else "Sources:")
    for c in answer.citations:
        print(f"[{c.n}] {c.title}  ·  {c.file} lines {c.line_start}-{c.line_end}  ·  {c.chunk_id}")
        passage = c.passage.replace("\n", " ")
        print(f"    「{passage[:300]}{'…' if len(passage) > 300 else ''}」")


UNSUPPORTED = "⚠ "  # marks a generated sentence that no cited passage supports
UNSUPPORTED_NOTE = "（未经出处证实 / not supported by its source）"


def checked_text(answer) -> str:
    """The generated answer with each unsupported sentence marked."""
    parts = []
    for x in answer.sentences:
        marks = "".join(f"[{n}]" for n in x["citations"])
        parts.append(f"{x['text']}{marks}" if x["supported"] else f"{UNSUPPORTED}{x['text']}{marks}{UNSUPPORTED_NOTE}")
    return "\n".join(parts)


def _ask_and_print(engine, question: str, args, history=None):
    """Ask, streaming a language model's draft to the terminal as it is written, then print the
    checked answer (with --json: only the JSON object)."""
    from .answer import Answer

    answer, drafted = None, False
    for item in engine.ask_stream(question, k=args.top_k, mode=args.mode, backend=args.backend, history=history,
                                  llm=args.llm):
        if isinstance(item, Answer):
            answer = item
        elif not args.json:
            if not drafted:
                print("(draft, as the language model writes it)", flush=True)
            sys.stdout.write(item)
            sys.stdout.flush()
            drafted = True
    if drafted:
        print("\n\n(checked against the sources)\n")
    _print_answer(answer, args.json)
    return answer


def cmd_ask(args) -> int:
    engine = _open(args)
    _ask_and_print(engine, args.question, args)
    return 0


def cmd_chat(args) -> int:
    engine = _open(args)
    history: list[tuple[str, str]] = []
    interactive = sys.stdin.isatty()
    from .engine import QuestionError

    # Bytes that are not UTF-8 arrive as lone surrogates, which the question check turns into one
    # clear line, instead of a decoding error that would end the session.
    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="surrogateescape")
    while True:
        try:
            line = input("问> " if interactive else "")
        except EOFError:
            break
        if not line.strip():
            continue
        engine = engine.refreshed()  # a build made meanwhile is answered from
        try:
            answer = _ask_and_print(engine, line, args, history=history)
        except QuestionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            continue
        print()
        history.append((answer.question, answer.text))  # as asked: the rewriter resolves the turns in order
    return 0


def cmd_eval(args) -> int:
    if args.llm and (args.bench is not None or args.compare):
        print("error: --llm is measured on a question file (rag eval FILE --llm SPEC), not with --bench or --compare",
              file=sys.stderr)
        return 2
    if args.bench is not None:
        return _eval_bench(args)
    given = [flag for flag, on in (("--hide-gold", args.hide_gold), ("--near-miss", args.near_miss)) if on]
    if given:  # a question file has no gold passages to hide and no articles to build twins from
        print(f"error: {' and '.join(given)} need a benchmark folder: rag eval --bench DIR {' '.join(given)}",
              file=sys.stderr)
        return 2
    from tqdm import tqdm

    from .evaluate import evaluate, format_table, load_questions

    if args.questions is None:
        print("error: give a question file, e.g. `rag eval ../shared/eval/dev.jsonl`, or --bench DIR", file=sys.stderr)
        return 2
    from .evaluate_turns import is_conversation_file

    if is_conversation_file(args.questions):
        return _eval_conversations(args)
    questions = load_questions(args.questions)
    if args.limit is not None:
        questions = questions[: max(args.limit, 1)]
    if args.compare:
        return _eval_dev_compare(args, questions)
    engine = _open(args)
    bar = tqdm(total=len(questions), desc="evaluating", unit="q", disable=args.json and not sys.stderr.isatty())
    report = evaluate(engine, questions, k=args.top_k, mode=args.mode, progress=lambda d, t: bar.update(1), llm=args.llm)
    bar.close()
    if args.plot:
        from .bench import dev_curve, plot_recall_curves

        plot_recall_curves([{"system": f"yuwen-{args.mode}", "curve": dev_curve(report["outcomes"])}], args.plot,
                           title=f"{args.questions.name}: recall@k", ylabel="recall@k of a passage holding the evidence")
    if args.json:
        out = {"n": report["n"], "overall": report["overall"], "by_type": report["by_type"]}
        if args.details:
            out["outcomes"] = [asdict(o) for o in report["outcomes"]]
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print(f"{args.questions}: {report['n']} questions, mode={args.mode}, k={args.top_k}, embedder={engine.manifest.embedder_id}"
              + (f", llm={args.llm}" if args.llm else ""))
        print(format_table(report))
        if args.details:
            for o in report["outcomes"]:
                print(asdict(o))
    return 0


def _eval_conversations(args) -> int:
    """`rag eval CONVERSATIONS.jsonl`: every turn asked with the earlier turns as history, figures per turn."""
    from tqdm import tqdm

    from .evaluate_turns import evaluate_conversations, format_turn_table, load_conversations, report_json

    if args.compare or args.plot:
        print("error: --compare and --plot take a question file, not conversations", file=sys.stderr)
        return 2
    conversations = load_conversations(args.questions)
    if args.limit is not None:
        conversations = conversations[: max(args.limit, 1)]
    engine = _open(args)
    bar = tqdm(total=len(conversations), desc="conversations", unit="conv", disable=args.json and not sys.stderr.isatty())
    report = evaluate_conversations(engine, conversations, k=args.top_k, mode=args.mode,
                                    progress=lambda d, t: bar.update(1), llm=args.llm)
    bar.close()
    if args.json:
        print(json.dumps(report_json(report, args.details), ensure_ascii=False, indent=2))
        return 0
    print(f"{args.questions}: {report['conversations']} conversations, {report['turns']} turns, mode={args.mode}, "
          f"k={args.top_k}, embedder={engine.manifest.embedder_id}" + (f", llm={args.llm}" if args.llm else ""))
    print(format_turn_table(report))
    if args.details:
        for t in report["outcomes"]:
            mark = {True: "ok", False: "WRONG", None: "-"}[t.rewrite_ok]
            print(f"{t.outcome.id}  [{mark}] {t.question}  ->  {t.rewritten}  "
                  f"(rank {t.outcome.first_hit_rank}, {'refused' if t.outcome.refused else 'answered'})")
    return 0


def _peer(args, documents, questions_note: str):
    """The LlamaIndex baseline built over ``documents``, or None (with a message) when its packages are missing."""
    from .bench import BenchError, LlamaIndexSystem, peer_model_for
    from .config import Settings

    embedder = args.embedder or Settings().embedder
    folder, qi, ti = peer_model_for(embedder)
    print(f"building the LlamaIndex baseline ({questions_note}) ...", file=sys.stderr)
    try:
        return LlamaIndexSystem.build(documents, folder, query_instruction=qi, text_instruction=ti)
    except BenchError as exc:
        print(f"warning: LlamaIndex baseline skipped: {exc}", file=sys.stderr)
        return None


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _eval_bench(args) -> int:
    """`rag eval --bench DIR`: index the benchmark's passages into their own index, ask, score."""
    from tqdm import tqdm

    from .bench import (
        YuwenSystem,
        ensure_bench_index,
        evaluate_systems,
        format_comparison,
        load_bench,
        open_bench_engine,
        plot_recall_curves,
        report_json,
    )
    from .chunking import ChunkSettings
    from .config import Settings

    bench = load_bench(args.bench, limit=args.limit, sample=args.sample)
    settings = Settings()
    embedder = args.embedder or settings.embedder
    quiet = args.json and not sys.stderr.isatty()
    bar, update = _progress_bar(f"indexing {bench.name}")
    try:
        index_dir, built = ensure_bench_index(bench, args.index, embedder=embedder, chunking=ChunkSettings(),
                                              progress=update)
    finally:
        bar.close()
    engine = open_bench_engine(index_dir, embedder=embedder, chunking=ChunkSettings())
    m = engine.manifest
    print(f"{'built' if built else 'reused'} benchmark index {index_dir} ({m.articles} passages, {m.chunks} chunks, "
          f"{m.build_seconds:.1f} s to build)", file=sys.stderr)
    modes = ["bm25", "dense", "hybrid"] if args.compare else [args.mode]
    systems = [YuwenSystem(engine, mode) for mode in modes]
    limits = {}
    peer = None
    if args.compare and args.peer_limit != 0:
        peer = _peer(args, list(bench.passage_texts().items()), f"{len(bench.passages)} passages")
        if peer is not None:
            systems.append(peer)
            if args.peer_limit is not None:
                limits[peer.name] = args.peer_limit
    # Question by question, every system in turn: load from elsewhere falls on all alike.
    bar = tqdm(total=len(bench.questions), desc=" + ".join(s.name for s in systems), unit="q", disable=quiet)
    results = evaluate_systems(systems, bench, progress=lambda d, t: bar.update(1), limits=limits,
                               hide_gold=args.hide_gold, near_miss=args.near_miss)
    bar.close()
    for r in results:
        r["build_seconds"], r["chunks"] = (peer.build_seconds, peer.chunks) if peer and r["system"] == peer.name \
            else (m.build_seconds, m.chunks)
    if args.plot:
        plot_recall_curves(results, args.plot, title=f"{bench.name}: recall@k of the gold passage ({len(bench.questions)} questions)")
    if args.json:
        out = report_json(results, bench, details=args.details, embedder=m.embedder_id, index=str(index_dir),
                          **({"hide_gold": args.hide_gold} if args.hide_gold else {}))
        if len(results) == 1:  # the dev-set eval's shape too
            out["overall"] = results[0]["overall"]
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print(f"{bench.folder}: {len(bench.questions)} questions, {len(bench.passages)} passages, embedder={m.embedder_id}")
        print(format_comparison(results))
        for r in results:
            o = r["overall"]
            if o.get("hidden_n") is not None:
                hidden_what = "gold article" if args.hide_gold == "article" else "gold"
                print(f"  {r['system']} with {hidden_what} hidden: refusal accuracy {_f(o['hidden_refusal_accuracy'])} on "
                      f"{o['hidden_n']} questions; {o['still_answerable_n']} still answerable elsewhere in their "
                      f"article: answered {_f(o['still_answered'])}, answer hit {_f(o['still_answer_hit'])}")
            if o.get("near_miss_n") is not None:
                kinds = ", ".join(f"{k} {_f(v['refusal_accuracy'])} ({v['n']})" for k, v in o["near_miss_by_kind"].items())
                print(f"  {r['system']} near-miss twins: refusal accuracy {_f(o['near_miss_refusal_accuracy'])} on "
                      f"{o['near_miss_n']} questions (by kind: {kinds}); gave the original's answer "
                      f"{_f(o['near_miss_original_answer'])}")
        for r in results:
            if "build_seconds" in r:
                print(f"  {r['system']}: {r['chunks']} chunks, index built in {r['build_seconds']:.1f} s"
                      + (f"; {r['n']} questions" if r["n"] != len(bench.questions) else ""))
    return 0


def _eval_dev_compare(args, questions: list[dict]) -> int:
    """`rag eval dev.jsonl --compare`: our three retrieval modes and the LlamaIndex baseline on the dev set."""
    from tqdm import tqdm

    from .bench import (
        YuwenSystem,
        dev_curve,
        dev_retrieval_latency,
        evaluate_dev_retrieval_only,
        format_comparison,
        plot_recall_curves,
        report_json,
    )
    from .config import Settings
    from .evaluate import evaluate

    engine = _open(args)
    quiet = args.json and not sys.stderr.isatty()
    results = []
    for mode in ("bm25", "dense", "hybrid"):
        system = YuwenSystem(engine, mode)
        system.reset()
        bar = tqdm(total=len(questions), desc=system.name, unit="q", disable=quiet)
        report = evaluate(engine, questions, k=args.top_k, mode=mode, progress=lambda d, t, bar=bar: bar.update(1))
        bar.close()
        overall = dict(report["overall"])
        overall.update(dev_retrieval_latency(system, questions))
        results.append({"system": system.name, "n": report["n"], "overall": overall, "curve": dev_curve(report["outcomes"])})
    corpus = Path(args.corpus or Settings().corpus_dir)
    peer = _peer(args, corpus, f"SimpleDirectoryReader over {corpus}/")
    if peer is not None:
        result = evaluate_dev_retrieval_only(peer, questions)
        result["build_seconds"], result["chunks"] = peer.build_seconds, peer.chunks
        results.append(result)
    if args.plot:
        plot_recall_curves(results, args.plot, title=f"{args.questions.name}: recall@k (chunk sizes differ by system)",
                           ylabel="recall@k of a passage holding the evidence")
    if args.json:
        print(json.dumps(report_json(results, None, questions=str(args.questions)), ensure_ascii=False, indent=2))
    else:
        print(f"{args.questions}: {len(questions)} questions, embedder={engine.manifest.embedder_id}")
        print(format_comparison(results))
    return 0


def cmd_train(args) -> int:
    """`rag train`: collect features on a benchmark, fit the reader, write its parameters."""
    from tqdm import tqdm

    from .answer.reader import MODEL_FILE, Reader
    from .answer.train import train
    from .bench import ensure_bench_index, load_bench, open_bench_engine
    from .chunking import ChunkSettings
    from .config import Settings

    if args.unit_folds and not 2 <= args.unit_folds <= 20:
        print(f"error: --unit-folds takes 2 to 20 folds (or 0 for none), not {args.unit_folds}", file=sys.stderr)
        return 2
    bench = load_bench(args.bench, sample=args.sample)
    embedder = args.embedder or Settings().embedder
    bar, update = _progress_bar(f"indexing {bench.name}")
    try:
        index_dir, _ = ensure_bench_index(bench, args.index, embedder=embedder, chunking=ChunkSettings(), progress=update)
    finally:
        bar.close()
    engine = open_bench_engine(index_dir, embedder=embedder, chunking=ChunkSettings(), model=Reader.untrained())
    bar = tqdm(total=len(bench.questions), desc="collecting", unit="q")
    command = (f"rag train --bench {args.bench} --false-refusals {args.false_refusals} --median-chars {args.median_chars}"
               f" --evidence-model {args.evidence_model}" + (f" --sample {args.sample}" if args.sample else "")
               + (" --no-near-miss" if args.no_near_miss else f" --constraint-false-refusals {args.constraint_false_refusals}")
               + (" --no-joins" if args.no_joins else "") + (" --hide-articles" if args.hide_articles else "")
               + (" --unit-trees" if args.unit_trees else "")
               + (f" --unit-folds {args.unit_folds}" if args.unit_folds else ""))
    reader = train(engine, bench, false_refusals=args.false_refusals, median_chars=args.median_chars,
                   evidence_model=args.evidence_model, near_miss=not args.no_near_miss,
                   constraint_false_refusals=args.constraint_false_refusals, joins=not args.no_joins,
                   unit_trees=args.unit_trees, unit_folds=args.unit_folds, hide_articles=args.hide_articles,
                   progress=lambda d, t: bar.update(1),
                   card={"command": command, "embedder": engine.manifest.embedder_id})
    bar.close()
    out = reader.save(args.out or MODEL_FILE)
    print(f"wrote {out}: threshold {reader.threshold:.3f}; {json.dumps(reader.card, ensure_ascii=False)}")
    return 0


def cmd_serve(args) -> int:
    from .config import Settings
    from .store import IndexMissingError
    from .stores import open_store

    from ui.access import AccessError, Guard, check_exposure, credentials_from, private_from_env
    from ui.limits import rate_from_env

    try:  # before anything is built or opened
        credentials = credentials_from(args.auth)
        check_exposure(args.host, credentials)
        Guard(credentials, private=args.private or private_from_env())
        rate_from_env()
    except (AccessError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = Settings()
    index_dir = args.index or settings.index_dir
    corpus_dir = args.corpus or settings.corpus_dir
    try:
        open_store(index_dir, verify=False).close()
    except IndexMissingError:
        if args.no_build:
            raise
        print(f"No index in {index_dir}/ yet: building it from {corpus_dir}/ first.", file=sys.stderr)
        args.vector_index, args.max_tokens, args.corpus, args.index = None, None, corpus_dir, index_dir
        cmd_index(args)
    from ui.app import serve

    app = serve(host=args.host, port=args.port, index_dir=index_dir, corpus_dir=corpus_dir, embedder=args.embedder,
                block=False, llm=args.llm, auth=args.auth, rate=args.rate,
                private=args.private)
    url = getattr(app, "local_url", None) or f"http://{args.host}:{args.port}/"
    admin = f"; re-index and upload after signing in at {url}admin" if credentials else ""
    print(f"渝问 yuwen is serving the web chat on {url}  (OpenAI-compatible API: {url}v1{admin}; Ctrl+C stops it)",
          flush=True)
    app.block_thread()
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
    if args.check:
        problems = engine.reader.check()
        status["check"] = problems or "ok"
        status["counts"] = engine.reader.counts()
    if args.json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
    else:
        for key, value in status.items():
            if key != "check":
                print(f"{key}: {value}")
    if args.check and problems:
        if not args.json:
            print(f"error: {problems[0]}" + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""),
                  file=sys.stderr)
        return 2
    if args.check and not args.json:
        print("check: ok (every file matches its checksum; vectors, BM25 documents, rows and sentences agree)")
    return 0


def cmd_feedback(args) -> int:
    from .config import Settings
    from .feedback import export_dev_set, feedback_path, list_feedback

    path = feedback_path(args.index or Settings().index_dir)
    if args.feedback_command == "export":
        n = export_dev_set(path, args.file)
        print(f"wrote {n} thumbs-down answer{'s' if n != 1 else ''} to {args.file} (fill in answer, must_include "
              "and evidence before using them as test cases)")
        return 0
    rows = list_feedback(path, args.rating)
    for f in rows:
        if args.json:
            print(json.dumps(f.as_dict(), ensure_ascii=False))
        else:
            asked = f.question if not f.rewritten or f.rewritten == f.question else f"{f.question} → {f.rewritten}"
            note = f"\t{f.comment}" if f.comment else ""
            print(f"{f.id}\t{f.time}\t{'👍' if f.rating == 'up' else '👎'}\t{f.backend}/{f.mode}\t{asked}{note}")
    if not rows and not args.json:
        print(f"no feedback yet in {path}")
    return 0


COMMANDS = {
    "feedback": cmd_feedback,
    "index": cmd_index,
    "add": cmd_add,
    "remove": cmd_remove,
    "ask": cmd_ask,
    "chat": cmd_chat,
    "eval": cmd_eval,
    "serve": cmd_serve,
    "train": cmd_train,
    "articles": cmd_articles,
    "show": cmd_show,
    "status": cmd_status,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = os.environ.get("YUWEN_STORE")
    if getattr(args, "store", None):
        os.environ["YUWEN_STORE"] = args.store  # read by Settings everywhere below, the web app's too
    try:
        return _run(args)
    finally:  # main() may be called in a process that goes on (tests, notebooks)
        if previous is None:
            os.environ.pop("YUWEN_STORE", None)
        else:
            os.environ["YUWEN_STORE"] = previous


# The errors a command reports in one line, by module: a module that was never imported raised none
# of them, so an update does not import the answering modules (a second) just to name their errors.
_ONE_LINE_ERRORS = {
    "rag.answer.reader": ("ReaderError",),
    "rag.embedders": ("EmbedderError",),
    "rag.engine": ("QuestionError",),
    "rag.evaluate": ("EvalSetError",),
    "rag.feedback": ("FeedbackError",),
    "rag.indexing": ("CorpusEmptyError", "UpdateError"),
    "rag.store": ("IndexIncompatibleError", "IndexMissingError"),
    "rag.writelock": ("IndexBusyError", "IndexWriteError"),
}


def _one_line_error(exc: BaseException) -> bool:
    for module, names in _ONE_LINE_ERRORS.items():
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(exc, tuple(getattr(loaded, n) for n in names)):
            return True
    return False


def _run(args) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return COMMANDS[args.command](args)
    except Exception as exc:
        if not _one_line_error(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
