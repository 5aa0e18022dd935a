"""The multi-turn evaluation: conversation files, every turn asked with its history, figures per
turn position; and the committed conversations over the real corpus."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag.evaluate import EvalSetError
from rag.evaluate_turns import evaluate_conversations, is_conversation_file, load_conversations

REPO = Path(__file__).resolve().parents[1]
CONVERSATIONS = REPO / "benchmarks" / "conversations.jsonl"

MINI_CONVERSATIONS = [
    {"id": "bridge", "turns": [
        {"question": "滨江大桥主桥全长多少米？", "type": "fact", "must_include": ["1280米"],
         "evidence": [{"file": "a.txt", "quote": "主桥全长1280米"}]},
        {"question": "它由哪家公司承建？", "type": "fact", "must_include": ["临江城建集团"],
         "evidence": [{"file": "a.txt", "quote": "大桥由临江城建集团承建"}], "standalone": "滨江大桥由哪家公司承建？"},
    ]},
    {"id": "robot", "turns": [
        {"question": "星河小学机器人队研发了什么机器人？", "type": "fact", "must_include": ["StarBot"],
         "evidence": [{"file": "b.txt", "quote": "自主研发了StarBot巡检机器人"}]},
        {"question": "它有多重？", "type": "fact", "must_include": ["12公斤"],
         "evidence": [{"file": "b.txt", "quote": "机器人重12公斤"}], "standalone": ["星河小学机器人队的机器人有多重？"]},
        {"question": "它在火星上卖多少钱？", "type": "unanswerable"},
    ]},
]


def write(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    return path


@pytest.fixture(scope="module")
def mini_engine(tmp_path_factory):
    from tests.conftest import MINI_PAGES, engine_over

    return engine_over(MINI_PAGES, tmp_path_factory.mktemp("turns"), "minilm")


@pytest.fixture(scope="module")
def report(mini_engine):
    return evaluate_conversations(mini_engine, json.loads(json.dumps(MINI_CONVERSATIONS)))


def test_a_file_of_turns_is_told_from_a_question_file(tmp_path):
    assert is_conversation_file(write(tmp_path / "c.jsonl", MINI_CONVERSATIONS))
    assert not is_conversation_file(write(tmp_path / "q.jsonl", MINI_CONVERSATIONS[0]["turns"]))


def test_a_turn_without_a_question_is_refused_with_its_line(tmp_path):
    path = write(tmp_path / "c.jsonl", [{"turns": [{"question": "滨江大桥有多长？"}, {"type": "fact"}]}])
    with pytest.raises(EvalSetError, match=r"c.jsonl:1: turn 2"):
        load_conversations(path)


def test_a_line_without_turns_is_refused(tmp_path):
    with pytest.raises(EvalSetError, match="turns"):
        load_conversations(write(tmp_path / "c.jsonl", [{"turns": []}]))


def test_figures_are_given_per_turn_position_and_overall(report):
    assert report["conversations"] == 2 and report["turns"] == 5
    assert set(report["by_turn"]) == {"1", "2", "3"}
    assert [report["by_turn"][p]["turns"] for p in ("1", "2", "3")] == [2, 2, 1]
    for key in ("recall@5", "mrr@10", "answer_hit", "refusal_accuracy", "citation_precision", "rewrite_accuracy"):
        assert key in report["overall"]


def test_a_follow_up_is_asked_with_the_turns_before_it(report):
    second = next(t for t in report["outcomes"] if t.conversation == "bridge" and t.position == 2)
    assert second.rewritten.startswith("滨江大桥") and second.rewritten.endswith("由哪家公司承建？")
    assert second.rewritten_by == "rules"
    assert second.rewrite_ok is (second.rewritten == "滨江大桥由哪家公司承建？")


def test_a_wrong_rewrite_counts_against_the_rewrite_accuracy(report):
    robot = next(t for t in report["outcomes"] if t.conversation == "robot" and t.position == 2)
    assert robot.rewrite_ok is (robot.rewritten == "星河小学机器人队的机器人有多重？")
    assert report["overall"]["rewrites_checked"] == 2


def test_turns_without_an_expected_rewrite_are_not_scored_for_it(report):
    assert report["by_turn"]["1"]["rewrite_accuracy"] is None
    assert report["by_turn"]["3"]["rewrites_checked"] == 0


def test_the_unanswerable_turn_is_scored_as_a_refusal(report):
    assert report["by_turn"]["3"]["refusal_accuracy"] in (0.0, 1.0)
    assert report["by_turn"]["3"]["recall@5"] is None


def test_rag_eval_takes_a_conversation_file_and_prints_json(tmp_path, indexed_e5, capsys):
    from rag.cli import main

    path = write(tmp_path / "c.jsonl", MINI_CONVERSATIONS)
    assert main(["eval", str(path), *indexed_e5, "--json", "--details"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["turns"] == 5 and set(out["by_turn"]) == {"1", "2", "3"}
    assert [o["position"] for o in out["outcomes"]] == [1, 2, 1, 2, 3]


def test_rag_eval_prints_a_row_per_turn_position(tmp_path, indexed_e5, capsys):
    from rag.cli import main

    assert main(["eval", str(write(tmp_path / "c.jsonl", MINI_CONVERSATIONS)), *indexed_e5]) == 0
    out = capsys.readouterr().out
    assert all(re.search(rf"^{row}\s", out, re.M) for row in ("turn 1", "turn 2", "turn 3", "overall"))


def test_rag_chat_repeating_a_follow_up_searches_the_same_rewrite_each_time(indexed_e5, capsys, monkeypatch):
    import io

    from rag.cli import main

    turns = "星河小学机器人队研发了什么巡检机器人？\n" + "它后来怎么样了？\n" * 4
    monkeypatch.setattr("sys.stdin", io.StringIO(turns))
    assert main(["chat", "--mode", "bm25", *indexed_e5]) == 0
    searched = re.findall(r"\(searched as: (.+)\)", capsys.readouterr().out)
    assert len(searched) == 4 and len(set(searched)) == 1 and "后来后来" not in searched[0]


# --- the committed conversations -----------------------------------------------------------------------
def committed() -> list[dict]:
    return load_conversations(CONVERSATIONS)


def test_there_are_at_least_forty_conversations_of_two_to_four_turns():
    convs = committed()
    assert len(convs) >= 40 and all(2 <= len(c["turns"]) <= 4 for c in convs)


def test_every_evidence_quote_occurs_in_its_article_text():
    from rag.evaluate import _norm
    from rag.ingest import load_corpus

    articles, errors = load_corpus(REPO / "corpus")
    assert not errors
    texts: dict[str, list[str]] = {}
    for a in articles:
        texts.setdefault(a.file, []).append(_norm(a.title + a.text))
    for conv in committed():
        for turn in conv["turns"]:
            for e in turn["evidence"]:
                assert any(_norm(e["quote"]) in t for t in texts[e["file"]]), (turn["id"], e["quote"])


def test_the_conversations_hold_every_kind_of_follow_up_and_expected_refusals():
    tags = {tag for c in committed() for tag in c.get("tags", [])}
    assert {"ellipsis", "pronoun", "ordinal", "correction", "refusal", "english"} <= tags
    refusals = [t for c in committed() for t in c["turns"][1:] if t["type"] == "unanswerable"]
    assert len(refusals) >= 5
