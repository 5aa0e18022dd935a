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
    "a.txt": "川渝工业增加值快速增长\n\n■记者 张三\n\n今年前三季度，成渝地区双城经济圈工业增加值达到1.68万亿元，同比增长6%。"
    "两地共同培育先进制造业集群。\n\n重庆汽车产量保持全国第一。\n",
    "b.txt": "重庆南开中学研发教育大模型\n\n■记者 李四\n\n重庆南开中学自主研发了AI·NK教育大模型，接入DeepSeek深度思考能力。"
    "教师有智慧助手，学生有学习伙伴。\n",
}


def engine_over(pages: dict[str, str], root: Path, embedder: str):
    """An engine over an index of ``pages`` (file name -> text), built under ``root``."""
    from rag.engine import Engine
    from rag.indexing import build_index

    (root / "corpus").mkdir()
    for name, text in pages.items():
        (root / "corpus" / name).write_text(text, "utf-8")
    build_index(root / "corpus", root / "index", embedder=embedder)
    return Engine.open(root / "index", root / "corpus", embedder=embedder)


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
