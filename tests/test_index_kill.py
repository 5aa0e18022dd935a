"""A writing command killed with SIGKILL at the worst moment leaves the previous index loading and answering."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rag import store
from rag.engine import Engine
from rag.indexing import build_index
from tests.test_incremental import NEW_PAGE

REPO = Path(__file__).resolve().parents[1]

# Runs `rag ARGS…` and SIGKILLs itself at the named moment of the write.
DRIVER = """
import os, signal, sys
from rag import store
moment = sys.argv[1]
if moment == "writing":  # the build folder half written: metadata, vectors and BM25 on disk
    real = store.save_bm25
    def die(*args, **kwargs):
        real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
    store.save_bm25 = die
elif moment == "switching":  # the build complete and renamed, CURRENT not yet replaced
    real_sync = store._fsync_file
    def die_at_pointer(path):
        real_sync(path)
        if path.name == "CURRENT.tmp":
            os.kill(os.getpid(), signal.SIGKILL)
    store._fsync_file = die_at_pointer
from rag.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture
def built(mini_corpus: Path, tmp_path: Path, minilm) -> Path:
    index = tmp_path / "index"
    build_index(mini_corpus, index, embedder="minilm")
    return index


def _killed(moment: str, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-c", DRIVER, moment, *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]


def _still_answers(index: Path, corpus: Path, before: Path) -> None:
    assert store.live_build(index) == before
    engine = Engine.open(index, corpus, embedder="minilm")
    assert engine.reader.check() == []
    assert [a.id for a in engine.articles()] == ["a-01", "b-01"]
    assert "LiDAR" in engine.search("LiDAR", k=1, mode="bm25")[0].chunk.text
    engine.reader.close()


def _next_write_cleans_up(index: Path, corpus: Path) -> None:
    build_index(corpus, index, embedder="minilm")
    live = store.live_build(index)
    leftovers = [p.name for p in index.glob("build-*") if p != live and p.name != store.read_manifest(index).replaces]
    assert leftovers == []


@pytest.mark.parametrize("moment", ["writing", "switching"])
def test_rag_index_killed_leaves_the_previous_index(built, mini_corpus, moment):
    before = store.live_build(built)
    (mini_corpus / "c.txt").write_text(NEW_PAGE, "utf-8")
    _killed(moment, "index", "--corpus", str(mini_corpus), "--index", str(built), "--embedder", "minilm")
    assert list(built.glob("build-*.partial")) if moment == "writing" else len(list(built.glob("build-*"))) == 2
    _still_answers(built, mini_corpus, before)
    _next_write_cleans_up(built, mini_corpus)


def test_rag_add_killed_leaves_the_previous_index(built, mini_corpus, tmp_path):
    before = store.live_build(built)
    page = tmp_path / "lib.txt"
    page.write_text(NEW_PAGE, "utf-8")
    _killed("writing", "add", str(page), "--corpus", str(mini_corpus), "--index", str(built), "--embedder", "minilm")
    _still_answers(built, mini_corpus, before)
    _next_write_cleans_up(built, mini_corpus)


def test_rag_remove_killed_leaves_the_previous_index(built, mini_corpus):
    before = store.live_build(built)
    _killed("writing", "remove", "b.txt", "--corpus", str(mini_corpus), "--index", str(built), "--embedder", "minilm")
    _still_answers(built, mini_corpus, before)
    _next_write_cleans_up(built, mini_corpus)
