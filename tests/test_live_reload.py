"""A running reader (web app, `rag chat`) switches to a newer build between questions, without a failed question."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from rag import store
from rag.cli import main
from rag.engine import Engine
from rag.indexing import build_index
from ui.app import EngineHolder


@pytest.fixture
def built(mini_corpus: Path, tmp_path: Path, minilm) -> Path:
    index = tmp_path / "index"
    build_index(mini_corpus, index, embedder="minilm")
    return index


def _edit_length(corpus: Path, metres: str) -> None:
    path = corpus / "a.txt"
    path.write_text(path.read_text("utf-8").replace("1280米", metres), "utf-8")


def _length_seen(engine: Engine) -> str:
    text = engine.search("主桥全长", k=1, mode="bm25")[0].chunk.text
    return "1350米" if "1350米" in text else "1280米" if "1280米" in text else text


def test_an_engine_switches_to_a_newer_build_and_shares_its_models(built, mini_corpus):
    engine = Engine.open(built, mini_corpus, embedder="minilm")
    _edit_length(mini_corpus, "1350米")
    build_index(mini_corpus, built, embedder="minilm")
    engine.reader.recheck_after(0)
    fresh = engine.refreshed()
    assert fresh is not engine and fresh.embedder is engine.embedder and fresh.model is engine.model
    assert _length_seen(fresh) == "1350米" and _length_seen(engine) == "1280米"


def test_current_is_read_at_most_once_a_second(built, mini_corpus):
    engine = Engine.open(built, mini_corpus, embedder="minilm")
    _edit_length(mini_corpus, "1350米")
    build_index(mini_corpus, built, embedder="minilm")
    engine.reader.recheck_after(0)
    assert engine.reader.changed()
    assert not engine.reader.changed(), "looked at again within the second"
    engine.reader.recheck_after(1.0)
    assert engine.refreshed() is engine
    engine.reader.recheck_after(0)
    assert engine.refreshed() is not engine


def test_an_unusable_newer_build_keeps_the_old_one_answering(built, mini_corpus):
    engine = Engine.open(built, mini_corpus, embedder="minilm")
    _edit_length(mini_corpus, "1350米")
    build_index(mini_corpus, built, embedder="minilm")
    (store.live_build(built) / "vectors.faiss").write_bytes(b"damaged")
    engine.reader.recheck_after(0)
    assert engine.refreshed() is engine and _length_seen(engine) == "1280米"


def test_an_old_reader_still_answers_after_its_build_is_removed(built, mini_corpus):
    engine = Engine.open(built, mini_corpus, embedder="minilm")
    first = engine.reader.build
    for metres in ("1350米", "1400米"):
        _edit_length(mini_corpus, metres)
        build_index(mini_corpus, built, embedder="minilm")
        (mini_corpus / "a.txt").write_text((mini_corpus / "a.txt").read_text("utf-8").replace(metres, "1280米"), "utf-8")
    _edit_length(mini_corpus, "1500米")
    build_index(mini_corpus, built, embedder="minilm")
    assert not first.exists()
    assert _length_seen(engine) == "1280米"
    assert engine.ask("滨江大桥主桥全长多少米？", k=2, mode="bm25").citations


def test_the_web_app_answers_from_a_new_build_during_load_without_a_failed_question(built, mini_corpus):
    holder = EngineHolder(None, built, mini_corpus, embedder="minilm")
    holder.get()
    errors: list[BaseException] = []
    seen: list[str] = []
    stop = threading.Event()

    def user() -> None:
        while not stop.is_set():
            try:
                seen.append(_length_seen(holder.get()))
                holder.get().ask("滨江大桥主桥全长多少米？", k=2, mode="bm25")
            except BaseException as exc:  # noqa: B036 - any failure counts
                errors.append(exc)

    users = [threading.Thread(target=user) for _ in range(4)]
    for t in users:
        t.start()
    try:
        time.sleep(0.5)
        _edit_length(mini_corpus, "1350米")
        build_index(mini_corpus, built, embedder="minilm")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not seen or seen[-1] != "1350米"):
            time.sleep(0.1)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in users:
            t.join(30)
    assert errors == []
    assert "1280米" in seen and seen[-1] == "1350米"
    assert holder.get().reader.build == store.live_build(built)


def test_rag_chat_answers_from_a_build_made_during_the_session(built, mini_corpus, capsys, monkeypatch):
    class Lines(io.StringIO):
        """stdin that rebuilds the index after the first question has been read."""

        def readline(self, *args):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 2:  # the first question has been answered
                _edit_length(mini_corpus, "1350米")
                build_index(mini_corpus, built, embedder="minilm")
                time.sleep(1.1)
            return super().readline(*args)

    monkeypatch.setattr("sys.stdin", Lines("主桥全长多少米？\n滨江大桥主桥全长多少米？\n"))
    assert main(["chat", "--mode", "bm25", "-k", "1", "--corpus", str(mini_corpus), "--index", str(built),
                 "--embedder", "minilm"]) == 0
    out = capsys.readouterr().out
    assert "1280米" in out and "1350米" in out
    assert out.index("1280米") < out.index("1350米")


def test_a_replaced_engine_releases_its_build_once_dropped(built, mini_corpus):
    import gc
    import weakref

    engine = Engine.open(built, mini_corpus, embedder="minilm")
    engine.ask("滨江大桥主桥全长多少米？", k=2, mode="bm25")  # fills the caches a question uses
    _edit_length(mini_corpus, "1350米")
    build_index(mini_corpus, built, embedder="minilm")
    engine.reader.recheck_after(0)
    fresh = engine.refreshed()
    old = weakref.ref(engine.reader)
    del engine
    gc.collect()
    assert old() is None and _length_seen(fresh) == "1350米"
