"""Shared fixtures: real (small) models and a small real corpus; nothing reaches a model hub."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"

# A tiny corpus of short articles in the layout of the real pages (headline, ■byline, body).
MINI_PAGES = {
    "a.txt": "临江区滨江大桥建成通车\n\n■记者 王五\n\n10月18日，临江区滨江大桥正式建成通车，主桥全长1280米。"
    "大桥由临江城建集团承建，施工全程采用BIM数字化管理。\n\n大桥日均车流量预计达到3万辆。\n",
    "b.txt": "星河小学机器人队研发巡检机器人\n\n■记者 赵六\n\n星河小学机器人队自主研发了StarBot巡检机器人，搭载LiDAR激光导航系统。"
    "机器人重12公斤，由学校科技社团和星河科技馆共同指导。\n",
}


def benchmark_script(name: str):
    """``benchmarks/<name>.py`` loaded as a module (benchmarks/ is no package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def engine_over(pages: dict[str, str], root: Path, embedder: str):
    """An engine over an index of ``pages`` (file name -> text), built under ``root``."""
    from rag.engine import Engine
    from rag.indexing import build_index

    (root / "corpus").mkdir()
    for name, text in pages.items():
        (root / "corpus" / name).write_text(text, "utf-8")
    build_index(root / "corpus", root / "index", embedder=embedder)
    return Engine.open(root / "index", root / "corpus", embedder=embedder)


def assert_idf_counts_the_passages(idf, passages) -> None:
    """``idf`` (an IdfTable) gives, token for token, the IDF of a bm25s index over ``passages``
    (chunks), as the local store builds it; and the highest IDF to a word no passage holds."""
    from rag.answer import IdfTable
    from rag.bm25 import build_bm25

    index = build_bm25([c.embed_text() for c in passages])
    want = IdfTable(index)
    tokens = [*index.vocab_dict, "从未出现过的词"]
    idf.prefetch(tokens)
    assert (idf.n_docs, idf.max_idf) == (want.n_docs, want.max_idf)
    assert {t: idf(t) for t in tokens} == {t: want(t) for t in tokens}


@pytest.fixture
def mini_corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in MINI_PAGES.items():
        (folder / name).write_text(text, "utf-8")
    return folder


@pytest.fixture(scope="session")
def minilm():
    """The small English model carried by a package: real weights, fast, no network."""
    from rag.embedders import load_embedder

    return load_embedder("minilm")


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory) -> tuple[Path, Path]:
    """The real corpus indexed once with the offline default embedder (multilingual-e5-small)."""
    from rag.indexing import build_index

    root = tmp_path_factory.mktemp("demo")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    build_index(corpus, root / "index", embedder="e5-small")
    return corpus, root / "index"


@pytest.fixture(scope="session")
def indexed_e5(tmp_path_factory) -> list[str]:
    """The mini corpus indexed with the default embedder (whose features the committed reader was
    fitted on), as the CLI options that name it; built once for every CLI test."""
    from rag.cli import main

    root = tmp_path_factory.mktemp("cli-e5")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in MINI_PAGES.items():
        (corpus / name).write_text(text, "utf-8")
    assert main(["index", "--corpus", str(corpus), "--index", str(root / "index")]) == 0
    return ["--corpus", str(corpus), "--index", str(root / "index")]


@pytest.fixture(scope="module")
def server():
    """A scripted OpenAI-compatible chat server on loopback (tests/chat_server.py), one per module."""
    from tests.chat_server import LoopbackChatServer

    s = LoopbackChatServer()
    yield s
    s.close()
