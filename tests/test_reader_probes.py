"""benchmarks/reader_probes.py: its argument checks and the sentence task of ``cross_sanity``,
on a toy benchmark folder written here (the probes themselves are measured, not tested)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import benchmark_script

probes = benchmark_script("reader_probes")


def _bench(folder: Path, passages: list[dict], questions: list[dict]) -> Path:
    folder.mkdir()
    for name, rows in (("passages.jsonl", passages), ("questions.jsonl", questions)):
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return folder


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    text = "青石镇位于河谷东岸。镇上的石桥建于一八八二年。桥长四十米，共有五孔。每年秋天镇上举办桥会。"
    return _bench(tmp_path / "toy", [
        {"id": "p1", "title": "青石镇", "text": text},
        {"id": "p2", "title": "短文", "text": "只有一句话。"},
    ], [
        {"id": "q1", "question": "石桥建于哪一年？", "answers": ["一八八二年"], "passage_ids": ["p1"]},
        {"id": "q2", "question": "镇上有什么？", "answers": ["镇"], "passage_ids": ["p1"]},
        {"id": "q3", "question": "这是几句话？", "answers": ["一句"], "passage_ids": ["p2"]},
    ])


def test_sentence_task_labels_the_one_sentence_holding_the_answer(bench):
    picks = probes._sentence_picks(bench, limit=10, seed=0)
    assert len(picks) == 1
    question, sentences, gold = picks[0]
    assert question == "石桥建于哪一年？"
    assert len(sentences) == 4
    assert "一八八二年" in sentences[gold]
    assert sum("一八八二年" in s for s in sentences) == 1


def test_sentence_task_keeps_at_most_eight_sentences_with_the_answer_among_them(tmp_path):
    text = "".join(f"第{i}段说的是第{i}件事。" for i in range(12)) + "答案藏在这一句里。"
    folder = _bench(tmp_path / "long", [{"id": "p", "title": "长文", "text": text}],
                    [{"id": "q", "question": "答案在哪里？", "answers": ["藏在这一句"], "passage_ids": ["p"]}])
    (_, sentences, gold), = probes._sentence_picks(folder, limit=10, seed=3)
    assert len(sentences) == 8
    assert "藏在这一句" in sentences[gold]


def test_unknown_probe_name_is_refused_with_one_line(bench, capsys):
    assert probes.main(["--fit", str(bench), "--check", str(bench), "--probes", "trees,nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]


def test_empty_probe_list_is_refused(bench, capsys):
    assert probes.main(["--fit", str(bench), "--check", str(bench), "--probes", " , "]) == 2
    assert "none" in capsys.readouterr().err


def test_malformed_bench_is_refused_by_the_sentence_task(tmp_path):
    from rag.bench import BenchError

    folder = _bench(tmp_path / "bad", [{"id": "p", "title": "t", "text": "一句。两句。"}],
                    [{"id": "q", "question": "问什么？", "answers": ["一句"], "passage_ids": ["gone"]}])
    with pytest.raises(BenchError, match="gone"):
        probes._sentence_picks(folder, limit=1, seed=0)


def test_folder_without_questions_is_refused(tmp_path, bench, capsys):
    (tmp_path / "empty").mkdir()
    assert probes.main(["--fit", str(tmp_path / "empty"), "--check", str(bench)]) == 2
    assert "no questions.jsonl" in capsys.readouterr().err
