"""Questions that ask several things at once (A和B分别…, 两篇文章的作者…, two questions in one):
the answer draws each thing from its own evidence, across articles."""

from __future__ import annotations

import pytest

from rag.documents import Chunk
from rag.engine import Engine
from rag.retrieve import Hit, widen
from tests.conftest import engine_over

PAGES = {
    "culture.txt": "推动乡村旅游提质升级\n■刘一\n"
    "乡村旅游是乡村振兴的重要抓手。建设乡村旅游大数据平台，推动服务精细化。\n"
    "培养乡村旅游人才，为产业提供长效动力。\n"
    "（作者单位：甲乙大学旅游学院）\n",
    "digital.txt": "加快发展乡村民宿经济\n■陈二\n"
    "民宿经济是乡村旅游的新亮点。实施民宿“品牌计划”，鼓励民宿企业拓展客源市场。\n"
    "完善民宿服务标准体系，形成全域覆盖的服务格局。\n"
    "（作者单位：丙丁农业大学）\n",
    "cq.txt": "重庆工业稳步增长\n■记者 张三\n今年前三季度，重庆工业增加值同比增长6.5%，汽车产量保持全国第一。\n",
    "sc.txt": "四川工业加快转型\n■记者 李四\n今年前三季度，四川工业增加值同比增长7.2%，电子信息产业规模扩大。\n",
    "food.txt": "火锅节开幕\n■记者 王五\n第十届火锅美食节在南岸区开幕，吸引游客十万人次。\n",
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    return engine_over(PAGES, tmp_path_factory.mktemp("several"), "e5-small")


def test_authors_of_two_articles_are_both_named(engine):
    answer = engine.ask("两篇谈乡村旅游的报道，作者各在哪所高校？", k=1)
    assert "甲乙大学旅游学院" in answer.text and "丙丁农业大学" in answer.text
    assert {c.article_id for c in answer.citations} >= {engine_article(engine, "culture.txt"), engine_article(engine, "digital.txt")}


def test_each_of_two_coordinated_things_gets_its_own_fact(engine):
    answer = engine.ask("重庆和四川的工业增加值分别增长了多少？", k=1)
    assert not answer.refused
    assert "6.5%" in answer.text and "7.2%" in answer.text


def test_a_single_question_reads_only_its_own_top_passages(engine):
    answer = engine.ask("重庆工业增加值增长了多少？", k=1)
    assert "6.5%" in answer.text and "7.2%" not in answer.text


def test_an_emphasis_quote_the_articles_word_otherwise_does_not_refuse_an_on_topic_question(engine):
    answer = engine.ask("民宿企业怎样“引客来”拓展客源市场？")
    assert not answer.refused
    assert "品牌计划" in answer.text


def test_an_emphasis_quote_on_an_off_topic_question_still_refuses(engine):
    assert engine.ask("“星际快递”每天送多少件包裹？").refused


def test_two_questions_about_two_articles_are_answered_from_both(engine):
    answer = engine.ask("火锅美食节在哪个区开幕？四川工业增加值同比增长了多少？", k=1)
    assert not answer.refused
    assert "南岸区" in answer.text and "7.2%" in answer.text


def test_evidence_whose_every_part_is_answered_is_at_least_as_probable_as_its_least_part(engine):
    question = "火锅美食节在哪个区开幕？四川工业增加值同比增长了多少？"
    hits = engine.search(question, k=1, cosines=True)
    plain = engine.evidence(question, hits, ("火锅美食节在哪个区开幕", "四川工业增加值同比增长了多少"))
    lifted = engine.evidence(question, hits, ("火锅美食节在哪个区开幕", "四川工业增加值同比增长了多少"), floor=0.97)
    assert lifted.probability == max(plain.probability, 0.97)
    assert lifted.reason == ""


def test_a_part_no_article_answers_sets_no_floor(engine):
    from rag.questions import analyse

    question = "火锅美食节在哪个区开幕？火星基地住着多少名宇航员？"
    _, parts, floor = engine._hits_for(question, analyse(question), 1, "hybrid")
    assert floor is None
    assert "火锅美食节在哪个区开幕" in parts


def engine_article(engine: Engine, file: str) -> str:
    return next(a.id for a in engine.articles() if a.file == file)


def _hit(row: int, article: str) -> Hit:
    chunk = Chunk(id=f"{article}:{row:03d}", article_id=article, ordinal=row, start=0, end=1, text="x", title="t", file="f")
    return Hit(row=row, chunk=chunk, score=1.0 / (row + 1))


def test_widen_adds_each_parts_best_passages_after_the_questions_own():
    own = [_hit(0, "a"), _hit(1, "a")]
    part = [_hit(1, "a"), _hit(7, "b"), _hit(8, "b")]
    assert [h.row for h in widen(own, [part])] == [0, 1, 7]


def test_widen_brings_in_a_second_article_from_the_deeper_ranking():
    own = [_hit(0, "a"), _hit(1, "a")]
    deeper = [_hit(2, "a"), _hit(5, "c"), _hit(6, "d")]
    assert [h.row for h in widen(own, [], deeper)] == [0, 1, 5]


def test_a_question_and_its_parts_are_embedded_in_one_batch(engine, monkeypatch):
    from rag.embedders import query_vector

    query_vector.cache_clear()
    batches: list[int] = []
    encode = engine.embedder.model.encode

    def counting(texts, **kw):
        batches.append(len(texts))
        return encode(texts, **kw)

    monkeypatch.setattr(engine.embedder.model, "encode", counting)
    answer = engine.ask("重庆和四川的工业增加值分别增长了多少？", k=1)
    assert "6.5%" in answer.text and "7.2%" in answer.text
    assert batches[0] == 3  # the whole question and its two parts


def test_a_pronoun_is_read_as_the_thing_the_corpus_answers_about(engine):
    from rag.questions import analyse

    question = "吸引游客十万人次的美食节在重庆哪个区开幕？它的工业增加值同比增长了多少？"
    kind = analyse(question)
    assert kind.parts[1] != "重庆的工业增加值同比增长了多少"  # the subject is read first
    _, parts, _ = engine._hits_for(question, kind, 1, "hybrid")
    assert "重庆的工业增加值同比增长了多少" in parts


def test_with_readings_off_a_pronoun_is_read_as_the_subject_only(engine):
    from rag.questions import analyse
    from rag.rules import disabled

    question = "吸引游客十万人次的美食节在重庆哪个区开幕？它的工业增加值同比增长了多少？"
    with disabled("antecedent_readings"):
        _, parts, _ = engine._hits_for(question, analyse(question), 1, "hybrid")
    assert "重庆的工业增加值同比增长了多少" not in parts


def test_a_follow_ups_pronoun_is_read_as_the_thing_the_corpus_answers_about(engine):
    history = [("Nova实验室在哪一年迁到了重庆？", "资料没有给出。")]
    answer = engine.ask("它的工业增加值同比增长了多少？", k=1, history=history)
    assert answer.rewritten == "重庆的工业增加值同比增长了多少？"  # no passage names Nova
    assert "6.5%" in answer.text


def test_a_follow_ups_rewrite_the_corpus_answers_is_kept_over_other_readings(engine):
    kept, ranking = engine._likeliest("四川工业增加值同比增长了多少？", ("重庆工业增加值同比增长了多少？",), 1, "hybrid", ())
    assert kept == "四川工业增加值同比增长了多少？"
    assert [h.chunk.id for h in ranking] == [h.chunk.id for h in engine.search(kept, k=1, cosines=True)]


def test_with_readings_off_a_follow_ups_pronoun_is_read_as_the_topic_only(engine):
    from rag.rules import disabled

    history = [("Nova实验室在哪一年迁到了重庆？", "资料没有给出。")]
    with disabled("antecedent_readings"):
        answer = engine.ask("它的工业增加值同比增长了多少？", k=1, history=history)
    assert answer.rewritten != "重庆的工业增加值同比增长了多少？"
