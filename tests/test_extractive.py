"""The extractive backend on evidence built by hand: which units an answer takes, and what a
refusal says. (No model: the unit scores and the probability are set here.)"""

from __future__ import annotations

import numpy as np

from rag.answer.evidence import Evidence, candidate_units, missing_constraints
from rag.answer.extractive import AnswerPolicy, answer
from rag.answer.features import UNIT_FEATURES, QuestionView
from rag.answer.neighbours import JOIN_FEATURES
from rag.answer.reader import Linear, Reader
from rag.documents import Article, Chunk
from rag.questions import analyse
from rag.retrieve import Hit
from rag.rules import disabled


def evidence(question: str, text: str, scores: dict[str, float], probability: float = 0.9) -> Evidence:
    """Evidence for ``question`` from one passage holding ``text``: each unit scored by the first
    entry of ``scores`` whose key it contains (others -5)."""
    title = "测试文章"
    full = f"{title}\n{text}"
    a = Article(id="t-01", file="t.txt", title=title, text=full, segments=[(0, len(full), 1)])
    chunk = Chunk(id="t-01:000", article_id=a.id, title=title, file=a.file, start=0, end=len(full), text=full)
    hits = [Hit(row=0, chunk=chunk, score=1.0, dense=0.9)]
    units, neighbours = candidate_units(hits, {a.id: a})
    for u in units:
        u.score = next((v for k, v in scores.items() if k in u.text), -5.0)
        u.features = [0.0] * len(UNIT_FEATURES)
    kind = analyse(question)
    ev = Evidence(question, kind, hits, {a.id: a}, sorted(units, key=lambda u: -u.score), probability)
    ev.neighbours = neighbours
    ev.missing = missing_constraints(QuestionView.of(kind, lambda t: 1.0), hits, ev.best, ev.articles)
    return ev


LIST = "该区今年重点推进三项工作：建设智能工厂；培育数字园区；引进龙头企业。其他工作也在推进。"


def test_a_list_printed_in_one_sentence_stays_whole_for_a_list_question():
    ev = evidence("该区今年重点推进哪些工作？", LIST, {"建设智能工厂": 2.0})
    text = answer(ev, margin=1.0).text
    for item in ("建设智能工厂；", "培育数字园区；", "引进龙头企业。"):
        assert item in text


def test_the_semicolon_rule_switched_off_gives_only_the_first_item():
    ev = evidence("该区今年重点推进哪些工作？", LIST, {"建设智能工厂": 2.0})
    with disabled("semicolon_list", "list_items"):
        text = answer(ev, margin=1.0).text
    assert "建设智能工厂" in text and "引进龙头企业" not in text


def test_units_far_below_the_best_stay_out_of_the_answer():
    ev = evidence("智能工厂建在哪里？", "该区发展迅速。智能工厂建在西区。园区另有食堂。", {"西区": 3.0, "食堂": -2.0})
    text = answer(ev, margin=1.0).text
    assert "西区" in text and "食堂" not in text


def test_low_probability_is_a_refusal_with_the_nearest_passages():
    ev = evidence("火星上有几座工厂？", "智能工厂建在西区。", {"西区": 1.0}, probability=0.05)
    a = answer(ev, threshold=0.5)
    assert a.refused and a.citations and not a.partial


def test_a_missing_year_is_an_honest_partial_answer_naming_the_year_the_article_gives():
    ev = evidence("2021年该区工业产值是多少？", "2023年该区工业产值达到500亿元。", {"500亿元": 2.0}, probability=0.1)
    a = answer(ev, threshold=0.5)
    assert a.refused and a.partial
    assert "2021年" in a.text and "2023年" in a.text and "500亿元" in a.text and "[1]" in a.text
    assert a.citations[0].highlights


def test_a_missing_year_in_an_english_question_is_explained_in_english():
    ev = evidence("What was the district's output in 2021?", "2023年该区工业产值达到500亿元。", {"500亿元": 2.0}, 0.1)
    a = answer(ev, threshold=0.5)
    assert a.partial and a.text.startswith("The articles give no figure for 2021")


def test_a_partial_answer_names_whole_dates_not_time_words_or_pieces_of_them():
    ev = evidence("2021年试行了什么新规则？", "目前协会正在讨论，2020年的前三个月试行了新规则。", {"新规则": 2.0}, 0.1)
    a = answer(ev, threshold=0.5)
    assert a.partial and "文中给出的是“2020年”的" in a.text


def test_a_partial_answer_names_the_places_the_article_gives_as_whole_words():
    ev = evidence("广州市白云区的人口是多少？", "南京市江宁区的人口约一百万。", {"人口": 2.0}, 0.1)
    a = answer(ev, threshold=0.5)
    assert a.partial and "文中给出的是“南京市、江宁区”的" in a.text


def test_partial_answers_switched_off_give_the_plain_refusal():
    ev = evidence("2021年该区工业产值是多少？", "2023年该区工业产值达到500亿元。", {"500亿元": 2.0}, probability=0.1)
    with disabled("partial_answer"):
        a = answer(ev, threshold=0.5)
    assert a.refused and not a.partial and "2023年" not in a.text


def test_a_number_no_passage_holds_refuses_even_with_high_probability():
    ev = evidence("2025年的博览会在哪里举行？", "2024年的博览会在西区举行。", {"西区": 2.0}, probability=0.95)
    a = answer(ev, AnswerPolicy(), threshold=0.5)
    assert a.refused


def _joining(before: float, after: float) -> Reader:
    """A reader whose join models give every neighbour before / after the best unit the logit given."""
    def flat(logit: float) -> Linear:
        n = len(JOIN_FEATURES)
        return Linear(JOIN_FEATURES, np.zeros(n), np.ones(n), np.zeros(n), logit)

    base = Reader.untrained()
    return Reader(unit=base.unit, evidence=base.evidence, join_before=flat(before), join_after=flat(after),
                  join_threshold=0.5)


FACTORY = "西区建成一座智能工厂。它是全市最大的工厂。园区另有食堂。"


def test_the_sentence_before_the_best_joins_when_the_join_model_says_it_holds_the_answer():
    ev = evidence("全市最大的工厂建在哪里？", FACTORY, {"全市最大": 3.0})
    text = answer(ev, margin=0.5, reader=_joining(5.0, -5.0)).text
    assert "西区建成" in text and "全市最大" in text and "食堂" not in text
    assert text.index("西区") < text.index("全市最大")  # in the article's order


def test_no_neighbour_joins_when_the_join_models_say_no():
    ev = evidence("全市最大的工厂建在哪里？", FACTORY, {"全市最大": 3.0})
    assert answer(ev, margin=0.5, reader=_joining(-5.0, -5.0)).text.startswith("它是全市最大的工厂")


def test_the_neighbour_join_switched_off_takes_no_neighbour():
    ev = evidence("全市最大的工厂建在哪里？", FACTORY, {"全市最大": 3.0})
    with disabled("neighbour_join"):
        text = answer(ev, margin=0.5, reader=_joining(5.0, 5.0)).text
    assert "西区" not in text and "食堂" not in text


FESTIVAL = "第一届科技节在西区举办，吸引了三万名观众。"


def test_an_ordinal_changed_in_its_frame_declines_with_what_the_article_states_even_when_likely():
    ev = evidence("第九届科技节在哪里举办？", FESTIVAL, {"西区": 2.0}, probability=0.95)
    a = answer(ev, threshold=0.5)
    assert a.refused and a.partial
    assert "“第九届”" in a.text and "“第一届”" in a.text and "西区" in a.text and "[1]" in a.text


def test_the_ordinal_asked_written_in_digits_is_no_conflict():
    ev = evidence("第三届科技节在哪里举办？", "第3届科技节在西区举办。", {"西区": 2.0}, probability=0.95)
    assert not answer(ev, threshold=0.5).refused


def test_another_ordinal_outside_the_questions_frame_is_no_conflict():
    ev = evidence("第九届科技节在哪里举办？", "科技节今年在西区举办，第一次设了夜场。", {"西区": 2.0}, probability=0.95)
    assert not answer(ev, threshold=0.5).refused


def test_the_frame_rule_switched_off_answers_from_the_other_ordinal():
    ev = evidence("第九届科技节在哪里举办？", FESTIVAL, {"西区": 2.0}, probability=0.95)
    with disabled("frame_conflict"):
        a = answer(ev, threshold=0.5)
    assert not a.refused and "西区" in a.text
