"""The Milvus store: the index's passages, answer sentences and articles in Milvus collections.

One family of collections per index (named after the index folder): ``<name>_passages`` (chunk id
as primary key, dense vector, the passage's words analysed by jieba into a BM25 sparse field,
article id, title, file, span), ``<name>_units`` (answer sentences with their vectors and the
passages holding them) and ``<name>_articles`` (each article's record, in pieces). The manifest
lives in the passages collection's properties, so an index built with another embedder or chunker
is refused exactly as the local one. Updates upsert and delete by primary key only what changed.
pymilvus is imported here only; it speaks the same API to milvus-lite (one file, embedded) and to
a Milvus server or cluster."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

import numpy as np

from .config import Settings
from .documents import Article, Chunk
from .lexical import EMPTY_TOKEN, Frequencies, bm25_tokens, document_frequencies, tokenize
from .store import FORMAT_VERSION, IndexDamagedError, IndexIncompatibleError, IndexMissingError, Manifest
from .stores import StoreError

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
PIECE_CHARS = 16_000  # an article record is stored in pieces of this many characters (VARCHAR holds 65 535 bytes)
BATCH = 512
MAX_CHUNKS_PER_UNIT = 32
_PASSAGE_FIELDS = {"id", "key", "article_id", "aord", "ordinal", "start", "end", "text", "words", "sparse", "dense",
                   "title", "file", "byline", "h"}
_ARTICLE_FIELDS = ["article_id", "ordinal", "part", "data"]
TOKEN_CHARS = 256  # a token's text is kept up to this many characters (its key is a digest of all of it)
TOKENS_PER_QUERY = 1000  # document frequencies read per query
DF_CACHE = 100_000  # tokens whose frequency is kept between questions (dropped all at once when full)
ARTICLES_PER_QUERY = 100  # article ids per query: each article is a few rows, well under Milvus's result window
ARTICLE_CACHE = 4096  # articles kept between questions (dropped all at once when full)
_CHUNK_FIELDS = ["key", "id", "article_id", "aord", "ordinal", "start", "end", "text", "title", "file", "byline"]


def _pymilvus():
    # milvus-lite serves the client over an in-process gRPC server whose C core and Python side
    # log keep-alive chatter and an unimplemented timestamp call (query_iterator falls back by
    # itself); our errors say what matters in one line.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    try:
        import pymilvus
    except ImportError:
        raise StoreError("The Milvus store needs pymilvus and milvus-lite: pip install 'yuwen[milvus]'.") from None
    # pymilvus logs every failed call with a traceback and every iterator with a warning; our
    # errors say it in one line.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    return pymilvus


def row_key(chunk_id: str) -> int:
    """The passage's row number in this store: a stable 63-bit hash of its chunk id."""
    return int.from_bytes(hashlib.blake2b(chunk_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big") >> 1


def _digest(*parts) -> str:
    return hashlib.blake2b(json.dumps(parts, ensure_ascii=False).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def collection_prefix(index_dir: Path) -> str:
    """``yuwen_<index folder name>``, in the characters Milvus allows in a collection name."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", Path(index_dir).resolve().name or "index")
    return f"yuwen_{name}"[:200]


ANALYZERS = {"yuwen": {"tokenizer": "standard"}, "jieba": {"tokenizer": "jieba"}}
K1, B = 1.5, 0.75  # bm25s's defaults (Lucene BM25), so both stores score alike


def lexical_text(text: str, analyzer: str = "yuwen") -> str:
    """What the BM25 field holds and what a question is searched with. ``yuwen``: our own jieba
    search tokens (stopwords and punctuation out, as the local BM25 counts them), each written as
    an ASCII code word so that Milvus's standard analyser keeps exactly those tokens. ``jieba``:
    the text itself, cut by Milvus's own jieba analyser."""
    if analyzer == "jieba":
        return text
    # A text without words keeps one placeholder token, as in the local BM25, so lengths agree.
    return " ".join(_code(t) for t in tokenize(text)) or _code(EMPTY_TOKEN)


def _code(token: str) -> str:
    return "w" + hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()


def _analyzer() -> str:
    name = Settings().milvus_analyzer
    if name not in ANALYZERS:
        raise StoreError(f"YUWEN_MILVUS_ANALYZER must be yuwen or jieba, not '{name}'.")
    return name


def connect(spec: str):
    """A MilvusClient for ``spec``, or StoreError in one line saying what failed."""
    pm = _pymilvus()
    if spec.startswith("milvus-lite://"):
        path = Path(spec[len("milvus-lite://"):]).expanduser()
        if path.suffix != ".db":
            raise StoreError(f"A milvus-lite store is a file ending in .db, not '{path}': use milvus-lite:///path/to/index.db.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create {path.parent}/ for the milvus-lite store ({exc.strerror or exc}).") from None
        uri, token = str(path.resolve()), ""
    else:
        uri, token = spec, Settings().milvus_token
    try:
        client = pm.MilvusClient(uri=uri, token=token, timeout=10)
        version = "" if spec.startswith("milvus-lite://") else str(client.get_server_version())
    except Exception as exc:  # pymilvus raises MilvusException, or a grpc error, for every way a connection fails
        raise StoreError(f"Cannot reach the Milvus store at {spec} ({_reason(exc)}): start it, or check the URI "
                         "and YUWEN_MILVUS_TOKEN.") from None
    if version and _release(version) < MIN_SERVER:
        # Seen with a real Milvus 2.3.5 standalone: it takes the connection and the collection,
        # then refuses the sparse BM25 index halfway through the first write.
        raise StoreError(f"The Milvus server at {spec} runs {version}; the store needs Milvus "
                         f"{'.'.join(map(str, MIN_SERVER))} or newer (BM25 functions and sparse vectors).")
    return client


MIN_SERVER = (2, 5)


def _release(version: str) -> tuple[int, ...]:
    """(2, 3) of 'v2.3.5-lite'; an unreadable version counts as new enough (the server decides)."""
    m = re.match(r"v?(\d+)\.(\d+)", version.strip())
    return (int(m.group(1)), int(m.group(2))) if m else (99,)


def _reason(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return re.sub(r"\s+", " ", str(text)).strip()[:160] or type(exc).__name__


class _Names:
    def __init__(self, index_dir: Path):
        p = collection_prefix(index_dir)
        self.passages, self.units, self.articles = f"{p}_passages", f"{p}_units", f"{p}_articles"
        self.df = f"{p}_df"

    def all(self) -> tuple[str, str, str]:
        """The collections every index has (one written before the stored frequencies lacks ``df``)."""
        return self.passages, self.units, self.articles

    def every(self) -> tuple[str, str, str, str]:
        """The collections this version writes."""
        return self.passages, self.units, self.articles, self.df


def _vector_index(n: int, dim: int) -> tuple[str, dict]:
    s = Settings()
    kind = s.milvus_index.upper()
    if kind == "AUTO":
        kind = "FLAT" if n <= 50_000 else "HNSW"
    if kind == "HNSW":
        return kind, {"M": s.milvus_hnsw_m, "efConstruction": 80}
    if kind == "IVF_FLAT":
        return kind, {"nlist": max(16, min(65536, int(4 * np.sqrt(max(n, 1)))))}
    if kind == "FLAT":
        return kind, {}
    raise StoreError(f"YUWEN_MILVUS_INDEX must be auto, FLAT, HNSW or IVF_FLAT, not '{s.milvus_index}'.")


def _search_params(kind: str, n: int) -> dict:
    if kind == "HNSW":
        return {"metric_type": "IP", "params": {"ef": max(Settings().milvus_hnsw_ef, n)}}
    if kind == "IVF_FLAT":
        return {"metric_type": "IP", "params": {"nprobe": 32}}
    return {"metric_type": "IP"}


def _index_params(client, names: _Names, dim: int, n: int) -> dict[str, object]:
    """The index parameters of each collection for ``n`` passages."""
    kind, params = _vector_index(n, dim)
    out = {}
    ip = client.prepare_index_params()
    ip.add_index(field_name="dense", index_type=kind, metric_type="IP", params=params)
    ip.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                 params={"bm25_k1": K1, "bm25_b": B})
    out[names.passages] = ip
    ip = client.prepare_index_params()
    ip.add_index(field_name="dense", index_type=kind, metric_type="IP", params=params)
    out[names.units] = ip
    for name in (names.articles, names.df):
        ip = client.prepare_index_params()
        ip.add_index(field_name="v", index_type="FLAT", metric_type="L2")
        out[name] = ip
    return out


def _create(client, names: _Names, dim: int, n: int, indexed: bool = True) -> None:
    """The four collections, empty; without their indexes unless ``indexed`` (a streamed build
    creates them once every row is in, when the size that chooses them is known)."""
    pm = _pymilvus()
    dt = pm.DataType
    index_params = _index_params(client, names, dim, n) if indexed else {}
    analyzer = _analyzer()
    props = _new_props(n, dim)

    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", dt.VARCHAR, is_primary=True, max_length=512)
    s.add_field("key", dt.INT64)
    s.add_field("article_id", dt.VARCHAR, max_length=512)
    s.add_field("aord", dt.INT64)
    s.add_field("ordinal", dt.INT64)
    s.add_field("start", dt.INT64)
    s.add_field("end", dt.INT64)
    s.add_field("text", dt.VARCHAR, max_length=65535)
    s.add_field("words", dt.VARCHAR, max_length=65535, enable_analyzer=True,
                analyzer_params=ANALYZERS[analyzer])
    s.add_field("sparse", dt.SPARSE_FLOAT_VECTOR)
    s.add_field("dense", dt.FLOAT_VECTOR, dim=dim)
    s.add_field("title", dt.VARCHAR, max_length=4096)
    s.add_field("file", dt.VARCHAR, max_length=4096)
    s.add_field("byline", dt.VARCHAR, max_length=4096)
    s.add_field("h", dt.VARCHAR, max_length=64)
    s.add_function(pm.Function(name="words_bm25", function_type=pm.FunctionType.BM25, input_field_names=["words"],
                               output_field_names=["sparse"]))
    client.create_collection(names.passages, schema=s, index_params=index_params.get(names.passages), properties=props)

    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", dt.VARCHAR, is_primary=True, max_length=600)
    s.add_field("article_id", dt.VARCHAR, max_length=512)
    s.add_field("ord", dt.INT64)
    s.add_field("start", dt.INT64)
    s.add_field("end", dt.INT64)
    s.add_field("chunks", dt.ARRAY, element_type=dt.INT64, max_capacity=MAX_CHUNKS_PER_UNIT)
    s.add_field("dense", dt.FLOAT_VECTOR, dim=dim)
    s.add_field("h", dt.VARCHAR, max_length=64)
    client.create_collection(names.units, schema=s, index_params=index_params.get(names.units), properties=props)

    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", dt.VARCHAR, is_primary=True, max_length=600)
    s.add_field("article_id", dt.VARCHAR, max_length=512)
    s.add_field("ordinal", dt.INT64)
    s.add_field("part", dt.INT64)
    s.add_field("data", dt.VARCHAR, max_length=65535)
    s.add_field("h", dt.VARCHAR, max_length=64)
    s.add_field("v", dt.FLOAT_VECTOR, dim=2)  # Milvus wants a vector in every collection; unused
    client.create_collection(names.articles, schema=s, index_params=index_params.get(names.articles), properties=props)
    _create_df(client, names, dim, n, indexed)


def _new_props(n: int, dim: int) -> dict[str, str]:
    return {"yuwen.schema": SCHEMA_VERSION, "yuwen.state": "empty", "yuwen.vector_index": _vector_index(n, dim)[0],
            "yuwen.analyzer": _analyzer()}


def _create_df(client, names: _Names, dim: int, n: int, indexed: bool = True) -> None:
    """The collection of BM25 document frequencies, empty: one row per token of the passages'
    vocabulary. A collection of its own (not JSON pieces like the articles) so that a question
    reads only its own words' rows by primary key, however large the vocabulary, and an update
    upserts only the frequencies that changed. The key is a digest of the token: a token may be
    any length and any characters, the key fits a primary key and a filter without escaping."""
    dt = _pymilvus().DataType
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", dt.VARCHAR, is_primary=True, max_length=64)
    s.add_field("token", dt.VARCHAR, max_length=4 * TOKEN_CHARS)  # for reading by eye; never looked up
    s.add_field("df", dt.INT64)
    s.add_field("h", dt.VARCHAR, max_length=64)
    s.add_field("v", dt.FLOAT_VECTOR, dim=2)  # Milvus wants a vector in every collection; unused
    index_params = _index_params(client, names, dim, n)[names.df] if indexed else None
    client.create_collection(names.df, schema=s, index_params=index_params, properties=_new_props(n, dim))


def df_key(token: str) -> str:
    """The row key of ``token`` in the document-frequency collection."""
    return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _df_rows(df: dict[str, int]) -> list[dict]:
    return [{"id": df_key(t), "token": t[:TOKEN_CHARS], "df": int(n), "h": str(int(n)), "v": [0.0, 0.0]}
            for t, n in df.items() if n > 0]


def _props(client, name: str) -> dict:
    return dict(client.describe_collection(name).get("properties") or {})


def _set_props(client, name: str, **props: str) -> None:
    client.alter_collection_properties(name, properties={f"yuwen.{k}": v for k, v in props.items()})


def _ours(client, name: str) -> bool:
    return _props(client, name).get("yuwen.schema") is not None


def _dense_dim(client, name: str) -> int | None:
    for f in client.describe_collection(name).get("fields", []):
        if f.get("name") == "dense":
            return int((f.get("params") or {}).get("dim", 0)) or None
    return None


def _schema_problem(client, names: _Names, spec: str) -> str | None:
    """Why the collections are not the ones this version writes, or None."""
    for name in names.all():
        if not client.has_collection(name):
            return f"collection {name} is missing"
        props = _props(client, name)
        if props.get("yuwen.schema") != SCHEMA_VERSION:
            return f"collection {name} has schema {props.get('yuwen.schema') or 'of another program'}, this version writes {SCHEMA_VERSION}"
    fields = {f.get("name") for f in client.describe_collection(names.passages).get("fields", [])}
    if fields != _PASSAGE_FIELDS:
        return f"collection {names.passages} has fields {sorted(fields)}"
    return None


def _scan(client, name: str, fields: list[str], filter: str = "") -> list[dict]:
    """Every row of ``name`` (or those matching ``filter``), in batches."""
    out: list[dict] = []
    it = client.query_iterator(name, batch_size=2000, filter=filter, output_fields=fields)
    try:
        while True:
            batch = it.next()
            if not batch:
                break
            out.extend(batch)
    finally:
        it.close()
    return out


def _sync(client, name: str, rows: list[dict]) -> tuple[int, int]:
    """Make ``rows`` (with ``id`` and content digest ``h``) the content of ``name``: delete what is
    gone, upsert what is new or changed. Returns (upserted, deleted)."""
    stored = {r["id"]: r["h"] for r in _scan(client, name, ["id", "h"])}
    wanted = {r["id"] for r in rows}
    gone = [i for i in stored if i not in wanted]
    for i in range(0, len(gone), BATCH):
        client.delete(name, ids=gone[i:i + BATCH])
    todo = [r for r in rows if stored.get(r["id"]) != r["h"]]
    for i in range(0, len(todo), BATCH):
        if stored:
            client.upsert(name, todo[i:i + BATCH])
        else:  # an empty collection needs no look-up per key
            _insert(client, name, todo[i:i + BATCH])
    return len(todo), len(gone)


def _insert(client, name: str, rows: list[dict], schema: dict | None = None) -> None:
    """Insert ``rows`` column by column: pymilvus's row insert checks every string character by
    character in Python (~3 ms a passage), its column insert once per value (measured: 5 000
    passages in 5.7 s against 15 s). Falls back to the public row insert if the client's inner
    API is not the one this was written against (pymilvus 3.0)."""
    if not rows:
        return
    try:
        conn = client._get_connection()
        schema = schema or client.describe_collection(name)
        types = {f["name"]: f["type"] for f in schema["fields"]}
        dt = _pymilvus().DataType
        entities = []
        for f in rows[0]:
            values = [r[f] for r in rows]
            if types[f] == dt.FLOAT_VECTOR:
                values = np.asarray(values, dtype=np.float32)
            entities.append({"name": f, "type": types[f], "values": values})
        conn.batch_insert(name, entities, schema=schema, context=client._generate_call_context())
    except (AttributeError, TypeError, KeyError):
        log.debug("column insert unavailable: inserting rows", exc_info=True)
        client.insert(name, rows)


def write_milvus(index_dir: Path, spec: str, manifest: Manifest, articles: list[Article], chunks: list[Chunk],
                 vectors: np.ndarray, units: list[tuple[str, int, int]], sentence_vectors: np.ndarray | None,
                 sentence_chunks: list[tuple[int, int]]) -> None:
    """Bring the collections of ``index_dir`` to exactly these articles, passages and sentences.

    The state property is ``writing`` until every row and the manifest are in, so a reader never
    takes a half-written update for a sound index (it is refused, and the next `rag index` redoes it)."""
    names = _Names(index_dir)
    client = connect(spec)
    try:
        try:
            existing = [n for n in names.every() if client.has_collection(n)]
            foreign = [n for n in existing if not _ours(client, n)]
            if foreign:
                raise StoreError(f"The Milvus store {spec} holds a collection {foreign[0]} that yuwen did not create; "
                                 "it is left alone: index into another folder name (--index).")
            if not existing or _rewrite_needed(client, names, spec, manifest.dim, len(chunks)):
                for n in existing:
                    client.drop_collection(n)
                _create(client, names, manifest.dim, len(chunks))
            elif not client.has_collection(names.df):  # written before the frequencies were stored
                _create_df(client, names, manifest.dim, len(chunks))
            for n in names.every():
                _set_props(client, n, state="writing")
            analyzer = _props(client, names.passages).get("yuwen.analyzer", "jieba")
            ordinal = {a.id: i for i, a in enumerate(articles)}
            tokens = [bm25_tokens(c.embed_text()) for c in chunks]
            p_rows, u_rows, a_rows = _rows(articles, chunks, vectors, units, sentence_vectors, sentence_chunks, ordinal,
                                           0, analyzer, manifest.dim, tokens)
            df_rows = _df_rows(document_frequencies(tokens))
            done = {n: _sync(client, n, rows) for n, rows in ((names.articles, a_rows), (names.passages, p_rows),
                                                               (names.units, u_rows), (names.df, df_rows))}
            _seal(client, names, manifest, {"passages": len(p_rows), "units": len(u_rows), "articles": len(articles)})
            log.info("milvus store %s updated: %s", spec, {n: f"+{u} -{d}" for n, (u, d) in done.items()})
        except StoreError:
            raise
        except Exception as exc:
            if type(exc).__module__.startswith(("pymilvus", "grpc")):
                raise StoreError(f"Writing to the Milvus store {spec} failed ({_reason(exc)}); run the command again "
                                 "(an interrupted update is redone).") from None
            raise
    finally:
        client.close()


def _rewrite_needed(client, names: _Names, spec: str, dim: int, n: int) -> bool:
    """Whether the collections must be dropped and written afresh: another schema, vector size,
    vector index or analyser than this build's."""
    props = _props(client, names.passages) if client.has_collection(names.passages) else {}
    return bool(_schema_problem(client, names, spec)) or _dense_dim(client, names.passages) != dim or \
        props.get("yuwen.vector_index") != _vector_index(n, dim)[0] or props.get("yuwen.analyzer") != _analyzer()


def _rows(articles: list[Article], chunks: list[Chunk], vectors: np.ndarray, units: list[tuple[str, int, int]],
          sentence_vectors: np.ndarray | None, sentence_chunks: list[tuple[int, int]], ordinal: dict[str, int],
          first_unit: int, analyzer: str, dim: int, tokens: list[list[str]] | None = None
          ) -> tuple[list[dict], list[dict], list[dict]]:
    """The rows of the passages, units and articles collections for these records. ``sentence_chunks``
    pairs positions in ``units`` and ``chunks``; ``first_unit`` is the row of ``units[0]``; ``tokens``,
    when given, are the passages' BM25 tokens (as ``bm25_tokens`` gives them)."""
    keys = [row_key(c.id) for c in chunks]
    p_rows = []
    for i, (c, key, v) in enumerate(zip(chunks, keys, vectors)):
        vec = np.asarray(v, dtype=np.float32)
        if tokens is not None and analyzer == "yuwen":
            words = " ".join(_code(t) for t in tokens[i]) or _code(EMPTY_TOKEN)
        else:
            words = lexical_text(c.embed_text(), analyzer)
        p_rows.append({
            "id": c.id, "key": key, "article_id": c.article_id, "aord": ordinal[c.article_id], "ordinal": c.ordinal,
            "start": c.start, "end": c.end, "text": c.text, "words": words,
            "dense": vec.tolist(), "title": c.title, "file": c.file, "byline": c.byline or "",
            "h": _digest(c.id, c.article_id, ordinal[c.article_id], c.ordinal, c.start, c.end, c.text, c.title, c.file,
                         c.byline, vec.tobytes().hex()),
        })
    owners: dict[int, list[int]] = {}
    for srow, crow in sentence_chunks:
        owners.setdefault(srow, []).append(keys[crow])
    u_rows = []
    svecs = sentence_vectors if sentence_vectors is not None else np.zeros((0, dim), np.float32)
    for j, ((aid, s, e), v) in enumerate(zip(units, svecs)):
        i = first_unit + j
        vec = np.asarray(v, dtype=np.float32)
        held = owners.get(j, [])[:MAX_CHUNKS_PER_UNIT]
        u_rows.append({"id": f"{aid}:{s}:{e}", "article_id": aid, "ord": i, "start": s, "end": e, "chunks": held,
                       "dense": vec.tolist(), "h": _digest(i, held, vec.tobytes().hex())})
    a_rows = []
    for a in articles:
        i = ordinal[a.id]
        data = json.dumps(asdict(a), ensure_ascii=False)
        pieces = [data[j:j + PIECE_CHARS] for j in range(0, len(data), PIECE_CHARS)] or [""]
        for part, piece in enumerate(pieces):
            a_rows.append({"id": f"{a.id}#{part}", "article_id": a.id, "ordinal": i, "part": part, "data": piece,
                           "h": _digest(i, piece), "v": [0.0, 0.0]})
    return p_rows, u_rows, a_rows


def _seal(client, names: _Names, manifest: Manifest, counts: dict[str, int]) -> None:
    """Flush, record the manifest and a new generation, and mark every collection ready. The
    frequencies are stamped with the generation and passage count they were counted for: an
    update by a version that does not write them leaves them visibly out of date."""
    for n in names.every():
        client.flush(n)
    manifest.files = {k: [v, ""] for k, v in counts.items()}
    generation = str(time.time_ns())
    _set_props(client, names.df, generation=generation, documents=str(counts["passages"]))
    _set_props(client, names.passages, manifest=json.dumps(asdict(manifest), ensure_ascii=False), generation=generation)
    for n in names.every():
        _set_props(client, n, state="ready")


def _create_indexes(client, name: str, params) -> None:
    """Build each index of ``params`` on ``name`` that is not there yet. Building HNSW over a million
    rows takes minutes: the call gets no client timeout, and an index a timed-out, retried or
    resumed call already made is kept (pymilvus retries, and the retry is refused as existing)."""
    for p in params:
        field = p.field_name
        if client.list_indexes(name, field_name=field):
            continue
        one = client.prepare_index_params()
        one.append(p)  # IndexParams is a list of IndexParam
        try:
            client.create_index(name, one, timeout=None)
        except Exception as exc:
            if "already exist" not in _reason(exc):
                raise


class MilvusStreamWriter:
    """Appends batches to the collections of ``index_dir`` in ``spec`` (the streamed build of
    build_stream.py). A fresh build drops this index's collections and creates them without their
    vector indexes; those are built at the end, for the size then known. What is done is recorded
    per article in a journal beside the index folder's lock (``milvus-build.journal``, SQLite):
    a killed build resumes from it, after deleting the rows of any batch it had not recorded.
    The journal also sums the BM25 document frequencies of what it records; :meth:`finish` writes
    them. Until then the collections are marked ``writing`` and readers refuse them."""

    def __init__(self, index_dir: Path, spec: str, info: dict):
        import sqlite3

        self.index_dir, self.spec, self.dim = Path(index_dir), spec, int(info["dim"])
        self.names = _Names(index_dir)
        # "frequencies": a journal of a version that did not count them is not resumed (it lacks their sums).
        self.info = json.dumps({**info, "collections": self.names.passages, "frequencies": "journal"}, sort_keys=True)
        self.journal = self.index_dir / "milvus-build.journal"
        self._schemas: dict[str, dict] = {}
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self.client = connect(spec)
        try:
            self.resumed = self._resumable()
            if not self.resumed:
                self.journal.unlink(missing_ok=True)
                foreign = [n for n in self.names.every() if self.client.has_collection(n) and not _ours(self.client, n)]
                if foreign:
                    raise StoreError(f"The Milvus store {spec} holds a collection {foreign[0]} that yuwen did not create; "
                                     "it is left alone: index into another folder name (--index).")
                for n in self.names.every():
                    if self.client.has_collection(n):
                        self.client.drop_collection(n)
                _create(self.client, self.names, self.dim, 0, indexed=False)
                for n in self.names.every():
                    _set_props(self.client, n, state="writing")
            self.db = sqlite3.connect(self.journal)
            self.db.executescript("CREATE TABLE IF NOT EXISTS build_info (key TEXT PRIMARY KEY, value TEXT);"
                                  "CREATE TABLE IF NOT EXISTS build_progress (ordinal INTEGER PRIMARY KEY, "
                                  "article_id TEXT, key TEXT, chunk_end INTEGER, sentence_end INTEGER);"
                                  "CREATE TABLE IF NOT EXISTS build_df (token TEXT PRIMARY KEY, df INTEGER NOT NULL);")
            self.db.execute("INSERT OR REPLACE INTO build_info VALUES ('info', ?)", (self.info,))
            self.db.commit()
            self.analyzer = _props(self.client, self.names.passages).get("yuwen.analyzer", "yuwen")
            if self.resumed:
                self.keep(len(self.done()), force=True)  # rows of a batch written but not recorded go
        except BaseException as exc:
            self.client.close()
            if type(exc).__module__.startswith(("pymilvus", "grpc")):
                raise StoreError(f"Writing to the Milvus store {spec} failed ({_reason(exc)}).") from None
            raise

    def _resumable(self) -> bool:
        import sqlite3

        if not self.journal.is_file():
            return False
        try:
            db = sqlite3.connect(self.journal)
            try:
                row = db.execute("SELECT value FROM build_info WHERE key = 'info'").fetchone()
            finally:
                db.close()
        except sqlite3.DatabaseError:
            return False
        if not row or row[0] != self.info or _schema_problem(self.client, self.names, self.spec) or \
                not self.client.has_collection(self.names.df):
            return False
        return all(_props(self.client, n).get("yuwen.state") == "writing" for n in self.names.every())

    def _ends(self) -> tuple[int, int, int]:
        row = self.db.execute("SELECT ordinal, chunk_end, sentence_end FROM build_progress ORDER BY ordinal DESC "
                              "LIMIT 1").fetchone()
        return (row[0] + 1, row[1], row[2]) if row else (0, 0, 0)

    def done(self) -> list[tuple[str, str]]:
        return [(a, k) for a, k in self.db.execute("SELECT article_id, key FROM build_progress ORDER BY ordinal")]

    def counts(self) -> tuple[int, int, int]:
        return self._ends()

    def keep(self, k: int, force: bool = False) -> None:
        """Forget every article after the first ``k``, with its rows in the collections and its
        share of the document frequencies."""
        n, _, _ = self._ends()
        if k >= n and not force:
            return
        row = self.db.execute("SELECT sentence_end FROM build_progress WHERE ordinal = ?", (k - 1,)).fetchone() \
            if k else (0,)
        dropped = self._frequencies_of(k, n)
        # The journal first: killed before the deletes, the next run's resume deletes the rows it
        # no longer records; the other way round it would take articles without rows for done.
        with self.db:
            self.db.execute("DELETE FROM build_progress WHERE ordinal >= ?", (k,))
            self.db.executemany("UPDATE build_df SET df = df - ? WHERE token = ?", [(c, t) for t, c in dropped.items()])
            self.db.execute("DELETE FROM build_df WHERE df <= 0")
        self.client.delete(self.names.passages, filter=f"aord >= {int(k)}")
        self.client.delete(self.names.articles, filter=f"ordinal >= {int(k)}")
        self.client.delete(self.names.units, filter=f"ord >= {int(row[0])}")

    def _frequencies_of(self, k: int, n: int) -> Counter:
        """The document frequencies that the recorded articles ``k`` to ``n - 1`` added."""
        if k >= n:
            return Counter()
        rows = _scan(self.client, self.names.passages, _CHUNK_FIELDS, filter=f"aord >= {int(k)} and aord < {int(n)}")
        return document_frequencies(bm25_tokens(_chunk(r).embed_text()) for r in rows)

    def add(self, batch) -> None:
        """Insert one batch (a build_stream.Batch); it counts as done once this returns."""
        n, ce, se = self._ends()
        ordinal = {a.id: n + i for i, a in enumerate(batch.articles)}
        p_rows, u_rows, a_rows = _rows(batch.articles, batch.chunks, batch.vectors, batch.units, batch.unit_vectors,
                                       batch.pairs, ordinal, se, self.analyzer, self.dim, batch.tokens)
        try:
            for name, rows in ((self.names.articles, a_rows), (self.names.passages, p_rows), (self.names.units, u_rows)):
                if name not in self._schemas:
                    self._schemas[name] = self.client.describe_collection(name)
                for i in range(0, len(rows), 4 * BATCH):
                    _insert(self.client, name, rows[i:i + 4 * BATCH], self._schemas[name])
        except Exception as exc:
            if type(exc).__module__.startswith(("pymilvus", "grpc")):
                raise StoreError(f"Writing to the Milvus store {self.spec} failed ({_reason(exc)}); run the command "
                                 "again (the build resumes).") from None
            raise
        c_end, s_end, progress = ce, se, []
        per_c: dict[str, int] = {}
        per_u: dict[str, int] = {}
        for c in batch.chunks:
            per_c[c.article_id] = per_c.get(c.article_id, 0) + 1
        for aid, _, _ in batch.units:
            per_u[aid] = per_u.get(aid, 0) + 1
        for a, key in zip(batch.articles, batch.keys):
            c_end += per_c.get(a.id, 0)
            s_end += per_u.get(a.id, 0)
            progress.append((ordinal[a.id], a.id, key, c_end, s_end))
        with self.db:  # what is recorded is counted, in one transaction
            self.db.executemany("INSERT INTO build_progress VALUES (?,?,?,?,?)", progress)
            self.db.executemany("INSERT INTO build_df VALUES (?, ?) ON CONFLICT(token) DO UPDATE SET df = df + excluded.df",
                                document_frequencies(batch.tokens).items())

    def finish(self, manifest: Manifest) -> None:
        """Build the vector and BM25 indexes for the size now known, record the manifest, mark ready."""
        n, ce, se = self._ends()
        try:
            for name in self.names.all():
                self.client.flush(name)
            params = _index_params(self.client, self.names, self.dim, ce)
            for name in self.names.every():
                _create_indexes(self.client, name, params[name])
            for name in self.names.every():
                _set_props(self.client, name, vector_index=_vector_index(ce, self.dim)[0])
            self._write_frequencies()
            _seal(self.client, self.names, manifest, {"passages": ce, "units": se, "articles": n})
        except Exception as exc:
            if type(exc).__module__.startswith(("pymilvus", "grpc")):
                raise StoreError(f"Writing to the Milvus store {self.spec} failed ({_reason(exc)}); run the command "
                                 "again.") from None
            raise
        self.db.close()
        self.journal.unlink(missing_ok=True)
        self.client.close()

    def _write_frequencies(self) -> None:
        """The journal's document frequencies into their collection (emptied first: a finish that
        was killed may have written some)."""
        self.client.delete(self.names.df, filter='id != ""')
        schema = self.client.describe_collection(self.names.df)
        cursor = self.db.execute("SELECT token, df FROM build_df WHERE df > 0")
        while batch := cursor.fetchmany(4 * BATCH):
            _insert(self.client, self.names.df, _df_rows(dict(batch)), schema)

    def close(self) -> None:
        try:
            self.db.close()
        except Exception:
            pass
        try:
            self.client.close()
        except Exception:
            log.debug("closing the Milvus client failed", exc_info=True)


class MilvusStore:
    """Read access to an index held in Milvus (the Store protocol of stores.py)."""

    verified_fully = False
    integrity = "passage count checked on open (`rag status --check` checks every collection)"

    def __init__(self, index_dir: Path, spec: str, client, names: _Names, manifest: Manifest, props: dict,
                 df_documents: int | None = None):
        self.index_dir, self.spec, self._client, self._names = index_dir, spec, client, names
        self.manifest = manifest
        self._generation = props.get("yuwen.generation", "")
        self.build_name = f"{names.passages.removesuffix('_passages')} @ {spec}"
        self._kind = props.get("yuwen.vector_index", "FLAT")
        self._analyzer = props.get("yuwen.analyzer", "jieba")  # collections written before the choice: jieba
        # Settings that only a rewrite of the collections applies (``rag index`` then rewrites them).
        # ``df_documents`` is None when no document frequencies were stored for these passages.
        self._df_documents = df_documents
        self.stale_layout = self._analyzer != Settings().milvus_analyzer or \
            self._kind != _vector_index(manifest.chunks, manifest.dim)[0] or df_documents is None
        self.server_fusion = Settings().milvus_fusion == "server"  # hybrid ranked by Milvus's RRFRanker, not ours
        self._lock = threading.Lock()
        self._next_check = time.monotonic() + 1.0
        self._articles: dict[str, Article] | None = None
        self._article_cache: dict[str, Article] = {}
        self._all: list[dict] | None = None
        self._units: list[dict] | None = None
        self._unit_cache: dict[str, dict[tuple[int, int], np.ndarray]] = {}
        self._bm25 = None

    @classmethod
    def open(cls, index_dir: Path, spec: str) -> "MilvusStore":
        """The index of ``index_dir`` in the store ``spec``; IndexMissingError, IndexIncompatibleError
        or StoreError in one line when it cannot be searched."""
        if Settings().milvus_fusion not in ("client", "server"):
            raise StoreError(f"YUWEN_MILVUS_FUSION must be client or server, not '{Settings().milvus_fusion}'.")
        names = _Names(index_dir)
        client = connect(spec)
        try:
            rebuild = f"build it with `rag index --index {index_dir} --store {spec}`"
            if not client.has_collection(names.passages):
                raise IndexMissingError(f"No index in the Milvus store {spec} (no collection {names.passages}): {rebuild}.")
            problem = _schema_problem(client, names, spec)
            if problem:
                raise IndexIncompatibleError(f"The Milvus store {spec} does not hold a yuwen index of this version "
                                             f"({problem}); rebuild it with `rag index --full --index {index_dir} --store {spec}`.")
            props = _props(client, names.passages)
            if any(_props(client, n).get("yuwen.state") != "ready" for n in names.all()):
                raise IndexDamagedError(f"index damaged: the last update of {names.passages} in {spec} did not finish; "
                                        f"run `rag index --index {index_dir} --store {spec}` again.")
            try:
                manifest = Manifest.from_json(props["yuwen.manifest"])
            except (KeyError, ValueError, TypeError):
                raise IndexDamagedError(f"index damaged: {names.passages} in {spec} has no readable manifest; "
                                        f"rebuild it with `rag index --full --store {spec}`.") from None
            if manifest.format_version != FORMAT_VERSION:
                raise IndexIncompatibleError(
                    f"The index in {spec} has format version {manifest.format_version}; this version of yuwen reads "
                    f"version {FORMAT_VERSION}. Rebuild it: `rag index --full --store {spec}`.")
            df_documents = _stored_documents(client, names, props, manifest)
            for n in names.all() + ((names.df,) if df_documents is not None else ()):
                client.load_collection(n, timeout=None)  # a million rows load for minutes, not the client's 10 s
            stored = int(client.query(names.passages, filter="", output_fields=["count(*)"])[0]["count(*)"])
            if stored != manifest.chunks:
                raise IndexDamagedError(f"index damaged: {names.passages} in {spec} holds {stored} passages, its manifest "
                                        f"{manifest.chunks}; rebuild it with `rag index --full --index {index_dir} --store {spec}`.")
        except BaseException as exc:
            client.close()
            if type(exc).__module__.startswith(("pymilvus", "grpc")):
                raise StoreError(f"The Milvus store {spec} cannot be read ({_reason(exc)}).") from None
            raise
        return cls(index_dir, spec, client, names, manifest, props, df_documents)

    # -- searching
    def dense(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        found = self._search(self._names.passages, [np.asarray(query, np.float32).tolist()], "dense", n,
                             _search_params(self._kind, n), ["key"])
        return (np.array([h["entity"]["key"] for h in found], dtype=np.int64),
                np.array([h["distance"] for h in found], dtype=np.float32))

    def lexical(self, question: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        if not tokenize(question):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        words = lexical_text(question, self._analyzer)
        found = self._search(self._names.passages, [words], "sparse", n, {"metric_type": "BM25"}, ["key"])
        # milvus-lite gives BM25 scores as negated distances (best first either way), and with
        # the factor (k1 + 1) that bm25s leaves out: divided, they are the local store's scores.
        scores = np.array([abs(h["distance"]) / (K1 + 1) for h in found], dtype=np.float32)
        keys = np.array([h["entity"]["key"] for h in found], dtype=np.int64)
        keep = scores > 0
        return keys[keep], scores[keep]

    def hybrid(self, query: np.ndarray, question: str, n: int, ranker: str = "rrf") -> list[tuple[int, float]]:
        """Dense and BM25 fused by Milvus itself (RRFRanker(60), or WeightedRanker(0.5, 0.5)), best first."""
        pm = _pymilvus()
        reqs = [pm.AnnSearchRequest(data=[np.asarray(query, np.float32).tolist()], anns_field="dense",
                                    param=_search_params(self._kind, n), limit=n)]
        if tokenize(question):
            words = lexical_text(question, self._analyzer)
            reqs.append(pm.AnnSearchRequest(data=[words], anns_field="sparse", param={"metric_type": "BM25"}, limit=n))
        fuse = pm.RRFRanker(60) if ranker == "rrf" else pm.WeightedRanker(*([0.5] * len(reqs)))
        with self._lock:
            found = self._call(lambda: self._client.hybrid_search(self._names.passages, reqs=reqs, ranker=fuse, limit=n,
                                                                  output_fields=["key"]))
        return [(int(h["entity"]["key"]), float(h["distance"])) for h in (found[0] if found else [])]

    def sentence_rows(self, query: np.ndarray, n: int) -> list[int]:
        found = self._search(self._names.units, [np.asarray(query, np.float32).tolist()], "dense", 4 * n,
                             _search_params(self._kind, 4 * n), ["chunks"])
        ranked: list[int] = []
        seen: set[int] = set()
        for h in found:
            for key in h["entity"]["chunks"]:
                if key not in seen:
                    seen.add(key)
                    ranked.append(int(key))
        return ranked[:n]

    def _search(self, name: str, data: list, field: str, n: int, params: dict, fields: list[str]) -> list[dict]:
        if n <= 0:
            return []
        with self._lock:
            found = self._call(lambda: self._client.search(name, data=data, anns_field=field, limit=min(n, 16384),
                                                           search_params=params, output_fields=fields))
        return list(found[0]) if found else []

    def _call(self, fn):
        try:
            return fn()
        except Exception as exc:
            if type(exc).__module__.startswith(("pymilvus", "grpc")):
                raise StoreError(f"The Milvus store {self.spec} failed ({_reason(exc)}).") from None
            raise

    def _query(self, name: str, filter: str, fields: list[str]) -> list[dict]:
        with self._lock:
            return list(self._call(lambda: self._client.query(name, filter=filter, output_fields=fields)))

    # -- records
    def passage_vector(self, row: int) -> np.ndarray | None:
        found = self._query(self._names.passages, f"key == {int(row)}", ["dense"])
        return np.asarray(found[0]["dense"], dtype=np.float32) if found else None

    def chunks(self, rows: Iterable[int]) -> list[Chunk]:
        rows = [int(r) for r in rows]
        if not rows:
            return []
        by_key = {}
        for i in range(0, len(rows), 1000):
            for r in self._query(self._names.passages, f"key in {rows[i:i + 1000]}", _CHUNK_FIELDS):
                by_key[int(r["key"])] = _chunk(r)
        return [by_key[r] for r in rows if r in by_key]

    def _passages(self) -> list[dict]:
        if self._all is None:
            with self._lock:
                rows = self._call(lambda: _scan(self._client, self._names.passages, _CHUNK_FIELDS + ["dense"]))
            self._all = sorted(rows, key=lambda r: (r["aord"], r["ordinal"]))
        return self._all

    def all_chunks(self) -> list[Chunk]:
        """Every passage, in corpus order (the order of :meth:`passage_vectors`)."""
        return [_chunk(r) for r in self._passages()]

    def passage_vectors(self) -> np.ndarray | None:
        rows = self._passages()
        return np.asarray([r["dense"] for r in rows], dtype=np.float32) if rows else None

    def chunk_texts(self) -> list[str]:
        return [r["text"] for r in self._passages()]

    def rows_of_articles(self, article_ids: Iterable[str]) -> frozenset[int]:
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return frozenset()
        found = self._query(self._names.passages, f"article_id in {json.dumps(ids, ensure_ascii=False)}", ["key"])
        return frozenset(int(r["key"]) for r in found)

    def articles(self) -> dict[str, Article]:
        """Every article by id, in corpus order (one scan of the articles collection, kept)."""
        if self._articles is None:
            with self._lock:
                rows = self._call(lambda: _scan(self._client, self._names.articles, _ARTICLE_FIELDS))
            self._articles = _join_articles(rows)
        return self._articles

    def articles_of(self, article_ids: Iterable[str]) -> dict[str, Article]:
        """The articles of ``article_ids`` that the index holds, by id: one query for those not
        fetched before (kept in a bounded cache)."""
        ids = list(dict.fromkeys(article_ids))
        if self._articles is not None:  # read whole already (a listing asked for them)
            return {i: self._articles[i] for i in ids if i in self._articles}
        have = {i: a for i in ids if (a := self._article_cache.get(i)) is not None}
        todo = [i for i in ids if i not in have]
        fetched: dict[str, Article] = {}
        for i in range(0, len(todo), ARTICLES_PER_QUERY):
            batch = json.dumps(todo[i:i + ARTICLES_PER_QUERY], ensure_ascii=False)
            fetched.update(_join_articles(self._query(self._names.articles, f"article_id in {batch}", _ARTICLE_FIELDS)))
        if fetched:
            if len(self._article_cache) + len(fetched) > ARTICLE_CACHE:
                self._article_cache.clear()
            self._article_cache.update(fetched)
        have.update(fetched)
        return {i: have[i] for i in ids if i in have}

    def _all_units(self) -> list[dict]:
        if self._units is None:
            with self._lock:
                rows = self._call(lambda: _scan(self._client, self._names.units, ["ord", "article_id", "start", "end", "dense"]))
            self._units = sorted(rows, key=lambda r: r["ord"])
        return self._units

    def sentence_spans(self) -> list[tuple[str, int, int]]:
        return [(r["article_id"], r["start"], r["end"]) for r in self._all_units()]

    def stored_sentence_vectors(self) -> np.ndarray | None:
        rows = self._all_units()
        return np.asarray([r["dense"] for r in rows], dtype=np.float32) if rows else None

    def sentence_vector(self, article_id: str, start: int, end: int) -> np.ndarray | None:
        """The stored vector of ``article.text[start:end]``; an article's sentences are fetched together, once."""
        cached = self._unit_cache.get(article_id)
        if cached is None:
            rows = self._query(self._names.units, f"article_id == {json.dumps(article_id, ensure_ascii=False)}",
                               ["start", "end", "dense"])
            cached = {(r["start"], r["end"]): np.asarray(r["dense"], dtype=np.float32) for r in rows}
            if len(self._unit_cache) > 4096:
                self._unit_cache.clear()
            self._unit_cache[article_id] = cached
        return cached.get((start, end))

    def document_frequencies(self) -> tuple[Frequencies, int]:
        """How many passages hold each BM25 token, and how many passages there are: read from the
        stored table as questions need them; counted from every passage (once, slowly) for
        collections written before the table was stored."""
        if self._df_documents is not None:
            return StoredFrequencies(self), self._df_documents
        log.warning("%s holds no document frequencies for its passages (written by an older yuwen): reading every "
                    "passage for the IDF; `rag index --index %s --store %s` stores them", self.build_name,
                    self.index_dir, self.spec)
        from .bm25 import index_frequencies

        return index_frequencies(self.bm25)

    def frequencies_of(self, tokens: Iterable[str]) -> dict[str, int]:
        """The stored document frequency of each of ``tokens`` (0 for a token no passage holds)."""
        keys = {df_key(t): t for t in dict.fromkeys(tokens)}
        out = dict.fromkeys(keys.values(), 0)
        todo = list(keys)
        for i in range(0, len(todo), TOKENS_PER_QUERY):
            batch = json.dumps(todo[i:i + TOKENS_PER_QUERY])
            for r in self._query(self._names.df, f"id in {batch}", ["id", "df"]):
                out[keys[r["id"]]] = int(r["df"])
        return out

    @property
    def bm25(self):
        """A bm25s index over the passages, for the answer layer's IDF table (built on first use)."""
        if self._bm25 is None:
            from .bm25 import build_bm25

            self._bm25 = build_bm25([c.embed_text() for c in self.all_chunks()])
        return self._bm25

    # -- state
    def changed(self, every: float = 1.0) -> bool:
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + every
        try:
            with self._lock:
                props = _props(self._client, self._names.passages)
        except Exception:
            return False
        return props.get("yuwen.state") == "ready" and props.get("yuwen.generation", "") != self._generation

    def recheck_after(self, seconds: float) -> None:
        self._next_check = time.monotonic() + seconds

    def counts(self) -> dict[str, int]:
        n = {name: self._count(name) for name in self._names.all()}
        articles = self._count(self._names.articles, "part == 0")  # one row of part 0 per article
        return {"articles": articles, "chunk_rows": n[self._names.passages], "vectors": n[self._names.passages],
                "bm25_documents": n[self._names.passages], "sentences": n[self._names.units],
                "sentence_vectors": n[self._names.units]}

    def _count(self, name: str, filter: str = "") -> int:
        return int(self._query(name, filter, ["count(*)"])[0]["count(*)"])

    def check(self) -> list[str]:
        """Every disagreement between the collections and the manifest: counts, passages of no
        article, sentences pointing at no passage."""
        problems = []
        c = self.counts()
        m = self.manifest
        if c["articles"] != m.articles or c["chunk_rows"] != m.chunks:
            problems.append(f"the manifest counts {m.articles} articles and {m.chunks} chunks; "
                            f"the collections hold {c['articles']} and {c['chunk_rows']}")
        if c["sentences"] != m.sentences:
            problems.append(f"answer sentences disagree ({m.sentences} in the manifest, {c['sentences']} stored)")
        articles = self.articles()
        keys = {row_key(r["id"]) for r in self._passages()}
        if len(keys) != len(self._passages()):
            problems.append("two chunk ids share a row key")
        orphans = sum(1 for r in self._passages() if r["article_id"] not in articles)
        if orphans:
            problems.append(f"{orphans} chunks belong to no article")
        with self._lock:
            rows = self._call(lambda: _scan(self._client, self._names.units, ["chunks"]))
        bad = sum(1 for r in rows if any(int(k) not in keys for k in r["chunks"]))
        if bad:
            problems.append(f"{bad} sentence-passage links point at no row")
        return problems

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:
            log.debug("closing the Milvus client failed", exc_info=True)


def _stored_documents(client, names: _Names, props: dict, manifest: Manifest) -> int | None:
    """The number of documents of the stored document frequencies when they were counted for
    these passages (same generation, as many documents as passages); None otherwise."""
    if not client.has_collection(names.df):
        return None
    df_props = _props(client, names.df)
    if df_props.get("yuwen.schema") != SCHEMA_VERSION or df_props.get("yuwen.state") != "ready" or \
            df_props.get("yuwen.generation") != props.get("yuwen.generation") or \
            df_props.get("yuwen.documents") != str(manifest.chunks):
        return None
    return manifest.chunks


class StoredFrequencies:
    """Document frequencies read from a Milvus store's table as they are asked for: the words of
    one question in one query, kept in a bounded cache."""

    def __init__(self, store: "MilvusStore"):
        self._store = store
        self._cache: dict[str, int] = {}

    def prefetch(self, tokens: Iterable[str]) -> dict[str, int]:
        """The frequencies of ``tokens``, those not read before in one query."""
        tokens = list(dict.fromkeys(tokens))
        have = {t: n for t in tokens if (n := self._cache.get(t)) is not None}
        fresh = self._store.frequencies_of(t for t in tokens if t not in have)
        if fresh:
            if len(self._cache) + len(fresh) > DF_CACHE:
                self._cache.clear()
            self._cache.update(fresh)
        return {**have, **fresh}

    def get(self, token: str, default: int | None = None) -> int | None:
        n = self._cache.get(token)
        if n is None:
            n = self.prefetch([token])[token]
        return n if n > 0 else default


def _join_articles(rows: list[dict]) -> dict[str, Article]:
    """The articles whose pieces are ``rows``, in corpus order."""
    rows = sorted(rows, key=lambda r: (r["ordinal"], r["part"]))
    pieces: dict[str, list[str]] = {}
    for r in rows:
        pieces.setdefault(r["article_id"], []).append(r["data"])
    out: dict[str, Article] = {}
    for aid, parts in pieces.items():
        data = json.loads("".join(parts))
        data["segments"] = [tuple(s) for s in data.get("segments", [])]
        out[aid] = Article(**data)
    return out


def _chunk(r: dict) -> Chunk:
    return Chunk(id=r["id"], article_id=r["article_id"], ordinal=r["ordinal"], start=r["start"], end=r["end"], text=r["text"],
                 title=r["title"], file=r["file"], byline=r["byline"])
