"""The floor of milvus-lite at a size: a collection of nothing but an id and a 384-d vector (no text,
no BM25, no sentence collection), HNSW as the Milvus store builds it past 50k rows, searched the way
the store searches. Whatever the full store costs at that size, it costs at least this.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/milvus_lite_floor.py --rows 1000000 --db /tmp/floor/m.db
    .venv/bin/python benchmarks/milvus_lite_floor.py --rows 1000000 --db /tmp/floor/m.db --reuse   # search only

Vectors are clustered (2 000 random centres plus noise, normalised); queries are rows plus noise.
Printed: insert, index and load times, dense p50/p95 for several (limit, ef), a primary-key query's
time, recall@10 against exact search (computed as the rows are made), peak RSS. The database file
is the caller's (``--db``); this script writes only there.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

DIM = 384
BATCH = 20_000


def _rows(n: int, seed: int = 0):
    """(ids, vectors) batches, the same for the same ``n``; and the 50 queries with their exact top 10."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((2000, DIM)).astype(np.float32)
    queries = None
    best_s = np.full((50, 10), -np.inf, np.float32)
    best_i = np.zeros((50, 10), np.int64)
    for start in range(0, n, BATCH):
        m = min(BATCH, n - start)
        v = centers[rng.integers(0, 2000, m)] + 0.6 * rng.standard_normal((m, DIM)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        if queries is None:
            queries = v[:50] + 0.3 * rng.standard_normal((50, DIM)).astype(np.float32)
            queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        s = np.concatenate([best_s, queries @ v.T], 1)
        i = np.concatenate([best_i, np.broadcast_to(np.arange(start, start + m), (50, m))], 1)
        top = np.argsort(-s, 1)[:, :10]
        best_s, best_i = np.take_along_axis(s, top, 1), np.take_along_axis(i, top, 1)
        yield np.arange(start, start + m), v, queries, best_i


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--db", type=Path, required=True, help="the milvus-lite file to write (or reuse)")
    p.add_argument("--reuse", action="store_true", help="search the collection a previous run left in --db")
    args = p.parse_args(argv)
    from pymilvus import DataType, MilvusClient
    from pymilvus.exceptions import MilvusException

    args.db.parent.mkdir(parents=True, exist_ok=True)
    client = MilvusClient(str(args.db))
    out: dict = {"rows": args.rows}
    batch = None
    if not args.reuse:
        if client.has_collection("floor"):
            client.drop_collection("floor")
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
        client.create_collection("floor", schema=schema)
        t = time.perf_counter()
        for batch in _rows(args.rows):
            client.insert("floor", [{"id": int(i), "v": row} for i, row in zip(batch[0], batch[1])])
        client.flush("floor")
        out["insert_s"] = round(time.perf_counter() - t, 1)
        ip = client.prepare_index_params()
        ip.add_index("v", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 80})
        t = time.perf_counter()
        try:
            client.create_index("floor", ip, timeout=None)
        except MilvusException as exc:  # the client's retry of a call that went on: wait for the first one
            if "already exists" not in str(exc):
                raise
        while client.describe_index("floor", "v").get("pending_index_rows", 0):
            time.sleep(5)
        out["index_s"] = round(time.perf_counter() - t, 1)
    else:
        *_, batch = _rows(args.rows)  # the same rows again, for the queries and their exact top 10
    queries, exact = batch[2], batch[3]
    t = time.perf_counter()
    client.load_collection("floor", timeout=None)
    out["load_s"] = round(time.perf_counter() - t, 1)
    for limit, ef in ((10, 16), (50, 64), (50, 200)):
        times, hit = [], 0
        for q, want in zip(queries, exact):
            t = time.perf_counter()
            found = client.search("floor", [q.tolist()], limit=limit, search_params={"metric_type": "IP", "params": {"ef": ef}})
            times.append(time.perf_counter() - t)
            hit += len({h["id"] for h in found[0][:10]} & set(want.tolist()))
        out[f"dense_limit{limit}_ef{ef}"] = {"p50_ms": round(1000 * float(np.median(times)), 1),
                                             "p95_ms": round(1000 * float(np.percentile(times, 95)), 1),
                                             "recall@10": round(hit / (10 * len(queries)), 3)}
    t = time.perf_counter()
    client.query("floor", filter="id < 5", output_fields=["id"])
    out["pk_query_ms"] = round(1000 * (time.perf_counter() - t), 1)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    client.close()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
