"""How the retrieval parts scale: FAISS (as rag/vectors.py builds it) and BM25 at 10k-1M chunks.

    .venv/bin/python benchmarks/scale.py                          # 10k, 100k, 1M
    .venv/bin/python benchmarks/scale.py --sizes 10000,100000 --queries 100

The corpus is synthetic but made of real text: the sentences of the demo corpus and of the CMRC
passages, recombined at random into chunks of about the product's chunk length; BM25 is built over
their jieba tokens (each sentence cut once, then concatenated, which is what cutting the joined
text gives but for the odd word across a boundary). Embedding 1M chunks is out of reach here
(see speed.json for the per-chunk cost, extrapolated below), so vectors are synthetic too:
``--vectors clustered`` (default) draws each one around a real e5 embedding taken from the CMRC
benchmark index (clusters, like real embeddings; queries drawn the same way), ``random`` uses
uniform random unit vectors (no structure, the hardest case for approximate search).

For each size, in a child process of its own: index size on disk and in memory, load time,
query latency p50/p95 of the vector search (the product's ``search_vectors`` with its 50
candidates), of BM25 (``search_bm25``) and of both plus fusion (hybrid retrieval without the
query embedding), and recall@10 of the approximate index against exact search. Written:
``benchmarks/results/scale.json`` and ``scale_latency.png``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
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
BENCH = REPO.parent / "shared" / "bench" / "cmrc2018"
CANDIDATES = 50  # what rag.retrieve asks each ranking for


def _rss_mb() -> float:
    """Current resident memory of this process (not the peak), MB."""
    with open("/proc/self/statm") as fh:
        return round(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _peak_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _du_mb(path: Path) -> float:
    if path.is_file():
        return round(path.stat().st_size / 2**20, 1)
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)) * 1000, 2)


def base_sentences() -> list[str]:
    """Real sentences: the demo corpus's articles and the CMRC passages, 8-150 characters each."""
    from rag.ingest import load_corpus
    from rag.sentences import sentence_spans

    texts = [a.text for a in load_corpus(REPO / "corpus")[0]]
    if (BENCH / "passages.jsonl").is_file():
        texts += [json.loads(line)["text"] for line in (BENCH / "passages.jsonl").read_text("utf-8").splitlines() if line]
    out = []
    for t in texts:
        out += [t[s:e] for s, e in sentence_spans(t) if 8 <= e - s <= 150]
    return out


def real_vectors() -> np.ndarray | None:
    """Chunk and sentence embeddings of a cached CMRC benchmark index, or None when there is none."""
    import faiss

    root = Path(os.environ.get("YUWEN_CACHE", Path.home() / ".cache" / "yuwen")).expanduser() / "bench"
    for folder in sorted(glob.glob(str(root / "cmrc2018-*")), key=os.path.getmtime, reverse=True):
        builds = sorted(Path(folder).glob("build-*"))
        if not builds:
            continue
        b = builds[-1]
        idx = faiss.read_index(str(b / "vectors.faiss"))
        inner = faiss.downcast_index(idx.index) if hasattr(idx, "index") else idx
        vecs = [inner.reconstruct_n(0, inner.ntotal)]
        if (b / "sentences.npy").is_file():
            vecs.append(np.load(b / "sentences.npy"))
        return np.ascontiguousarray(np.vstack(vecs), dtype=np.float32)
    return None


def synth_vectors(n: int, dim: int, kind: str, centers: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """``n`` unit vectors: around real embeddings (``clustered``) or uniform (``random``)."""
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for s in range(0, n, step):
        m = min(step, n - s)
        g = rng.standard_normal((m, dim), dtype=np.float32)
        if kind == "clustered" and centers is not None:
            # noise of norm ~0.5 around a real embedding: cosine ~0.9 to it, as paraphrases are
            v = centers[rng.integers(0, len(centers), m)] + g * (0.5 / np.sqrt(dim))
        else:
            v = g
        out[s : s + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def _loaded_rss_mb(path: Path, loader: str) -> float:
    """Resident memory that loading ``path`` adds to a fresh process (``loader``: faiss or bm25), MB."""
    code = (
        "import sys, os; sys.path.insert(0, %r)\n"
        "from rag.vectors import load_vectors; from rag.bm25 import load_bm25\n"
        "def rss():\n    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
        "a = rss(); x = %s(%r); print((rss() - a) / 2**20)\n"
    ) % (str(REPO), "load_vectors" if loader == "faiss" else "load_bm25", str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 1) if out.returncode == 0 else -1.0


def job(n: int, queries: int, kind_vectors: str, kinds: list[str], omp_threads: int = 0) -> dict:
    """One size: build, save, load and query the BM25 and vector parts."""
    import bm25s
    import faiss

    if omp_threads:
        faiss.omp_set_num_threads(omp_threads)

    from rag.bm25 import load_bm25, save_bm25, search_bm25
    from rag.lexical import tokenize
    from rag.retrieve import fuse
    from rag.vectors import build_vectors, choose_kind, load_vectors, save_vectors, search_vectors

    rng = np.random.default_rng(n)
    tmp = Path(tempfile.mkdtemp(prefix=f"scale-{n}-"))
    result: dict = {"n": n, "vectors": kind_vectors, "auto_kind": choose_kind(n), "faiss_omp_threads": faiss.omp_get_max_threads()}

    # -- text: recombined real sentences, ~the product's chunk length (4-9 sentences, ~300 chars)
    t = time.perf_counter()
    sentences = base_sentences()
    cut = [tokenize(s) for s in sentences]
    lengths = rng.integers(4, 10, n)
    picks = rng.integers(0, len(sentences), int(lengths.sum()))
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    corpus_tokens = [sum((cut[j] for j in picks[bounds[i] : bounds[i + 1]]), []) for i in range(n)]
    text_bytes = int(sum(len(sentences[j].encode()) for j in picks))
    result["synth_seconds"] = round(time.perf_counter() - t, 1)
    result["mean_chars_per_chunk"] = round(sum(len(sentences[j]) for j in picks) / n, 1)
    result["chunk_text_mb"] = round(text_bytes / 2**20, 1)
    qs = [sentences[j] for j in rng.integers(0, len(sentences), queries)]  # a real sentence as the question

    # -- BM25 (as rag.bm25.build_bm25, with the tokens cut beforehand)
    rss0 = _rss_mb()
    t = time.perf_counter()
    bm = bm25s.BM25()
    bm.index([toks or ["\u2205"] for toks in corpus_tokens], show_progress=False)
    result["bm25_build_s"] = round(time.perf_counter() - t, 1)
    save_bm25(bm, tmp / "bm25")
    del bm, corpus_tokens
    result["bm25_disk_mb"] = _du_mb(tmp / "bm25")
    rss1 = _rss_mb()
    t = time.perf_counter()
    bm = load_bm25(tmp / "bm25")
    result["bm25_load_s"] = round(time.perf_counter() - t, 3)
    search_bm25(bm, qs[0], CANDIDATES)
    bm_times, bm_rows = [], []
    for q in qs:
        t = time.perf_counter()
        rows, _ = search_bm25(bm, q, CANDIDATES)
        bm_times.append(time.perf_counter() - t)
        bm_rows.append([int(r) for r in rows])
    result["bm25_rss_mb_after_queries"] = round(_rss_mb() - rss1, 1)  # memory-mapped: pages touched by queries
    result["bm25_ms_p50"], result["bm25_ms_p95"] = _pct(bm_times, 50), _pct(bm_times, 95)

    # -- vectors
    centers = real_vectors() if kind_vectors == "clustered" else None
    dim = centers.shape[1] if centers is not None else 384
    result["vectors"] = kind_vectors if centers is not None or kind_vectors == "random" else "random (no CMRC index)"
    t = time.perf_counter()
    vecs = synth_vectors(n, dim, kind_vectors, centers, rng)
    qv = synth_vectors(queries, dim, kind_vectors, centers, np.random.default_rng(n + 1))
    result["vector_synth_s"] = round(time.perf_counter() - t, 1)
    exact = faiss.IndexFlatIP(dim)
    exact.add(vecs)
    _, truth = exact.search(qv, 10)
    del exact
    result["indexes"] = {}
    for kind in kinds:
        entry: dict = {}
        t = time.perf_counter()
        index = build_vectors(vecs, kind)
        entry["build_s"] = round(time.perf_counter() - t, 1)
        save_vectors(index, tmp / f"{kind}.faiss")
        del index
        entry["disk_mb"] = _du_mb(tmp / f"{kind}.faiss")
        t = time.perf_counter()
        index = load_vectors(tmp / f"{kind}.faiss")
        entry["load_s"] = round(time.perf_counter() - t, 2)
        entry["rss_mb"] = _loaded_rss_mb(tmp / f"{kind}.faiss", "faiss")
        search_vectors(index, qv[0], CANDIDATES)
        times, found, hybrid = [], [], []
        for i, q in enumerate(qv):
            t = time.perf_counter()
            ids, _ = search_vectors(index, q, CANDIDATES)
            times.append(time.perf_counter() - t)
            found.append(ids[:10])
            # hybrid retrieval without the query embedding: both rankings + reciprocal-rank fusion
            t = time.perf_counter()
            ids, _ = search_vectors(index, q, CANDIDATES)
            rows, _ = search_bm25(bm, qs[i], CANDIDATES)
            fuse([[int(x) for x in ids], [int(x) for x in rows]])
            hybrid.append(time.perf_counter() - t)
        entry["ms_p50"], entry["ms_p95"] = _pct(times, 50), _pct(times, 95)
        entry["hybrid_ms_p50"], entry["hybrid_ms_p95"] = _pct(hybrid, 50), _pct(hybrid, 95)
        entry["recall@10_vs_exact"] = round(
            float(np.mean([len(set(map(int, f)) & set(map(int, t))) / 10 for f, t in zip(found, truth)])), 4
        )
        result["indexes"][kind] = entry
        del index
    result["peak_rss_mb"] = _peak_mb()
    result["rss_before_mb"] = rss0
    return result


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ns = [r["n"] for r in results]
    kinds = sorted({k for r in results for k in r["indexes"]})
    for k in kinds:
        pts = [(r["n"], r["indexes"][k]["ms_p50"]) for r in results if k in r["indexes"]]
        ax.plot(*zip(*pts), marker="o", label=f"vector {k} p50")
    auto = [(r["n"], r["indexes"][r["auto_kind"]]["hybrid_ms_p50"]) for r in results if r["auto_kind"] in r["indexes"]]
    if auto:
        ax.plot(*zip(*auto), marker="s", linewidth=2.5, label="hybrid (auto kind + BM25 + fusion) p50")
    ax.plot(ns, [r["bm25_ms_p50"] for r in results], marker="^", label="BM25 p50")
    ax.axhline(50, color="grey", linestyle=":", linewidth=1)
    ax.axhline(200, color="grey", linestyle="--", linewidth=1)
    ax.text(ns[0], 52, "50 ms goal at 100k", fontsize=8, color="grey")
    ax.text(ns[0], 208, "200 ms goal at 1M", fontsize=8, color="grey")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chunks in the index")
    ax.set_ylabel("latency per query (ms, log)")
    ax.set_title("Retrieval latency vs corpus size (query embedding excluded)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--vectors", choices=["clustered", "random"], default="clustered")
    ap.add_argument("--kinds", default="auto", help="vector index kinds to measure besides exact: auto (choose_kind), or a comma list")
    ap.add_argument("--out", type=Path, default=RESULTS / "scale.json")
    ap.add_argument("--omp-threads", type=int, default=0, help="faiss OpenMP threads (0: faiss's default)")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        n, queries, vk, kinds, omp = args.child
        print(json.dumps(job(int(n), int(queries), vk, kinds.split(","), int(omp))))
        return 0

    from rag.vectors import choose_kind

    results = []
    for n in [int(x) for x in args.sizes.split(",")]:
        kinds = ["flat"] + ([choose_kind(n)] if args.kinds == "auto" else args.kinds.split(","))
        kinds = list(dict.fromkeys(kinds))
        load = round(os.getloadavg()[0], 2)
        started = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--child", str(n), str(args.queries), args.vectors, ",".join(kinds), str(args.omp_threads)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stderr[-3000:])
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["load_avg_before"], r["load_avg_after"] = load, round(os.getloadavg()[0], 2)
        r["wall_s"] = round(time.perf_counter() - started, 1)
        results.append(r)
        print(f"n={n:>9,}  bm25 build {r['bm25_build_s']} s, {r['bm25_disk_mb']} MB disk, load {r['bm25_load_s']} s, "
              f"p50 {r['bm25_ms_p50']} ms / p95 {r['bm25_ms_p95']} ms; text {r['chunk_text_mb']} MB; "
              f"peak RSS {r['peak_rss_mb']} MB; load avg {load}", flush=True)
        for k, e in r["indexes"].items():
            print(f"    {k:<6} build {e['build_s']} s, disk {e['disk_mb']} MB, +RSS {e['rss_mb']} MB, load {e['load_s']} s, "
                  f"p50 {e['ms_p50']} ms, p95 {e['ms_p95']} ms, hybrid p50 {e['hybrid_ms_p50']} ms / p95 {e['hybrid_ms_p95']} ms, "
                  f"recall@10 vs exact {e['recall@10_vs_exact']}", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"vectors": args.vectors, "queries": args.queries, "omp_threads": args.omp_threads or "default",
                                         "results": results}, indent=2) + "\n")
    plot(results, args.out.with_name(args.out.stem + "_latency.png"))
    print(f"written {args.out} and {args.out.with_name(args.out.stem + '_latency.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
