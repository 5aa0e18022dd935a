"""The streamed build: batches of bounded size, a killed build resumes to the same index, in both stores."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MINI_PAGES, assert_idf_counts_the_passages

from rag.chunking import ChunkSettings, chunk_article
from rag.units import answer_units
from rag.build_stream import stream_articles, stream_index
from rag.embedders import EMBEDDERS, load_embedder
from rag.engine import Engine
from rag.indexing import build_index
from rag.ingest import load_corpus
from rag.store import live_build
from rag.store_stream import LocalStreamWriter
from rag.stores import open_store

PAGES = {
    **MINI_PAGES,
    "c.txt": "临江区新建图书馆开放\n\n■记者 李四\n\n临江区图书馆于11月1日正式开放，馆藏图书50万册。读者可以免费办理借书证。"
    "图书馆共有五层，设有少儿阅览区和自习室。\n\n每周一闭馆，其余时间9点至21点开放。\n",
    "d.txt": "松山县茶叶丰收\n\n■记者 孙七\n\n今年松山县茶园面积达到8万亩，春茶产量同比增长12%。"
    "县里建成茶叶交易中心，茶农收入明显提高。\n",
    "e.txt": "东湖公园改造完成\n\n■记者 周八\n\n东湖公园改造工程完工，新增步道4公里和湿地观鸟台。公园内种植了三千棵樱花树。"
    "\n\n改造后的公园每天早上6点开放，晚上10点关闭。\n",
}
QUESTIONS = ["滨江大桥主桥全长多少米？", "图书馆馆藏图书多少册？", "松山县茶园面积有多大？", "公园新增步道多长？"]


class Killed(BaseException):
    """Stands for the process being killed (not an Exception: nothing may catch it)."""


class HashEmbedder:
    """Deterministic unit vectors from each text's hash; records how many texts each call had."""

    id = "test/hash-embedder"
    dim = 16
    precision = "fp32"
    max_tokens = 512

    def __init__(self, fail_on_call: int | None = None):
        self.calls: list[int] = []
        self.fail_on_call = fail_on_call

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 2

    def _vec(self, text: str) -> np.ndarray:
        v = np.frombuffer(hashlib.blake2b(text.encode(), digest_size=self.dim * 4).digest(), dtype=np.uint32)
        v = v.astype(np.float32) - 2**31
        return v / np.linalg.norm(v)

    def encode_passages(self, texts, progress=None) -> np.ndarray:
        self.calls.append(len(texts))
        if self.fail_on_call is not None and len(self.calls) >= self.fail_on_call:
            raise Killed
        return np.stack([self._vec(t) for t in texts]).astype(np.float32)

    def encode_queries(self, texts) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts]).astype(np.float32)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in PAGES.items():
        (folder / name).write_text(text, "utf-8")
    return folder


@pytest.fixture
def hash_embedder(monkeypatch):
    """``hash`` in the embedder registry, so engines and `stream_index` load it by name."""
    monkeypatch.setitem(EMBEDDERS, "hash", HashEmbedder)
    load_embedder.cache_clear()
    yield
    load_embedder.cache_clear()


def _articles(corpus: Path):
    return load_corpus(corpus)[0]


def _snapshot(index: Path) -> dict:
    """What an index holds: chunk ids and texts, vectors, answer sentences, BM25 results."""
    r = open_store(index)
    try:
        chunks = r.all_chunks()
        return {
            "ids": [c.id for c in chunks], "texts": [c.text for c in chunks],
            "vectors": np.asarray(r.passage_vectors()), "sentences": r.sentence_spans(),
            "sentence_vectors": np.asarray(r.stored_sentence_vectors()),
            "bm25": [[c.id for c in r.chunks(r.lexical(q, 5)[0])] for q in QUESTIONS], "counts": r.counts(),
        }
    finally:
        r.close()


def _same(a: dict, b: dict) -> None:
    assert a["ids"] == b["ids"] and a["texts"] == b["texts"] and a["sentences"] == b["sentences"]
    assert np.array_equal(a["vectors"], b["vectors"]) and np.array_equal(a["sentence_vectors"], b["sentence_vectors"])
    assert a["bm25"] == b["bm25"] and a["counts"] == b["counts"]


def _assert_stored_idf(index: Path, corpus: Path) -> None:
    """The Milvus index's stored document frequencies give the IDF of its passages."""
    from rag.store_milvus import StoredFrequencies

    engine = Engine.open(index, corpus, embedder="hash")
    try:
        assert isinstance(engine.idf.df, StoredFrequencies)
        assert_idf_counts_the_passages(engine.idf, engine.reader.all_chunks())
    finally:
        engine.reader.close()


def _answers(index: Path, corpus: Path) -> list:
    engine = Engine.open(index, corpus, embedder="hash")
    try:
        return [(a.text, [(c.article_id, c.start, c.end) for c in a.citations]) for a in map(engine.ask, QUESTIONS)]
    finally:
        engine.reader.close()


def _killed_stream(corpus, index, at_call: int) -> None:
    """A streamed build of ``corpus`` into ``index`` killed at the embedder's ``at_call``-th call."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(EMBEDDERS, "hash", lambda: HashEmbedder(fail_on_call=at_call))
        load_embedder.cache_clear()
        with pytest.raises(Killed):
            stream_index(corpus, index, embedder="hash", batch=4)
    load_embedder.cache_clear()


def test_embedder_never_sees_more_than_a_batch_of_texts(tmp_path, corpus):
    model = HashEmbedder()
    added: list[int] = []
    original = LocalStreamWriter.add

    def counting_add(self, batch):
        added.append(len(batch.chunks) + len(batch.units))
        return original(self, batch)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LocalStreamWriter, "add", counting_add)
        m = stream_articles(_articles(corpus), tmp_path / "index", embedder="hash", batch=4, model=model, store="local")
    assert max(model.calls) <= 4
    assert len(added) >= 3  # written in several batches, not at once
    per_article = [len(chunk_article(a, model.count_tokens, ChunkSettings())) + len(answer_units(a))
                   for a in _articles(corpus)]
    assert max(added) <= 4 - 1 + max(per_article)  # held at once: under a batch, plus one article
    assert sum(added) == m.chunks + m.sentences


def test_streamed_index_equals_the_one_build_index_writes(tmp_path, corpus, hash_embedder):
    stream_index(corpus, tmp_path / "streamed", embedder="hash", batch=5)
    build_index(corpus, tmp_path / "whole", embedder="hash")
    _same(_snapshot(tmp_path / "streamed"), _snapshot(tmp_path / "whole"))
    assert _answers(tmp_path / "streamed", corpus) == _answers(tmp_path / "whole", corpus)
    assert not open_store(tmp_path / "streamed").check()


def test_build_killed_after_batches_resumes_to_the_same_index(tmp_path, corpus, hash_embedder):
    stream_index(corpus, tmp_path / "whole", embedder="hash", batch=4)
    index = tmp_path / "killed"
    _killed_stream(corpus, index, at_call=4)
    partial = list(index.glob("build-*.partial"))
    assert len(partial) == 1 and not (index / "CURRENT").exists()  # nothing live, what was done kept
    m = stream_index(corpus, index, embedder="hash", batch=4)
    assert m.update["resumed"] > 0
    _same(_snapshot(index), _snapshot(tmp_path / "whole"))
    assert _answers(index, corpus) == _answers(tmp_path / "whole", corpus)
    assert not list(index.glob("build-*.partial"))


def test_a_batch_killed_half_written_is_written_again(tmp_path, corpus, hash_embedder):
    stream_index(corpus, tmp_path / "whole", embedder="hash", batch=4)
    index = tmp_path / "killed"
    calls = {"n": 0}
    original = LocalStreamWriter._append

    def dying_append(self, name, array):
        calls["n"] += 1
        original(self, name, array)
        if calls["n"] == 10:  # batch 3: vectors and sentence vectors appended, tokens and rows not
            raise Killed

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LocalStreamWriter, "_append", dying_append)
        with pytest.raises(Killed):
            stream_index(corpus, index, embedder="hash", batch=4)
    m = stream_index(corpus, index, embedder="hash", batch=4)
    assert m.update["resumed"] > 0
    _same(_snapshot(index), _snapshot(tmp_path / "whole"))


def test_resume_redoes_what_changed_in_the_corpus(tmp_path, corpus, hash_embedder):
    index = tmp_path / "index"
    _killed_stream(corpus, index, at_call=5)
    (corpus / "b.txt").write_text(PAGES["b.txt"].replace("12公斤", "15公斤"), "utf-8")
    stream_index(corpus, index, embedder="hash", batch=4)
    fresh = tmp_path / "fresh"
    stream_index(corpus, fresh, embedder="hash", batch=4)
    _same(_snapshot(index), _snapshot(fresh))
    assert any("15公斤" in t for t in _snapshot(index)["texts"])


def test_a_killed_stream_leaves_the_live_index_in_use(tmp_path, corpus, hash_embedder):
    index = tmp_path / "index"
    stream_index(corpus, index, embedder="hash", batch=4)
    live = live_build(index)
    before = _answers(index, corpus)
    _killed_stream(corpus, index, at_call=3)
    assert live_build(index) == live and _answers(index, corpus) == before


@pytest.mark.skipif(importlib.util.find_spec("milvus_lite") is None, reason="needs milvus-lite")
def test_milvus_build_killed_after_batches_resumes_to_the_same_index(tmp_path, corpus, hash_embedder, monkeypatch):
    spec = f"milvus-lite://{tmp_path}/stream.db"
    monkeypatch.setenv("YUWEN_STORE", spec)
    stream_index(corpus, tmp_path / "whole", embedder="hash", batch=4)
    index = tmp_path / "killed"
    _killed_stream(corpus, index, at_call=4)
    m = stream_index(corpus, index, embedder="hash", batch=4)
    assert m.update["resumed"] > 0
    _same(_snapshot(index), _snapshot(tmp_path / "whole"))
    assert _answers(index, corpus) == _answers(tmp_path / "whole", corpus)
    _assert_stored_idf(index, corpus)
    milvus = _snapshot(index)
    monkeypatch.setenv("YUWEN_STORE", "local")
    build_index(corpus, tmp_path / "local", embedder="hash")
    local = _snapshot(tmp_path / "local")
    assert local["ids"] == milvus["ids"] and local["bm25"] == milvus["bm25"]


@pytest.mark.skipif(importlib.util.find_spec("milvus_lite") is None, reason="needs milvus-lite")
def test_milvus_resume_redoes_what_changed_and_recounts_its_frequencies(tmp_path, corpus, hash_embedder, monkeypatch):
    monkeypatch.setenv("YUWEN_STORE", f"milvus-lite://{tmp_path}/stream.db")
    index = tmp_path / "index"
    _killed_stream(corpus, index, at_call=5)
    (corpus / "b.txt").write_text(PAGES["b.txt"].replace("12公斤", "15公斤"), "utf-8")
    m = stream_index(corpus, index, embedder="hash", batch=4)
    assert m.update["resumed"] == 1  # a-01 kept; b-01 and what followed it forgotten and written again
    _assert_stored_idf(index, corpus)


def test_rag_index_stream_builds_in_batches_and_says_so(tmp_path, corpus, hash_embedder, capsys):
    from rag.cli import main

    code = main(["index", "--stream", "--batch", "6", "--corpus", str(corpus), "--index", str(tmp_path / "index"),
                 "--embedder", "hash"])
    out = capsys.readouterr().out
    assert code == 0 and "in batches of 6 texts" in out
    assert _snapshot(tmp_path / "index")["counts"]["articles"] == len(PAGES)


class SlowHashEmbedder(HashEmbedder):
    """A HashEmbedder that takes a while per call, so a build can be killed part way."""

    def encode_passages(self, texts, progress=None) -> np.ndarray:
        time.sleep(0.25)
        return super().encode_passages(texts, progress)


_CHILD = """
import sys
from rag.embedders import EMBEDDERS
from rag.build_stream import stream_index
from tests.test_build_stream import SlowHashEmbedder
EMBEDDERS["hash"] = SlowHashEmbedder
stream_index(sys.argv[1], sys.argv[2], embedder="hash", batch=4)
"""


def _recorded(index: Path) -> int:
    for partial in index.glob("build-*.partial"):
        try:
            db = sqlite3.connect(f"file:{partial / 'meta.sqlite'}?mode=ro", uri=True)
            try:
                return db.execute("SELECT COUNT(*) FROM build_progress").fetchone()[0]
            finally:
                db.close()
        except sqlite3.Error:
            pass
    return 0


def test_a_build_killed_by_sigkill_resumes_to_the_same_index(tmp_path, corpus, hash_embedder):
    stream_index(corpus, tmp_path / "whole", embedder="hash", batch=4)
    index = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(corpus), str(index)], env=env)
    deadline = time.monotonic() + 60
    while _recorded(index) < 2 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert 2 <= _recorded(index) < len(PAGES) and not (index / "CURRENT").exists()
    m = stream_index(corpus, index, embedder="hash", batch=4)
    assert m.update["resumed"] >= 2
    _same(_snapshot(index), _snapshot(tmp_path / "whole"))
