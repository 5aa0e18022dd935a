"""The index on disk: built atomically, refused when incompatible, warned about when stale."""

import logging
from pathlib import Path

import pytest

from rag import store
from rag.chunking import ChunkSettings
from rag.engine import Engine
from rag.indexing import CorpusEmptyError, build_index
from rag.store import IndexIncompatibleError, IndexMissingError


@pytest.fixture
def built(mini_corpus: Path, tmp_path: Path, minilm) -> Path:
    index = tmp_path / "index"
    build_index(mini_corpus, index, embedder="minilm")
    return index


def test_build_writes_a_manifest_naming_embedder_and_chunker(built: Path):
    m = store.read_manifest(built)
    assert m.embedder == "minilm"
    assert m.embedder_id.endswith("all-MiniLM-L6-v2")
    assert m.dim == 384
    assert m.chunking == ChunkSettings().as_dict()
    assert m.format_version == store.FORMAT_VERSION
    assert set(m.corpus) == {"a.txt", "b.txt"}


def test_opened_index_finds_the_passage_with_the_query_words(built: Path, mini_corpus: Path):
    engine = Engine.open(built, mini_corpus, embedder="minilm")
    hits = engine.search("LiDAR", k=1, mode="bm25")
    assert "LiDAR" in hits[0].chunk.text


def test_interrupted_build_leaves_the_previous_index_usable(built, mini_corpus, monkeypatch):
    before = store.live_build(built)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    (mini_corpus / "c.txt").write_text("新文章\n\n正文。\n", "utf-8")
    monkeypatch.setattr(store, "save_bm25", crash)
    with pytest.raises(KeyboardInterrupt):
        build_index(mini_corpus, built, embedder="minilm")
    assert store.live_build(built) == before
    assert not list(built.glob("*.partial"))
    engine = Engine.open(built, mini_corpus, embedder="minilm")
    assert engine.manifest.articles == 2


def test_a_completed_rebuild_replaces_the_old_build_and_removes_the_one_before(built, mini_corpus):
    first = store.live_build(built)
    build_index(mini_corpus, built, embedder="minilm", full=True)
    second = store.live_build(built)
    assert second != first and first.exists()  # kept for readers that have not switched yet
    build_index(mini_corpus, built, embedder="minilm", full=True)
    assert store.live_build(built) not in (first, second) and second.exists() and not first.exists()


def test_rebuilding_an_unchanged_corpus_writes_nothing(built, mini_corpus):
    before = store.live_build(built)
    m = build_index(mini_corpus, built, embedder="minilm")
    assert store.live_build(built) == before and m.update["unchanged"]


def test_missing_index_says_which_command_builds_it(tmp_path):
    with pytest.raises(IndexMissingError, match="rag index"):
        Engine.open(tmp_path / "nothing", tmp_path, embedder="minilm")


def test_index_built_with_another_embedder_is_refused(built, mini_corpus):
    with pytest.raises(IndexIncompatibleError, match="built with embedder 'minilm'"):
        Engine.open(built, mini_corpus, embedder="e5-small")


def test_index_built_with_another_chunker_is_refused(built, mini_corpus):
    with pytest.raises(IndexIncompatibleError, match="chunked with"):
        Engine.open(built, mini_corpus, embedder="minilm", chunking=ChunkSettings(max_tokens=99))


def test_index_of_another_format_version_is_refused(built, mini_corpus, monkeypatch):
    monkeypatch.setattr(store, "FORMAT_VERSION", store.FORMAT_VERSION + 1)
    with pytest.raises(IndexIncompatibleError, match="format version"):
        Engine.open(built, mini_corpus, embedder="minilm")


def test_damaged_vectors_file_is_reported_not_crashed_on(built, mini_corpus):
    (store.live_build(built) / "vectors.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexIncompatibleError, match="damaged"):
        Engine.open(built, mini_corpus, embedder="minilm")


def test_changed_corpus_is_still_searched_with_a_warning(built, mini_corpus, caplog):
    (mini_corpus / "a.txt").write_text("改过的文章\n\n正文。\n", "utf-8")
    (mini_corpus / "new.txt").write_text("新文章\n\n正文。\n", "utf-8")
    with caplog.at_level(logging.WARNING):
        engine = Engine.open(built, mini_corpus, embedder="minilm")
    assert len(engine.warnings) == 1
    warning = engine.warnings[0]
    assert "added: new.txt" in warning and "changed: a.txt" in warning and "rag index" in warning
    assert engine.search("LiDAR", k=1, mode="bm25")


def test_unreadable_files_are_skipped_and_reported(mini_corpus, tmp_path, minilm):
    (mini_corpus / "bad.txt").write_bytes(b"\x00\x01\x02binary\x00")
    m = build_index(mini_corpus, tmp_path / "index", embedder="minilm")
    assert m.articles >= 2
    assert any("bad.txt" in e for e in m.errors)


def test_corpus_with_no_readable_file_is_a_clear_error(tmp_path, minilm):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "empty.txt").write_text("", "utf-8")
    with pytest.raises(CorpusEmptyError, match="empty.txt"):
        build_index(tmp_path / "c", tmp_path / "index", embedder="minilm")
