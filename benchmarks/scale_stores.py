"""The local store and the Milvus store at one size, on the same synthetic chunks and queries.

    .venv/bin/python benchmarks/scale_stores.py --size 100000 [--queries 100] [--store milvus-lite:///tmp/s/scale.db]

Chunks and vectors are made as in ``benchmarks/scale.py`` (real sentences recombined; unit
vectors clustered around real e5 embeddings when a CMRC benchmark index is cached, else random).
Both stores are written through their own write path (``write_local`` / ``write_milvus``) with
``auto`` vector indexes and searched through the Store protocol: build time, size on disk, peak
RSS of this process, query p50/p95 for dense (50 candidates), BM25 and hybrid (dense + BM25 fused
by our RRF; for Milvus also by its RRFRanker), and recall@10 of dense search against exact search.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> int:
    from scale import _du_mb, _peak_mb, _pct, base_sentences, real_vectors, synth_vectors

    from rag.documents import Article, Chunk
    from rag.retrieve import fuse
    from rag.store import FORMAT_VERSION, Manifest, write_local
    from rag.stores import open_store
    from rag.store_milvus import write_milvus

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--store", default=None, help="Milvus store (default: a milvus-lite file in a temporary folder)")
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.size)
    sentences = base_sentences()
    texts = []
    for _ in range(args.size):
        parts, length = [], 0
        while length < 180:
            s = sentences[int(rng.integers(len(sentences)))]
            parts.append(s)
            length += len(s)
        texts.append("".join(parts))
    centers = real_vectors()
    dim = centers.shape[1] if centers is not None else 384
    vectors = synth_vectors(args.size, dim, "clustered" if centers is not None else "random", centers, rng)
    per = 10
    chunks = [Chunk(id=f"s{i // per:07d}-01:{i % per:03d}", article_id=f"s{i // per:07d}-01", title="", file="synthetic.txt",
                    start=0, end=len(t), text=t, ordinal=i % per) for i, t in enumerate(texts)]
    articles = [Article(id=f"s{j:07d}-01", file="synthetic.txt", title="", text="") for j in range((args.size + per - 1) // per)]
    queries = synth_vectors(args.queries, dim, "clustered" if centers is not None else "random", centers, rng)
    qtexts = [sentences[int(rng.integers(len(sentences)))] for _ in range(args.queries)]
    exact = [set(np.argsort(-(vectors @ q))[:10].tolist()) for q in queries]

    tmp = Path(tempfile.mkdtemp(prefix="yuwen-scale-"))
    results = {"size": args.size, "dim": dim, "vectors": "clustered" if centers is not None else "random"}
    spec = args.store or f"milvus-lite://{tmp}/scale.db"
    for name, store in (("local", "local"), ("milvus", spec)):
        index_dir = tmp / name
        index_dir.mkdir()
        m = Manifest(format_version=FORMAT_VERSION, embedder="synthetic", embedder_id="synthetic", dim=dim, chunking={},
                     vector_kind="hnsw" if args.size > 50_000 else "flat", corpus={}, articles=len(articles),
                     chunks=len(chunks), built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        t = time.perf_counter()
        if name == "local":
            write_local(index_dir, m, articles, chunks, vectors, [], None, [])
        else:
            write_milvus(index_dir, spec, m, articles, chunks, vectors, [], None, [])
        build = time.perf_counter() - t
        os.environ["YUWEN_STORE"] = store
        t = time.perf_counter()
        reader = open_store(index_dir)
        opened = time.perf_counter() - t
        keys = {row: i for i, row in enumerate(range(len(chunks)))} if name == "local" else None
        if name == "milvus":
            from rag.store_milvus import row_key

            keys = {row_key(c.id): i for i, c in enumerate(chunks)}
        out = {"build_s": round(build, 1), "open_s": round(opened, 2),
               "disk_mb": _du_mb(index_dir) if name == "local" else _du_mb(Path(spec[len("milvus-lite://"):]))
               if spec.startswith("milvus-lite://") else None}
        for mode in ("dense", "bm25", "hybrid") + (("server_rrf",) if name == "milvus" else ()):
            times, hits = [], 0
            for q, text, want in zip(queries, qtexts, exact):
                t = time.perf_counter()
                if mode == "dense":
                    rows, _ = reader.dense(q, 50)
                    hits += len({keys[int(r)] for r in rows[:10]} & want)
                elif mode == "bm25":
                    reader.lexical(text, 50)
                elif mode == "hybrid":
                    fuse([[int(r) for r in reader.dense(q, 50)[0]], [int(r) for r in reader.lexical(text, 50)[0]]])
                else:
                    reader.hybrid(q, text, 50)
                times.append(time.perf_counter() - t)
            out[mode] = {"p50_ms": _pct(times, 50), "p95_ms": _pct(times, 95)}
            if mode == "dense":
                out["recall@10"] = round(hits / (10 * len(queries)), 3)
        out["peak_rss_mb"] = _peak_mb()
        reader.close()
        results[name] = out
        print(name, json.dumps(out), flush=True)
    print(json.dumps(results))
    if not args.store:
        shutil.rmtree(tmp, ignore_errors=True)  # the folder this run made (a --store of the user's is left alone)
    return 0


if __name__ == "__main__":
    sys.exit(main())
