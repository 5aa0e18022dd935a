"""Peak memory and time of a build at 100k chunks: the whole-corpus build against the streamed one.

    .venv/bin/python benchmarks/build_memory.py [--chunks 100000] [--batch 512] [--modes whole,stream]

The corpus is synthetic (articles of real sentences recombined, about sixteen passages each, made
from a seed as they are asked for); the embedder is a stand-in that gives each text a
deterministic random unit vector of e5-small's 384 dimensions at once, so what is measured is
the builder (chunking, answer sentences, BM25, SQLite, FAISS, the vectors it holds), not a model.
Each mode runs in a child process of its own and reports its peak RSS (``ru_maxrss``):
``whole`` is ``build_index_from_articles`` (every article, chunk and vector in memory, as
``rag index`` does), ``stream`` is ``stream_articles`` (``rag index --stream``). Both use the
``auto`` FAISS kinds (HNSW past 50k vectors).
"""

from __future__ import annotations

import argparse
import hashlib
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
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
CHARS_PER_ARTICLE = 2000  # ~16 passages of the default 200-token budget (one token a character, overlaps)
CHUNKS_PER_ARTICLE = 16


class StandInEmbedder:
    """384-dimensional unit vectors from each text's hash; one token per character."""

    id = "benchmark/stand-in-384"
    dim = 384
    precision = "fp32"
    max_tokens = 512

    def count_tokens(self, text: str) -> int:
        return len(text) + 2

    def encode_passages(self, texts, progress=None) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
            v = np.random.default_rng(seed).standard_normal(self.dim, dtype=np.float32)
            out[i] = v / np.linalg.norm(v)
        if progress:
            progress(len(texts), len(texts))
        return out

    def encode_queries(self, texts) -> np.ndarray:
        return self.encode_passages(texts)


def articles(n: int, seed: int = 0):
    """``n`` synthetic articles, made one at a time."""
    from scale import base_sentences

    from rag.documents import Article

    sentences = base_sentences()
    rng = np.random.default_rng(seed)
    for j in range(n):
        parts, length = [], 0
        while length < CHARS_PER_ARTICLE:
            s = sentences[int(rng.integers(len(sentences)))]
            parts.append(s)
            length += len(s)
            if rng.random() < 0.15:
                parts.append("\n")
        yield Article(id=f"syn{j:06d}-01", file=f"syn{j // 1000:03d}.txt", title=f"合成新闻第{j}篇", text="".join(parts))


def run(mode: str, chunks: int, batch: int, folder: Path) -> dict:
    from rag.build_stream import stream_articles
    from rag.embedders import EMBEDDERS
    from rag.indexing import build_index_from_articles

    EMBEDDERS["stand-in"] = StandInEmbedder
    n = max(1, chunks // CHUNKS_PER_ARTICLE)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    if mode == "whole":
        m = build_index_from_articles(list(articles(n)), folder / "index", embedder="stand-in")
    else:
        m = stream_articles(articles(n), folder / "index", embedder="stand-in", batch=batch, model=StandInEmbedder(),
                            store="local")
    return {"mode": mode, "chunks": m.chunks, "sentences": m.sentences, "articles": m.articles,
            "vector_kind": m.vector_kind, "build_s": round(time.perf_counter() - t, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_before_build_mb": round(base, 1), "batch": batch if mode == "stream" else None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=int, default=100_000, help="about this many passages (articles of ~16)")
    p.add_argument("--batch", type=int, default=512, help="texts per batch of the streamed build")
    p.add_argument("--modes", default="whole,stream")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run(args.one, args.chunks, args.batch, args.folder)), flush=True)
        return 0
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory(prefix=f"yuwen-buildmem-{mode}-") as tmp:
            done = subprocess.run([sys.executable, __file__, "--one", mode, "--folder", tmp, "--chunks", str(args.chunks),
                                   "--batch", str(args.batch)], capture_output=True, text=True)
            if done.returncode != 0:
                print(json.dumps({"mode": mode, "error": done.stderr.strip().splitlines()[-3:]}), flush=True)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["loadavg"] = open("/proc/loadavg").read().split()[:3]
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
