"""jieba's dictionary from yuwen's compact cache gives exactly jieba's own tokens, and a damaged
cache only costs speed. Each check runs in a fresh process: jieba's dictionary is process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEXT = "临江区智慧停车平台上线试运行，首批接入公共停车场52个、泊位1.8万个；市民可在线预约停车并缴费。"

_WITH_CACHE = f"""
import json, jieba, rag.lexical as L
print(json.dumps([L.tokenize({TEXT!r}), jieba.lcut({TEXT!r}, HMM=False), jieba.dt.total]))
"""
_JIEBA_ITSELF = f"""
import json, jieba
jieba.setLogLevel(60)
print(json.dumps([[t.strip().lower() for t in jieba.lcut_for_search({TEXT!r})], jieba.lcut({TEXT!r}, HMM=False), jieba.dt.total]))
"""


def _run(code: str, cache: Path) -> list:
    env = {**os.environ, "YUWEN_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(out.stdout)


def _cache_files(cache: Path) -> list[Path]:
    return sorted((cache / "jieba").glob("jieba-*"))


def test_the_first_load_writes_the_cache_and_the_second_reads_it_with_identical_tokens(tmp_path):
    first = _run(_WITH_CACHE, tmp_path)
    assert [p.suffix for p in _cache_files(tmp_path)] == [".npy", ".words"]
    second = _run(_WITH_CACHE, tmp_path)
    own = _run(_JIEBA_ITSELF, tmp_path)
    assert first == second
    assert second[1:] == own[1:]  # the same words and the same total count
    assert set(second[0]) <= set(own[0])  # tokenize only drops stopwords and punctuation


def test_a_damaged_cache_falls_back_to_jiebas_own_load_and_is_rewritten(tmp_path):
    good = _run(_WITH_CACHE, tmp_path)
    words = next(p for p in _cache_files(tmp_path) if p.suffix == ".words")
    words.write_text("只有一个词", "utf-8")  # no longer as many words as counts
    assert _run(_WITH_CACHE, tmp_path) == good
    assert len(words.read_text("utf-8").split("\n")) > 100_000


def test_an_unwritable_cache_folder_only_costs_speed(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", "utf-8")
    own = _run(_JIEBA_ITSELF, tmp_path)
    assert _run(_WITH_CACHE, blocker)[1:] == own[1:]
