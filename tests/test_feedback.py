"""Ratings of answers: stored in SQLite beside the index, listed, exported as draft test cases."""

from __future__ import annotations

import json

import pytest

from rag.cli import main
from rag.evaluate import load_questions
from rag.feedback import Feedback, FeedbackError, FeedbackMissingError, export_dev_set, feedback_path, list_feedback, record, update

CITED = [{"number": 1, "title": "临江区滨江大桥建成通车", "file": "a.txt", "passage": "主桥全长1280米。"}]


def _down(question="大桥有多长？", **kw) -> Feedback:
    return Feedback(question=question, rating="down", rewritten=kw.pop("rewritten", ""), answer="主桥全长1280米[1]。",
                    citations=CITED, backend="extractive", mode="hybrid", **kw)


def test_a_rating_is_stored_with_everything_that_answered(tmp_path):
    path = feedback_path(tmp_path / "index")
    rid = record(path, _down(comment="说的是引桥"))
    [row] = list_feedback(path)
    assert row.id == rid and row.rating == "down" and row.comment == "说的是引桥"
    assert row.citations == CITED and row.backend == "extractive" and row.mode == "hybrid"
    assert row.time  # stamped when stored


def test_rating_and_comment_can_be_changed_later(tmp_path):
    path = tmp_path / "fb.sqlite3"
    rid = record(path, Feedback(question="q", rating="up"))
    update(path, rid, rating="down", comment="wrong year")
    [row] = list_feedback(path)
    assert (row.rating, row.comment) == ("down", "wrong year")
    with pytest.raises(FeedbackMissingError):
        update(path, rid + 99, comment="x")


def test_an_unknown_rating_is_refused(tmp_path):
    with pytest.raises(FeedbackError, match="'up' or 'down'"):
        record(tmp_path / "fb.sqlite3", Feedback(question="q", rating="meh"))


def test_a_damaged_database_gives_one_clear_line_and_is_left_alone(tmp_path):
    path = tmp_path / "fb.sqlite3"
    path.write_bytes(b"this is not a database, just some bytes" * 40)
    with pytest.raises(FeedbackError, match="damaged.*move it away"):
        record(path, Feedback(question="q", rating="up"))
    assert path.read_bytes().startswith(b"this is not a database")


def test_export_writes_thumbs_down_rows_in_the_dev_set_schema(tmp_path):
    path = tmp_path / "fb.sqlite3"
    record(path, Feedback(question="好的", rating="up"))
    record(path, _down(question="那它呢？", rewritten="滨江大桥有多长？", comment="不对"))
    out = tmp_path / "cases.jsonl"
    assert export_dev_set(path, out) == 1
    [case] = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert {"id", "question", "type", "answer", "must_include", "evidence", "article"} <= set(case)
    assert case["question"] == "滨江大桥有多长？", "the standalone question, not the follow-up"
    assert case["article"] == "临江区滨江大桥建成通车"
    assert case["feedback"]["comment"] == "不对" and case["feedback"]["asked"] == "那它呢？"
    assert load_questions(out)[0]["id"] == case["id"], "rag eval can read the file"


def test_cli_lists_and_exports(tmp_path, capsys):
    index = tmp_path / "index"
    record(feedback_path(index), _down(comment="too short"))
    assert main(["feedback", "--index", str(index), "list"]) == 0
    assert "大桥有多长" in capsys.readouterr().out
    out = tmp_path / "down.jsonl"
    assert main(["feedback", "--index", str(index), "export", str(out)]) == 0
    assert "wrote 1" in capsys.readouterr().out
    assert len(out.read_text("utf-8").splitlines()) == 1


def test_cli_says_one_line_for_a_damaged_database(tmp_path, capsys):
    index = tmp_path / "index"
    index.mkdir()
    feedback_path(index).write_bytes(b"garbage" * 100)
    assert main(["feedback", "--index", str(index), "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "damaged" in err and len(err.splitlines()) == 1
