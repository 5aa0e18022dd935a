"""Incremental updates: only what changed is embedded; add / edit / remove round trips leave no orphans."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag import store
from rag.cli import main
from rag.engine import Engine
from rag.indexing import UpdateError, add_to_index, build_index, describe_update, remove_from_index

NEW_PAGE = "临江区新建图书馆开放\n\n■记者 李四\n\n临江区图书馆于11月1日正式开放，馆藏图书50万册。读者可以免费办理借书证。\n"


@pytest.fixture
def built(mini_corpus: Path, tmp_path: Path, minilm) -> Path:
    index = tmp_path / "index"
    build_index(mini_corpus, index, embedder="minilm")
    return index


def _open(index: Path, corpus: Path) -> Engine:
    return Engine.open(index, corpus, embedder="minilm")


def _sound(engine: Engine) -> dict:
    """The counts of the build after checking that nothing is orphaned."""
    assert engine.reader.check() == []
    c = engine.reader.counts()
    assert c["chunk_rows"] == c["vectors"] == c["bm25_documents"] == engine.manifest.chunks
    assert c["sentences"] == c["sentence_vectors"] == engine.manifest.sentences
    assert c["articles"] == engine.manifest.articles
    return c


def _top(engine: Engine, query: str) -> str:
    return engine.search(query, k=1, mode="bm25")[0].chunk.text


def _edit(corpus: Path, name: str, old: str, new: str) -> None:
    path = corpus / name
    path.write_text(path.read_text("utf-8").replace(old, new), "utf-8")


def test_an_added_page_is_found_and_only_its_texts_are_embedded(built, mini_corpus):
    (mini_corpus / "c.txt").write_text(NEW_PAGE, "utf-8")
    m = build_index(mini_corpus, built, embedder="minilm")
    u = m.update
    assert u["added"] == ["c-01"] and u["removed"] == [] and u["reembedded"] == ["c-01"] and u["kept"] == 2
    engine = _open(built, mini_corpus)
    assert u["embedded_texts"] == len(engine.reader.rows_of_articles(["c-01"])) + sum(
        1 for a, _, _ in engine.reader.sentence_spans() if a == "c-01")
    assert "图书馆" in _top(engine, "图书馆 馆藏")
    assert _sound(engine)["articles"] == 3


def test_an_edited_article_is_answered_with_its_new_text(built, mini_corpus):
    _edit(mini_corpus, "a.txt", "主桥全长1280米", "主桥全长1350米")
    m = build_index(mini_corpus, built, embedder="minilm")
    assert m.update["reembedded"] == ["a-01"] and m.update["kept"] == 1
    engine = _open(built, mini_corpus)
    text = _top(engine, "主桥全长")
    assert "1350米" in text and "1280米" not in text
    answer = engine.ask("滨江大桥主桥全长多少米？", k=2, mode="bm25")
    assert any("1350米" in c.passage for c in answer.citations)
    assert all("1280米" not in c.passage for c in answer.citations)
    _sound(engine)


def test_an_edit_re_embeds_only_the_texts_that_changed(built, mini_corpus):
    before = _open(built, mini_corpus)
    total = before.manifest.chunks + before.manifest.sentences
    _edit(mini_corpus, "a.txt", "大桥日均车流量预计达到3万辆。", "大桥日均车流量预计达到4万辆。")
    m = build_index(mini_corpus, built, embedder="minilm")
    assert 0 < m.update["embedded_texts"] < total
    assert m.update["embedded_texts"] + m.update["reused_texts"] == total


def test_unchanged_articles_keep_ids_chunks_and_identical_vectors(built, mini_corpus):
    before = _open(built, mini_corpus)
    rows = sorted(before.reader.rows_of_articles(["b-01"]))
    old_chunks = [(c.id, c.start, c.end, c.text) for c in before.reader.chunks(rows)]
    old_vectors = before.reader.passage_vectors()[rows]
    (mini_corpus / "c.txt").write_text(NEW_PAGE, "utf-8")
    _edit(mini_corpus, "a.txt", "1280米", "1300米")
    build_index(mini_corpus, built, embedder="minilm")
    after = _open(built, mini_corpus)
    new_rows = sorted(after.reader.rows_of_articles(["b-01"]))
    assert [(c.id, c.start, c.end, c.text) for c in after.reader.chunks(new_rows)] == old_chunks
    assert np.array_equal(after.reader.passage_vectors()[new_rows], old_vectors)
    assert after.reader.build != before.reader.build


def test_a_removed_page_leaves_no_vector_row_or_bm25_document(built, mini_corpus):
    (mini_corpus / "b.txt").unlink()
    m = build_index(mini_corpus, built, embedder="minilm")
    assert m.update["removed"] == ["b-01"] and m.update["embedded_texts"] == 0
    engine = _open(built, mini_corpus)
    assert [a.id for a in engine.articles()] == ["a-01"]
    assert all("LiDAR" not in h.chunk.text for h in engine.search("LiDAR StarBot", k=5, mode="hybrid"))
    assert _sound(engine)["articles"] == 1


def test_removing_only_needs_no_embedder(built, mini_corpus, monkeypatch):
    import rag.embedders

    monkeypatch.setattr(rag.embedders, "load_embedder", lambda *a, **k: pytest.fail("embedder loaded"))
    (mini_corpus / "b.txt").unlink()
    assert build_index(mini_corpus, built, embedder="minilm").articles == 1


def test_rag_add_copies_a_page_into_the_corpus_and_indexes_it(built, mini_corpus, tmp_path):
    page = tmp_path / "incoming" / "lib.txt"
    page.parent.mkdir()
    page.write_text(NEW_PAGE, "utf-8")
    m = add_to_index([page], mini_corpus, built, embedder="minilm")
    assert (mini_corpus / "lib.txt").read_text("utf-8") == NEW_PAGE and page.exists()
    assert m.update["added"] == ["lib-01"]
    assert "图书馆" in _top(_open(built, mini_corpus), "馆藏图书")


def test_rag_add_never_overwrites_a_different_corpus_file(built, mini_corpus, tmp_path):
    other = tmp_path / "a.txt"
    other.write_text(NEW_PAGE, "utf-8")
    with pytest.raises(UpdateError, match="already exists and differs"):
        add_to_index([other], mini_corpus, built, embedder="minilm")
    assert "滨江大桥" in (mini_corpus / "a.txt").read_text("utf-8")


def test_rag_remove_of_a_file_keeps_the_file_and_lasts_across_rag_index(built, mini_corpus):
    m = remove_from_index(["b.txt"], mini_corpus, built, embedder="minilm")
    assert m.update["removed"] == ["b-01"] and (mini_corpus / "b.txt").exists()
    m = build_index(mini_corpus, built, embedder="minilm")
    assert m.articles == 1 and m.excluded["files"] == ["b.txt"]
    engine = _open(built, mini_corpus)
    assert not engine.warnings, "a removed file is not reported as a corpus change"
    _sound(engine)


def test_rag_add_takes_back_a_removed_file(built, mini_corpus):
    remove_from_index(["b.txt"], mini_corpus, built, embedder="minilm")
    m = add_to_index([mini_corpus / "b.txt"], mini_corpus, built, embedder="minilm")
    assert m.update["added"] == ["b-01"] and m.excluded["files"] == []
    assert "LiDAR" in _top(_open(built, mini_corpus), "LiDAR")


def test_rag_remove_of_an_article_id_removes_just_that_article(built, mini_corpus):
    m = remove_from_index(["a-01"], mini_corpus, built, embedder="minilm")
    assert m.update["removed"] == ["a-01"] and m.excluded["articles"] == ["a-01"]
    engine = _open(built, mini_corpus)
    assert [a.id for a in engine.articles()] == ["b-01"]
    _sound(engine)


def test_rag_remove_of_an_unknown_name_is_one_line(built, mini_corpus, capsys):
    args = ["--corpus", str(mini_corpus), "--index", str(built), "--embedder", "minilm"]
    assert main(["remove", "no-such-article", *args]) == 2
    err = capsys.readouterr().err
    assert "'no-such-article' is neither an article id nor a file" in err and "Traceback" not in err


def test_rag_index_prints_what_it_changed(built, mini_corpus, capsys):
    (mini_corpus / "c.txt").write_text(NEW_PAGE, "utf-8")
    (mini_corpus / "b.txt").unlink()
    _edit(mini_corpus, "a.txt", "1280米", "1300米")
    args = ["--corpus", str(mini_corpus), "--index", str(built), "--embedder", "minilm"]
    assert main(["index", *args]) == 0
    assert "+1 articles, −1, 2 re-embedded, 0 kept" in capsys.readouterr().out


def test_an_update_of_an_unchanged_corpus_says_so(built, mini_corpus):
    m = build_index(mini_corpus, built, embedder="minilm")
    assert describe_update(m).startswith("index up to date")


def test_a_page_whose_bytes_did_not_change_is_not_read_again(built, mini_corpus, monkeypatch):
    import rag.indexing

    read = []
    real = rag.indexing.ingest_file
    monkeypatch.setattr(rag.indexing, "ingest_file", lambda f: read.append(f.rel) or real(f))
    (mini_corpus / "c.txt").write_text(NEW_PAGE, "utf-8")
    build_index(mini_corpus, built, embedder="minilm")
    assert read == ["c.txt"]


def test_full_rebuild_embeds_everything_again(built, mini_corpus):
    m = build_index(mini_corpus, built, embedder="minilm", full=True)
    assert m.update["full"] and m.update["reused_texts"] == 0
    assert store.read_manifest(built).update["full"]


def test_rag_add_into_a_corpus_it_cannot_write_is_one_line(built, mini_corpus, tmp_path, capsys, monkeypatch):
    import shutil

    page = tmp_path / "lib.txt"
    page.write_text(NEW_PAGE, "utf-8")
    monkeypatch.setattr(shutil, "copyfile", lambda *a: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    args = ["--corpus", str(mini_corpus), "--index", str(built), "--embedder", "minilm"]
    assert main(["add", str(page), *args]) == 2
    err = capsys.readouterr().err
    assert "Cannot copy" in err and "Permission denied" in err and "Traceback" not in err
    assert not list(mini_corpus.glob(".*adding")) and not (mini_corpus / "lib.txt").exists()


def test_status_says_what_the_last_update_did(built, mini_corpus):
    (mini_corpus / "c.txt").write_text(NEW_PAGE, "utf-8")
    build_index(mini_corpus, built, embedder="minilm")
    assert _open(built, mini_corpus).status()["last_update"].startswith("updated in")


def test_an_hnsw_index_gives_its_vectors_back_for_reuse(mini_corpus, tmp_path, minilm):
    index = tmp_path / "hnsw"
    build_index(mini_corpus, index, embedder="minilm", vector_kind="hnsw")
    (mini_corpus / "c.txt").write_text(NEW_PAGE, "utf-8")
    m = build_index(mini_corpus, index, embedder="minilm", vector_kind="hnsw")
    assert m.vector_kind == "hnsw" and m.update["kept"] == 2 and m.update["reused_texts"] > 0
    _sound(_open(index, mini_corpus))


def test_a_build_of_an_older_version_is_updated_incrementally_then_removed(built, mini_corpus):
    import json

    legacy = store.live_build(built)
    (legacy / store.MARKER).unlink()
    manifest = json.loads((legacy / "manifest.json").read_text("utf-8"))
    for key in ("files", "excluded", "update", "replaces"):
        manifest.pop(key)
    (legacy / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    (mini_corpus / "c.txt").write_text(NEW_PAGE, "utf-8")
    m = build_index(mini_corpus, built, embedder="minilm")
    assert m.update["kept"] == 2 and legacy.exists()
    _edit(mini_corpus, "a.txt", "1280米", "1300米")
    build_index(mini_corpus, built, embedder="minilm")
    assert not legacy.exists(), "an old build holding only index artefacts is recognised as ours"


def test_a_full_rebuild_keeps_what_rag_remove_left_out(built, mini_corpus):
    (mini_corpus / "c.txt").write_text(NEW_PAGE, "utf-8")
    remove_from_index(["b.txt", "a-01"], mini_corpus, built, embedder="minilm")
    m = build_index(mini_corpus, built, embedder="minilm", full=True)
    assert m.excluded == {"files": ["b.txt"], "articles": ["a-01"]}
    assert [a.id for a in _open(built, mini_corpus).articles()] == ["c-01"]


def test_removing_every_article_is_refused_and_the_index_kept(built, mini_corpus):
    from rag.indexing import CorpusEmptyError

    before = store.live_build(built)
    with pytest.raises(CorpusEmptyError, match="removed with `rag remove`"):
        remove_from_index(["b.txt", "a-01"], mini_corpus, built, embedder="minilm")
    assert store.live_build(built) == before


def test_rag_add_of_a_page_takes_back_its_removed_articles(built, mini_corpus):
    remove_from_index(["a-01"], mini_corpus, built, embedder="minilm")
    m = add_to_index([mini_corpus / "a.txt"], mini_corpus, built, embedder="minilm")
    assert m.excluded["articles"] == [] and "a-01" in m.update["added"]
