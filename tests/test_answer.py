"""Extractive answers: the sources' own sentences, cited; refusals when evidence is missing."""

import pytest

from rag.documents import Article
from rag.units import answer_units
from tests.conftest import engine_over

SECTIONED = (
    "推进城市治理现代化\n■记者 王五\n"
    "城市治理是国家治理的重要内容。各地积极探索，取得明显成效。\n"
    "强化数字赋能，夯实治理基础。依托大数据平台，实现城市运行一网统管。\n"
    "推进服务提质，提升治理效能。推动政务服务一网通办，群众办事更加便利。\n"
    "加强人才培养，筑牢治理支撑。建设实训基地，培养复合型治理人才。\n"
    "（作者单位：某某大学公共管理学院）\n"
)


def article(text: str, aid: str = "x-01") -> Article:
    lines = text.split("\n")
    return Article(id=aid, file="x.txt", title=lines[0], byline=lines[1].lstrip("■"), text=text,
                   note="（作者单位：某某大学公共管理学院）", segments=[(0, len(text), 1)])


def test_answer_units_leave_out_headline_and_byline():
    a = article(SECTIONED)
    texts = [a.text[s:e] for s, e, _ in answer_units(a)]
    assert "推进城市治理现代化" not in texts and "■记者 王五" not in texts
    assert "城市治理是国家治理的重要内容。" in texts


def test_answer_units_keep_the_author_note_and_table_rows():
    a = article(SECTIONED + "| 1. 甲单位 | 2. 乙单位 |\n")
    texts = [a.text[s:e] for s, e, _ in answer_units(a)]
    assert "（作者单位：某某大学公共管理学院）" in texts
    assert "| 1. 甲单位 | 2. 乙单位 |" in texts


def test_answer_units_mark_short_paragraph_leads():
    a = article(SECTIONED)
    leads = [a.text[s:e] for s, e, lead in answer_units(a) if lead]
    assert "强化数字赋能，夯实治理基础。" in leads and "推进服务提质，提升治理效能。" in leads


@pytest.fixture(scope="module")
def sectioned_engine(tmp_path_factory):
    pages = {
        "x.txt": SECTIONED,
        "y.txt": "临江区文旅消费快速增长\n\n■记者 张三\n\n今年前三季度，临江区文旅消费总额达到86.5亿元，同比增长9%。\n",
    }
    return engine_over(pages, tmp_path_factory.mktemp("sectioned"), "e5-small")


def test_every_answer_sentence_is_quoted_verbatim_and_highlighted(sectioned_engine):
    answer = sectioned_engine.ask("临江区前三季度文旅消费总额是多少？")
    assert not answer.refused
    for c in answer.citations:
        text = sectioned_engine.article(c.article_id).text
        for s, e in c.highlights:
            assert f"{text[s:e]}[{c.n}]" in answer.text


def test_question_asking_for_aspects_is_answered_with_the_section_leads(sectioned_engine):
    answer = sectioned_engine.ask("文章从哪几个方面论述推进城市治理现代化？")
    for lead in ("强化数字赋能，夯实治理基础。", "推进服务提质，提升治理效能。", "加强人才培养，筑牢治理支撑。"):
        assert lead in answer.text


def test_author_question_is_answered_from_the_author_note(sectioned_engine):
    answer = sectioned_engine.ask("《推进城市治理现代化》的作者在哪个单位？")
    assert "某某大学公共管理学院" in answer.text


def test_quantity_in_a_unit_no_passage_states_is_declined(sectioned_engine):
    answer = sectioned_engine.ask("临江区前三季度新增了多少家企业？")
    assert answer.refused and "家" in answer.reason


def test_year_no_passage_mentions_is_declined(sectioned_engine):
    answer = sectioned_engine.ask("2019年临江区文旅消费总额是多少？")
    assert answer.refused and "2019" in answer.reason


def test_off_topic_question_is_declined(sectioned_engine):
    answer = sectioned_engine.ask("红烧肉怎么做才好吃？")
    assert answer.refused


def test_english_question_is_answered_from_chinese_evidence(sectioned_engine):
    answer = sectioned_engine.ask("How much did consumers spend on culture and tourism in Linjiang District in the first three quarters?")
    assert not answer.refused
    assert "86.5亿元" in answer.text


ENUMERATED = (
    "推进乡村全面振兴\n■记者 赵六\n"
    "乡村振兴是新时代的重要任务。各地积极探索，取得明显成效。\n"
    "深刻认识乡村振兴的重大意义。乡村兴则国家兴，乡村衰则国家衰。\n"
    "准确把握乡村振兴的总体要求。坚持农业农村优先发展，坚持农民主体地位。\n"
    "积极探索乡村振兴的实践路径。推进乡村振兴要久久为功。一是以产业发展带动增收。发展特色种植和乡村旅游。"
    "二是以人才引进激发活力。吸引青年返乡创业。三是以基层治理凝聚合力。完善村民自治制度。\n"
)


@pytest.fixture(scope="module")
def enumerated_engine(tmp_path_factory):
    return engine_over({"v.txt": ENUMERATED}, tmp_path_factory.mktemp("enumerated"), "e5-small")


def test_ways_question_is_answered_with_the_items_of_the_paragraph_that_enumerates_them(enumerated_engine):
    answer = enumerated_engine.ask("推进乡村振兴可以通过哪些途径？")
    for item in ("一是以产业发展带动增收。", "二是以人才引进激发活力。", "三是以基层治理凝聚合力。"):
        assert item in answer.text


def test_aspects_question_is_answered_with_the_article_sections_even_beside_an_enumeration(enumerated_engine):
    answer = enumerated_engine.ask("文章从哪几个方面论述推进乡村全面振兴？")
    for lead in ("深刻认识乡村振兴的重大意义。", "准确把握乡村振兴的总体要求。", "积极探索乡村振兴的实践路径。"):
        assert lead in answer.text
