"""Damage to any index file is one line naming the file and `rag index`, never a traceback or a quietly worse answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import store
from rag.cli import main
from rag.engine import Engine
from rag.indexing import build_index
from rag.store import IndexDamagedError, IndexReader


@pytest.fixture
def built(mini_corpus: Path, tmp_path: Path, minilm) -> Path:
    index = tmp_path / "index"
    build_index(mini_corpus, index, embedder="minilm")
    return index


def _args(corpus: Path, index: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(index), "--embedder", "minilm"]


def flip(path: Path, at: int | None = None, n: int = 64) -> None:
    """Invert ``n`` bytes of ``path`` in place (same size), from the middle unless told where."""
    data = bytearray(path.read_bytes())
    start = len(data) // 2 if at is None else at
    for i in range(start, min(start + n, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_every_file_of_a_build_has_a_size_and_checksum_in_the_manifest(built):
    m = store.read_manifest(built)
    build = store.live_build(built)
    on_disk = {p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file()} - {"manifest.json", store.MARKER}
    assert set(m.files) == on_disk
    assert {"vectors.faiss", "sentences.faiss", "sentences.npy", "meta.sqlite"} <= on_disk
    assert any(name.startswith("bm25/") for name in on_disk)


def test_a_truncated_sentence_index_is_named_when_opened(built, mini_corpus):
    truncate(store.live_build(built) / "sentences.faiss")
    with pytest.raises(IndexDamagedError, match=r"index damaged: build-[\d-]+/sentences\.faiss is \d+ bytes.*rag index"):
        Engine.open(built, mini_corpus, embedder="minilm")


@pytest.mark.parametrize("name", ["vectors.faiss", "sentences.faiss", "sentences.npy", "meta.sqlite",
                                  "bm25/data.csc.index.npy", "bm25/indices.csc.index.npy", "bm25/vocab.index.json"])
def test_flipped_bytes_in_an_index_file_are_named_when_opened(built, mini_corpus, name):
    flip(store.live_build(built) / name)
    with pytest.raises(IndexDamagedError, match=f"{name}.*checksum.*rag index"):
        Engine.open(built, mini_corpus, embedder="minilm")


def test_ask_on_a_damaged_index_is_one_line_not_a_traceback(built, mini_corpus, capsys):
    truncate(store.live_build(built) / "sentences.faiss")
    assert main(["ask", "大桥有多长？", *_args(mini_corpus, built)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: index damaged") and "sentences.faiss" in err and "Traceback" not in err


def test_status_check_finds_flipped_bytes_that_the_size_check_on_open_lets_pass(built, mini_corpus, capsys, monkeypatch):
    monkeypatch.setattr(store, "FULL_CHECK_BYTES", 0)  # a big index: only sizes are checked on open
    flip(store.live_build(built) / "vectors.faiss")
    assert main(["status", *_args(mini_corpus, built)]) == 0
    assert "sizes verified on open" in capsys.readouterr().out
    assert main(["status", "--check", *_args(mini_corpus, built)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: index damaged") and "vectors.faiss" in err


def test_status_check_of_a_sound_index_says_ok_and_counts_agree(built, mini_corpus, capsys):
    assert main(["status", "--check", "--json", *_args(mini_corpus, built)]) == 0
    status = json.loads(capsys.readouterr().out)
    c = status["counts"]
    assert status["check"] == "ok"
    assert c["chunk_rows"] == c["vectors"] == c["bm25_documents"] == status["chunks"]
    assert c["sentences"] == c["sentence_vectors"] > 0


def test_a_manifest_that_is_not_json_is_named(built, mini_corpus):
    (store.live_build(built) / "manifest.json").write_text("{not json", "utf-8")
    with pytest.raises(IndexDamagedError, match="manifest.json is unreadable"):
        Engine.open(built, mini_corpus, embedder="minilm")


def test_a_missing_index_file_is_named(built, mini_corpus):
    (store.live_build(built) / "sentences.npy").unlink()
    with pytest.raises(IndexDamagedError, match="sentences.npy is missing"):
        Engine.open(built, mini_corpus, embedder="minilm")


def test_rag_index_rebuilds_a_damaged_index(built, mini_corpus):
    flip(store.live_build(built) / "meta.sqlite")
    build_index(mini_corpus, built, embedder="minilm")
    engine = Engine.open(built, mini_corpus, embedder="minilm")
    assert not engine.reader.check()
    assert "LiDAR" in engine.search("LiDAR", k=1, mode="bm25")[0].chunk.text


def test_a_damaged_metadata_page_met_while_answering_is_an_index_error(built, mini_corpus, monkeypatch):
    monkeypatch.setattr(store, "FULL_CHECK_BYTES", 0)
    reader = IndexReader(built)
    import sqlite3

    class Broken:
        def execute(self, *a):
            raise sqlite3.DatabaseError("database disk image is malformed")

    reader._db = Broken()
    with pytest.raises(IndexDamagedError, match="malformed.*rag index"):
        reader.chunks([0])


def test_a_build_of_an_older_version_without_checksums_still_opens_and_check_says_so(built, mini_corpus):
    path = store.live_build(built) / "manifest.json"
    data = json.loads(path.read_text("utf-8"))
    data.pop("files")
    path.write_text(json.dumps(data), "utf-8")
    engine = Engine.open(built, mini_corpus, embedder="minilm")
    assert "no checksums" in engine.status()["integrity"]
    assert any("no checksums" in p for p in engine.reader.check())
