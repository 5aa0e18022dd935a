"""Asking questions through the Python API."""

import pytest

from rag.engine import Engine, QuestionError
from tests.conftest import MINI_PAGES, engine_over


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    # The default embedder: the committed reader is fitted on its features.
    return engine_over(MINI_PAGES, tmp_path_factory.mktemp("engine"), "e5-small")


def test_empty_question_is_a_clear_error(engine):
    with pytest.raises(QuestionError, match="empty"):
        engine.ask("   ")


def test_huge_question_is_a_clear_error_not_a_crash(engine):
    with pytest.raises(QuestionError, match="100,000 characters"):
        engine.ask("问" * 100_000)


def test_unknown_mode_is_a_clear_error(engine):
    with pytest.raises(QuestionError, match="mode"):
        engine.ask("重庆", mode="magic")


def test_answer_cites_the_passage_its_sentence_comes_from(engine):
    answer = engine.ask("StarBot巡检机器人搭载了什么系统？", mode="bm25")
    assert not answer.refused
    assert "[1]" in answer.text
    first = answer.citations[0]
    article = engine.article(first.article_id)
    for s, e in first.highlights:
        assert article.text[s:e] in answer.text
        assert first.start <= s and e <= first.end


def test_citation_names_file_and_source_lines(engine):
    answer = engine.ask("StarBot巡检机器人搭载了什么系统？", mode="bm25")
    c = answer.citations[0]
    assert c.file == "b.txt" and 1 <= c.line_start <= c.line_end


def test_question_about_absent_facts_is_declined_with_nearest_passages(engine):
    answer = engine.ask("2019年滨江大桥日均车流量是多少？", mode="bm25")
    assert answer.refused
    assert "没有找到" in answer.text
    assert answer.citations  # the nearest passages are still shown


def test_articles_are_listed_with_titles(engine):
    titles = [a.title for a in engine.articles()]
    assert "临江区滨江大桥建成通车" in titles
