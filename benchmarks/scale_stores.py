"""The local store and the Milvus store at 100k and 1M chunks, on the same synthetic chunks and queries.

    .venv/bin/python benchmarks/scale_stores.py --sizes 100000,1000000 [--backends local,milvus] [--queries 100]
    .venv/bin/python benchmarks/scale_stores.py --sizes 5000 --store milvus-lite:///tmp/s/scale.db

Chunks and vectors are made as in ``benchmarks/scale.py`` (real sentences recombined; unit
vectors clustered around real e5 embeddings when a CMRC benchmark index is cached, else random),
batch by batch from a seed, so every backend gets the same ones without any process holding them
all. Each (size, backend) runs in a child process of its own (its peak RSS is its own): the rows
go in through the streamed build's writers (``LocalStreamWriter`` / ``MilvusStreamWriter``, batches
of ``--batch`` chunks) with ``auto`` vector indexes (local: FAISS HNSW past 50k, parameters
``YUWEN_HNSW_*``; Milvus: HNSW past 50k, ``YUWEN_MILVUS_HNSW_*``), then are searched through the
Store protocol: build time, size on disk, peak RSS, query p50/p95 for dense (50 candidates), BM25
and hybrid (dense + BM25 fused by our RRF; for Milvus also by its RRFRanker), and recall@10 of
dense search against exact search (computed batch by batch as the chunks are made).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
PER_ARTICLE = 10
QUERY_POOL = 200  # --queries takes the first ones of these


def _synthetic(size: int, queries: int, batch: int):
    """(query vectors, query texts, dim, vector kind, batch generator) for ``size`` chunks, from seed ``size``."""
    from scale import base_sentences, real_vectors, synth_vectors

    from rag.lexical import tokenize

    rng = np.random.default_rng(size)
    sentences = base_sentences()
    sentence_tokens = [tokenize(s) for s in sentences]  # each sentence cut once, as scale.py does
    centers = real_vectors()
    kind = "clustered" if centers is not None else "random"
    dim = centers.shape[1] if centers is not None else 384
    qrng = np.random.default_rng(size + 1)  # queries of their own seed: the chunks do not depend on how many
    qvecs = synth_vectors(QUERY_POOL, dim, kind, centers, qrng)[:queries]
    qtexts = [sentences[int(qrng.integers(len(sentences)))] for _ in range(QUERY_POOL)][:queries]

    def batches():
        from rag.build_stream import Batch
        from rag.documents import Article, Chunk

        for start in range(0, size, batch):
            n = min(batch, size - start)
            texts, tokens = [], []
            for _ in range(n):
                parts, toks, length = [], [], 0
                while length < 180:
                    j = int(rng.integers(len(sentences)))
                    parts.append(sentences[j])
                    toks.extend(sentence_tokens[j])
                    length += len(sentences[j])
                texts.append("".join(parts))
                tokens.append(toks or ["\u2205"])
            vectors = synth_vectors(n, dim, kind, centers, rng)
            rows = range(start, start + n)
            chunks = [Chunk(id=f"s{i // PER_ARTICLE:07d}-01:{i % PER_ARTICLE:03d}", article_id=f"s{i // PER_ARTICLE:07d}-01",
                            title="", file="synthetic.txt", start=0, end=len(t), text=t, ordinal=i % PER_ARTICLE)
                      for i, t in zip(rows, texts)]
            firsts = sorted({c.article_id for c in chunks if c.ordinal == 0})
            articles = [Article(id=a, file="synthetic.txt", title="", text="") for a in firsts]
            # An article's chunks never straddle two batches: the batch size is a multiple of PER_ARTICLE.
            yield Batch(articles=articles, keys=firsts, chunks=chunks, vectors=vectors, tokens=tokens, units=[],
                        unit_vectors=np.zeros((0, dim), np.float32), pairs=[]), vectors

    return qvecs, qtexts, dim, kind, batches


def one(size: int, backend: str, spec: str, queries: int, batch: int, folder: Path) -> dict:
    """Build and query one store at one size (in this process)."""
    from scale import _du_mb, _peak_mb, _pct

    from rag.retrieve import fuse
    from rag.store import FORMAT_VERSION, Manifest
    from rag.stores import open_store
    from rag.vectors import choose_kind

    qvecs, qtexts, dim, kind, batches = _synthetic(size, queries, batch)
    index_dir = folder / backend
    index_dir.mkdir(parents=True, exist_ok=True)
    info = {"format": FORMAT_VERSION, "embedder": "synthetic", "embedder_id": "synthetic", "dim": dim, "chunking": {}}
    os.environ["YUWEN_STORE"] = "local" if backend == "local" else spec
    t = time.perf_counter()
    if backend == "local":
        from rag.store_stream import LocalStreamWriter

        writer = LocalStreamWriter(index_dir, info)
    else:
        from rag.store_milvus import MilvusStreamWriter

        writer = MilvusStreamWriter(index_dir, spec, info)
    best = [(np.full(10, -np.inf, np.float32), np.zeros(10, np.int64)) for _ in range(queries)]
    ids: list[str] = []
    exact_s = 0.0
    from tqdm import tqdm

    bar = tqdm(total=size, unit="chunk", desc=f"{backend} {size:,} build", mininterval=30, file=sys.stderr)
    for b, vectors in batches():
        writer.add(b)
        bar.update(len(b.chunks))
        t0 = time.perf_counter()
        scores = vectors @ qvecs.T  # exact top-10 of every query, kept as the chunks go by
        base = len(ids)
        for q in range(queries):
            s = np.concatenate([best[q][0], scores[:, q]])
            r = np.concatenate([best[q][1], np.arange(base, base + len(vectors))])
            top = np.argpartition(-s, 9)[:10]
            best[q] = (s[top], r[top])
        ids.extend(c.id for c in b.chunks)
        exact_s += time.perf_counter() - t0
    bar.close()
    print(f"{backend} {size:,}: writing done, finishing (indexes) ...", file=sys.stderr, flush=True)
    n_articles, n_chunks, _ = writer.counts()
    m = Manifest(format_version=FORMAT_VERSION, embedder="synthetic", embedder_id="synthetic", dim=dim, chunking={},
                 vector_kind=choose_kind(n_chunks), corpus={}, articles=n_articles, chunks=n_chunks,
                 built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    writer.finish(m)
    build = time.perf_counter() - t - exact_s
    exact = [{ids[int(r)] for r in best[q][1]} for q in range(queries)]
    t = time.perf_counter()
    reader = open_store(index_dir)
    opened = time.perf_counter() - t
    disk = _du_mb(index_dir) if backend == "local" else (_du_mb(Path(spec[len("milvus-lite://"):]))
                                                         if spec.startswith("milvus-lite://") else None)
    out = {"size": size, "backend": backend, "vectors": kind, "dim": dim, "index": getattr(reader, "_kind", m.vector_kind),
           "build_s": round(build, 1), "open_s": round(opened, 2), "disk_mb": disk}
    id_of = (lambda rows: [c.id for c in reader.chunks(rows)])
    print(f"{backend} {size:,}: built in {build:.0f} s, querying ...", file=sys.stderr, flush=True)
    for mode in ("dense", "bm25", "hybrid") + (("server_rrf",) if backend != "local" else ()):
        times, hits = [], 0
        for q, text, want in zip(qvecs, qtexts, exact):
            t = time.perf_counter()
            if mode == "dense":
                rows, _ = reader.dense(q, 50)
            elif mode == "bm25":
                reader.lexical(text, 50)
            elif mode == "hybrid":
                fuse([[int(r) for r in reader.dense(q, 50)[0]], [int(r) for r in reader.lexical(text, 50)[0]]])
            else:
                reader.hybrid(q, text, 50)
            times.append(time.perf_counter() - t)
            if mode == "dense":
                hits += len(set(id_of(rows[:10])) & want)
        out[mode] = {"p50_ms": _pct(times, 50), "p95_ms": _pct(times, 95)}
        if mode == "dense":
            out["recall@10"] = round(hits / (10 * len(qvecs)), 3)
    out["peak_rss_mb"] = _peak_mb()
    reader.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000", help="comma-separated chunk counts")
    p.add_argument("--size", type=int, default=None, help="one size (same as --sizes N)")
    p.add_argument("--backends", default="local,milvus")
    p.add_argument("--queries", type=int, default=100, help=f"queries per mode (at most {QUERY_POOL})")
    p.add_argument("--batch", type=int, default=5000, help="chunks per batch (a multiple of 10)")
    p.add_argument("--store", default=None, help="Milvus store (default: a milvus-lite file in a temporary folder)")
    p.add_argument("--out", type=Path, default=None, help="append each row as a JSON line to this file")
    p.add_argument("--one", nargs=3, metavar=("SIZE", "BACKEND", "FOLDER"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        size, backend, folder = int(args.one[0]), args.one[1], Path(args.one[2])
        spec = args.store or f"milvus-lite://{folder}/scale.db"
        print(json.dumps(one(size, backend, spec, args.queries, args.batch, folder)), flush=True)
        return 0
    sizes = [args.size] if args.size else [int(s) for s in args.sizes.split(",")]
    for size in sizes:
        for backend in args.backends.split(","):
            tmp = Path(tempfile.mkdtemp(prefix=f"yuwen-scale-{backend}-"))
            cmd = [sys.executable, __file__, "--one", str(size), backend, str(tmp), "--queries", str(args.queries),
                   "--batch", str(args.batch)] + (["--store", args.store] if args.store else [])
            started = time.time()
            # The child's stderr (its progress bar and phases) goes straight to ours.
            done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            line = done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else \
                json.dumps({"size": size, "backend": backend, "error": f"exit status {done.returncode} (its stderr above)"})
            row = json.loads(line)
            row["wall_s"] = round(time.time() - started, 1)
            row["loadavg"] = open("/proc/loadavg").read().split()[:3]
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")
            shutil.rmtree(tmp, ignore_errors=True)  # the folder this run made (a --store of the user's is left alone)
    return 0


if __name__ == "__main__":
    sys.exit(main())
