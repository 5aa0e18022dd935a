"""The Milvus store, run for real in milvus-lite: the same index and answers as the local store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from tests.conftest import MINI_PAGES, assert_idf_counts_the_passages  # noqa: E402

import rag.store_milvus as store_milvus  # noqa: E402
from rag.cli import main  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.indexing import add_to_index, build_index, remove_from_index  # noqa: E402
from rag.store import IndexDamagedError, IndexIncompatibleError, IndexMissingError  # noqa: E402
from rag.store_milvus import MilvusStore, StoredFrequencies, collection_prefix, connect  # noqa: E402
from rag.stores import StoreError  # noqa: E402

PAGES = {
    **MINI_PAGES,
    "c.txt": "临江区新建图书馆开放\n\n■记者 李四\n\n临江区图书馆于11月1日正式开放，馆藏图书50万册。读者可以免费办理借书证。"
    "图书馆共有五层，设有少儿阅览区和自习室。\n\n每周一闭馆，其余时间9点至21点开放。\n",
    "d.txt": "松山县茶叶丰收\n\n■记者 孙七\n\n今年松山县茶园面积达到8万亩，春茶产量同比增长12%。"
    "县里建成茶叶交易中心，茶农收入明显提高。\n",
}
QUESTIONS = ["StarBot巡检机器人搭载什么导航系统？", "滨江大桥主桥全长多少米？", "图书馆馆藏图书多少册？", "松山县茶园面积有多大？",
             "Which school built the inspection robot?"]
NEW_PAGE = "东湖公园改造完成\n\n■记者 周八\n\n东湖公园改造工程完工，新增步道4公里和湿地观鸟台。\n"


def _corpus(root: Path, pages: dict[str, str]) -> Path:
    folder = root / "corpus"
    folder.mkdir(parents=True)
    for name, text in pages.items():
        (folder / name).write_text(text, "utf-8")
    return folder


@pytest.fixture(scope="module")
def both(tmp_path_factory, minilm):
    """The same corpus indexed in the local store and in a milvus-lite file."""
    root = tmp_path_factory.mktemp("stores")
    corpus = _corpus(root, PAGES)
    spec = f"milvus-lite://{root}/yuwen.db"
    with pytest.MonkeyPatch.context() as mp:
        build_index(corpus, root / "local", embedder="minilm")
        mp.setenv("YUWEN_STORE", spec)
        build_index(corpus, root / "milvus", embedder="minilm")
    return corpus, root / "local", root / "milvus", spec


@pytest.fixture
def milvus_engine(both, monkeypatch):
    corpus, _, index, spec = both
    monkeypatch.setenv("YUWEN_STORE", spec)
    engine = Engine.open(index, corpus, embedder="minilm")
    yield engine
    engine.reader.close()


@pytest.fixture
def local_engine(both, monkeypatch):
    corpus, index, _, _ = both
    monkeypatch.delenv("YUWEN_STORE", raising=False)
    return Engine.open(index, corpus, embedder="minilm")


@pytest.fixture
def fresh(tmp_path, monkeypatch, minilm):
    """A milvus-lite index of the mini corpus of this test alone."""
    corpus = _corpus(tmp_path, MINI_PAGES)
    spec = f"milvus-lite://{tmp_path}/own.db"
    monkeypatch.setenv("YUWEN_STORE", spec)
    build_index(corpus, tmp_path / "index", embedder="minilm")
    return corpus, tmp_path / "index", spec


# The tests of the module's shared index stay together, first: pymilvus keeps one connection per
# milvus-lite file, and one left idle for over 30 s is health-checked and reconnected on its next
# use, which now and then fails on a loaded machine (`Fail connecting to server`).
def test_an_index_built_in_milvus_lite_is_searched_there(milvus_engine):
    assert isinstance(milvus_engine.reader, MilvusStore)
    assert "LiDAR" in milvus_engine.search("LiDAR", k=1, mode="bm25")[0].chunk.text
    assert milvus_engine.reader.check() == []
    assert milvus_engine.reader.counts()["chunk_rows"] == milvus_engine.manifest.chunks


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_vector_and_hybrid_rankings_match_the_local_store(milvus_engine, local_engine, mode):
    for q in QUESTIONS:
        got = [h.chunk.id for h in milvus_engine.search(q, k=4, mode=mode)]
        want = [h.chunk.id for h in local_engine.search(q, k=4, mode=mode)]
        assert got == want, q


def test_bm25_ranks_and_scores_as_the_local_store(milvus_engine, local_engine):
    for q in QUESTIONS:
        got = milvus_engine.search(q, k=4, mode="bm25")
        want = local_engine.search(q, k=4, mode="bm25")
        assert [h.chunk.id for h in got] == [h.chunk.id for h in want], q
        assert [h.bm25 for h in got] == pytest.approx([h.bm25 for h in want], rel=1e-4), q


def test_answers_cite_the_same_passages_as_the_local_store(milvus_engine, local_engine):
    for q in QUESTIONS:
        a, b = milvus_engine.ask(q), local_engine.ask(q)
        assert a.text == b.text, q
        assert [(c.chunk_id, c.line_start, c.line_end) for c in a.citations] == \
            [(c.chunk_id, c.line_start, c.line_end) for c in b.citations], q


def test_server_side_rrf_fuses_dense_and_bm25(milvus_engine):
    engine = milvus_engine
    q = "LiDAR激光导航"
    fused = engine.reader.hybrid(engine.query_vector(q), q, 4)
    assert fused and fused[0][0] == engine.search(q, k=1, mode="bm25")[0].row
    assert all(a[1] >= b[1] for a, b in zip(fused, fused[1:]))


def test_server_fusion_ranks_hybrid_search_by_milvus(both, monkeypatch):
    corpus, _, index, spec = both
    monkeypatch.setenv("YUWEN_STORE", spec)
    monkeypatch.setenv("YUWEN_MILVUS_FUSION", "server")
    engine = Engine.open(index, corpus, embedder="minilm")
    q = QUESTIONS[0]
    want = [key for key, _ in engine.reader.hybrid(engine.query_vector(q), q, 50)][:3]
    assert [h.row for h in engine.search(q, k=3)] == want
    engine.reader.close()


@pytest.fixture
def scans(monkeypatch) -> list[str]:
    """The collections read whole (scanned) while the test runs."""
    seen: list[str] = []
    scan = store_milvus._scan

    def counted(client, name, fields, filter=""):
        seen.append(name)
        return scan(client, name, fields, filter)

    monkeypatch.setattr(store_milvus, "_scan", counted)
    return seen


def test_answering_reads_no_collection_whole(milvus_engine, scans):
    for q in QUESTIONS:
        milvus_engine.ask(q)
    reader = milvus_engine.reader
    assert scans == []
    assert reader._all is None and reader._articles is None and reader._bm25 is None


def test_an_article_is_fetched_by_its_id_alone(milvus_engine, local_engine, scans):
    for a in local_engine.articles():
        assert milvus_engine.article(a.id) == a
    with pytest.raises(KeyError):
        milvus_engine.article("no-such-article")
    assert scans == []


def test_the_counts_read_no_article(milvus_engine, local_engine, scans):
    assert milvus_engine.reader.counts()["articles"] == local_engine.reader.counts()["articles"] == len(PAGES)
    assert scans == []


def test_the_stored_idf_equals_the_local_stores_token_for_token(milvus_engine, local_engine):
    assert isinstance(milvus_engine.idf.df, StoredFrequencies)
    assert_idf_counts_the_passages(milvus_engine.idf, local_engine.reader.all_chunks())


def test_cli_index_then_ask_answers_like_the_local_store(tmp_path, capsys, minilm):
    corpus = _corpus(tmp_path, PAGES)
    spec = f"milvus-lite://{tmp_path}/cli.db"
    q = QUESTIONS[1]
    answers = []
    for extra, index in ((["--store", spec], "m"), (["--store", "local"], "l")):
        args = ["--corpus", str(corpus), "--index", str(tmp_path / index), "--embedder", "minilm", *extra]
        assert main(["index", *args]) == 0
        capsys.readouterr()
        assert main(["ask", q, "--json", *args]) == 0
        answers.append(json.loads(capsys.readouterr().out))
    assert answers[0]["text"] == answers[1]["text"]
    assert [c["passage_id"] for c in answers[0]["citations"]] == [c["passage_id"] for c in answers[1]["citations"]]


def test_add_and_remove_upsert_and_delete_only_what_changed(fresh, tmp_path):
    corpus, index, _ = fresh
    page = tmp_path / "inbox" / "e.txt"
    page.parent.mkdir()
    page.write_text(NEW_PAGE, "utf-8")
    m = add_to_index([page], corpus, index, embedder="minilm")
    assert m.update["added"] == ["e-01"] and m.update["kept"] == 2
    engine = Engine.open(index, corpus, embedder="minilm")
    assert "观鸟台" in engine.search("湿地观鸟台", k=1, mode="bm25")[0].chunk.text
    assert engine.reader.check() == [] and engine.reader.counts()["articles"] == 3
    engine.reader.close()
    m = remove_from_index(["a.txt"], corpus, index, embedder="minilm")
    engine = Engine.open(index, corpus, embedder="minilm")
    assert m.update["removed"] == ["a-01"]
    assert all(h.chunk.file != "a.txt" for h in engine.search("滨江大桥", k=5))
    assert engine.reader.check() == [] and engine.reader.counts()["articles"] == 2
    engine.reader.close()


def test_an_article_stored_in_pieces_is_fetched_whole(tmp_path, monkeypatch, minilm):
    monkeypatch.setattr(store_milvus, "PIECE_CHARS", 40)
    corpus = _corpus(tmp_path, PAGES)
    monkeypatch.setenv("YUWEN_STORE", f"milvus-lite://{tmp_path}/pieces.db")
    build_index(corpus, tmp_path / "index", embedder="minilm")
    engine = Engine.open(tmp_path / "index", corpus, embedder="minilm")
    whole = dict(engine.reader.articles())
    engine.reader._articles = None  # forget the full read: fetch by id
    assert engine.reader.articles_of(reversed(list(whole))) == whole
    engine.reader.close()


def test_the_stored_idf_follows_an_added_and_a_removed_article(fresh, tmp_path):
    corpus, index, _ = fresh
    page = tmp_path / "inbox" / "e.txt"
    page.parent.mkdir()
    page.write_text(NEW_PAGE, "utf-8")
    for update in (lambda: add_to_index([page], corpus, index, embedder="minilm"),
                   lambda: remove_from_index(["a.txt"], corpus, index, embedder="minilm")):
        update()
        engine = Engine.open(index, corpus, embedder="minilm")
        assert isinstance(engine.idf.df, StoredFrequencies)
        assert_idf_counts_the_passages(engine.idf, engine.reader.all_chunks())
        engine.reader.close()


def _frequencies_lost(spec: str, index: Path, how: str) -> None:
    """Make the index look written by a version that stored no frequencies, or updated by one."""
    client = connect(spec)
    name = f"{collection_prefix(index)}_df"
    if how == "dropped":
        client.drop_collection(name)
    else:
        client.alter_collection_properties(name, properties={"yuwen.generation": "1"})
    client.close()


@pytest.mark.parametrize("how", ["dropped", "out of date"])
def test_an_index_without_its_frequencies_counts_them_and_says_so(fresh, how, caplog):
    corpus, index, spec = fresh
    _frequencies_lost(spec, index, how)
    engine = Engine.open(index, corpus, embedder="minilm")
    assert_idf_counts_the_passages(engine.idf, engine.reader.all_chunks())
    assert "holds no document frequencies" in caplog.text
    assert engine.reader.stale_layout
    engine.reader.close()


def test_rag_index_stores_the_frequencies_an_index_lacks_without_embedding(fresh):
    corpus, index, spec = fresh
    _frequencies_lost(spec, index, "dropped")
    assert build_index(corpus, index, embedder="minilm").update["embedded_texts"] == 0
    engine = Engine.open(index, corpus, embedder="minilm")
    assert not engine.reader.stale_layout and isinstance(engine.idf.df, StoredFrequencies)
    assert_idf_counts_the_passages(engine.idf, engine.reader.all_chunks())
    engine.reader.close()


def test_an_unchanged_corpus_writes_nothing(fresh):
    corpus, index, _ = fresh
    assert build_index(corpus, index, embedder="minilm").update.get("unchanged")


def test_an_index_of_another_embedder_is_refused(fresh):
    corpus, index, _ = fresh
    with pytest.raises(IndexIncompatibleError, match="built with embedder 'minilm'"):
        Engine.open(index, corpus, embedder="e5-small")


def test_an_unfinished_update_is_refused_and_redone(fresh):
    corpus, index, spec = fresh
    client = connect(spec)
    client.alter_collection_properties(f"{collection_prefix(index)}_units", properties={"yuwen.state": "writing"})
    client.close()
    with pytest.raises(IndexDamagedError, match="did not finish"):
        Engine.open(index, corpus, embedder="minilm")
    build_index(corpus, index, embedder="minilm", full=True)
    engine = Engine.open(index, corpus, embedder="minilm")
    assert engine.reader.check() == []
    engine.reader.close()


def test_a_collection_of_another_schema_is_one_line(fresh, capsys):
    corpus, index, spec = fresh
    client = connect(spec)
    client.alter_collection_properties(f"{collection_prefix(index)}_passages", properties={"yuwen.schema": "0"})
    client.close()
    assert main(["ask", "大桥有多长？", "--corpus", str(corpus), "--index", str(index), "--embedder", "minilm"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: The Milvus store") and "schema 0" in err and "\n" not in err


def test_a_collection_yuwen_did_not_create_is_left_alone(tmp_path, monkeypatch, minilm):
    corpus = _corpus(tmp_path, MINI_PAGES)
    spec = f"milvus-lite://{tmp_path}/shared.db"
    client = connect(spec)
    client.create_collection(f"{collection_prefix(tmp_path / 'index')}_passages", dimension=4)
    client.close()
    monkeypatch.setenv("YUWEN_STORE", spec)
    with pytest.raises(IndexMissingError, match="did not create"):
        build_index(corpus, tmp_path / "index", embedder="minilm")
    client = connect(spec)
    assert client.has_collection(f"{collection_prefix(tmp_path / 'index')}_passages")
    client.close()


def test_a_store_without_the_index_is_one_line(tmp_path, capsys):
    args = ["--index", str(tmp_path / "index"), "--embedder", "minilm", "--store", f"milvus-lite://{tmp_path}/empty.db"]
    assert main(["ask", "大桥有多长？", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: No index in the Milvus store") and "rag index" in err and "\n" not in err


@pytest.mark.parametrize("spec, says", [("http://127.0.0.1:9", "Cannot reach the Milvus store"),
                                        ("ftp://example", "unknown store"),
                                        ("milvus-lite:///tmp/not-a-db-file", "ending in .db")])
def test_a_store_that_cannot_be_used_is_one_line(tmp_path, capsys, spec, says):
    assert main(["ask", "大桥有多长？", "--index", str(tmp_path / "index"), "--embedder", "minilm", "--store", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and says in err and "\n" not in err


def _old_server(monkeypatch, version: str) -> None:
    import pymilvus

    class OldServer:
        def __init__(self, **kwargs):
            pass

        def get_server_version(self):
            return version

        def close(self):
            pass

    monkeypatch.setattr(pymilvus, "MilvusClient", OldServer)


@pytest.mark.parametrize("version", ["v2.3.5-lite", "2.4.17"])
def test_a_milvus_server_older_than_bm25_functions_is_one_line(monkeypatch, version):
    _old_server(monkeypatch, version)
    with pytest.raises(StoreError) as err:
        connect("http://milvus.example:19530")
    assert version in str(err.value) and "2.5 or newer" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("stream", [[], ["--stream"]])
def test_a_build_into_a_server_too_old_stops_before_embedding_anything(tmp_path, monkeypatch, capsys, stream):
    import rag.embedders

    _old_server(monkeypatch, "v2.3.5")
    monkeypatch.setattr(rag.embedders, "load_embedder", lambda *a, **k: pytest.fail("embedded before the check"))
    corpus = _corpus(tmp_path, MINI_PAGES)
    args = ["index", "--corpus", str(corpus), "--index", str(tmp_path / "index"), "--embedder", "minilm",
            "--store", "http://milvus.example:19530", *stream]
    assert main(args) == 2
    assert "2.5 or newer" in capsys.readouterr().err


def test_the_store_flag_lasts_only_for_its_command(tmp_path, monkeypatch):
    monkeypatch.delenv("YUWEN_STORE", raising=False)
    main(["ask", "大桥有多长？", "--index", str(tmp_path / "index"), "--store", "ftp://example"])
    assert "YUWEN_STORE" not in os.environ


def test_another_analyzer_rewrites_the_collections_and_reuses_the_vectors(fresh, monkeypatch):
    corpus, index, _ = fresh
    monkeypatch.setenv("YUWEN_MILVUS_ANALYZER", "jieba")
    m = build_index(corpus, index, embedder="minilm")
    assert not m.update.get("unchanged") and m.update["embedded_texts"] == 0
    engine = Engine.open(index, corpus, embedder="minilm")
    assert "LiDAR" in engine.search("LiDAR激光导航", k=1, mode="bm25")[0].chunk.text
    assert engine.reader.check() == []
    engine.reader.close()
