"""The app's engine holder: opened once, rebuilt with progress, missing index explained."""

from __future__ import annotations

from pathlib import Path

from ui.app import EngineHolder, citation_json


def test_rebuild_reports_progress_and_opens_the_new_index(mini_corpus: Path, tmp_path: Path):
    holder = EngineHolder(None, tmp_path / "index", mini_corpus, embedder="minilm")
    assert holder.try_get()[0] is None and "rag index" in holder.last_error
    seen: list[tuple[float, str]] = []
    engine = holder.rebuild(lambda f, m: seen.append((f, m)))
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0
    assert all(0.0 <= f <= 1.0 and m for f, m in seen), seen
    assert holder.get() is engine, "the engine is opened once and then reused"
    assert engine.status()["articles"] == 2
    answer = engine.ask("星河小学机器人队研发了什么？", k=2, mode="bm25")
    sources = [citation_json(c, nearest=answer.refused) for c in answer.citations]
    assert sources and {"number", "chunk_id", "title", "file", "line_start", "line_end", "passage"} <= set(sources[0])
