"""Near-miss twins: one constraint of a question changed to one of the same kind that its article
never states, so the article stays on topic but no longer answers."""

from __future__ import annotations

from rag.bench import summarize_bench
from rag.nearmiss import constraint_pool, twin_of, twins

ARTICLE = ("临江区2023年新建社区健身场地46处。临江区第三届社区运动会在滨江体育公园开幕，"
           "上半年全区接待游客120万人次。区文化旅游委主任刘明远介绍了有关情况。")
POOL = constraint_pool(["沙坪区的公园有多少个？", "北碚区的学校有几所？", "江北区今年种了多少树？",
                        "王建国是哪里人？", "李晓红在哪里工作？"])


def _twin(question: str, key: str = "q1"):
    return twin_of(question, ARTICLE, key, pool=POOL)


def _twin_of_kind(question: str, kind: str):
    """The first twin that changes a constraint of ``kind`` (each key draws one constraint)."""
    return next(t for t in (_twin(question, f"k{i}") for i in range(40)) if t is not None and t.kind == kind)


def test_a_year_the_article_states_becomes_a_nearby_year_it_does_not():
    t = _twin_of_kind("临江区2023年新建了多少处社区健身场地？", "time")
    assert t.original == "2023年"
    assert t.replacement != "2023年" and len(t.replacement) == len("2023年")
    assert t.replacement not in ARTICLE and t.question == f"临江区{t.replacement}新建了多少处社区健身场地？"


def test_a_place_becomes_another_place_of_the_question_set_that_the_article_never_names():
    t = _twin_of_kind("临江区上半年接待游客多少人次？", "place")
    assert t.original == "临江" and t.replacement in POOL["place"] and t.replacement not in ARTICLE


def test_the_first_half_of_a_year_becomes_the_second():
    t = _twin_of_kind("临江区上半年接待游客多少人次？", "time")
    assert (t.original, t.replacement) == ("上半年", "下半年")


def test_a_chinese_ordinal_becomes_another_ordinal():
    t = twin_of("第三届社区运动会在哪里开幕？", ARTICLE, "ordinal", pool={})
    assert t is not None and t.original == "第三届" and t.replacement.startswith("第") and t.replacement not in ARTICLE


def test_a_question_whose_constraints_the_article_does_not_state_has_no_twin():
    assert twin_of("渝中区2019年建了几座桥？", ARTICLE, "none", pool=POOL) is None


def test_a_place_is_never_replaced_by_one_another_passage_of_the_corpus_names():
    corpus = ARTICLE + "\n沙坪区的公园有86个。北碚区有学校40所。江北区种树3万棵。"
    for i in range(20):
        t = twin_of("临江区上半年接待游客多少人次？", ARTICLE, f"k{i}", corpus, pool=POOL)
        assert t is None or t.kind != "place"  # every place of the pool is named somewhere


def test_named_replacements_come_from_jiebas_dictionary_by_the_same_tag():
    t = next(t for t in (twin_of("临江区上半年接待游客多少人次？", ARTICLE, f"k{i}") for i in range(40))
             if t is not None and t.kind == "place")
    import jieba.posseg as pseg

    assert pseg.dt.word_tag_tab.get(t.replacement) == "ns" and t.replacement not in ARTICLE


def test_the_twin_of_a_question_is_the_same_every_time_and_differs_between_keys():
    question = "临江区2023年新建了多少处社区健身场地？"
    assert _twin(question, "a") == _twin(question, "a")
    assert len({_twin(question, k).question for k in "abcdefgh"}) > 1


def test_twins_of_a_question_set_read_each_questions_own_article():
    questions = [{"id": "1", "question": "临江区2023年新建了多少处社区健身场地？", "passage_ids": ["P1"]},
                 {"id": "2", "question": "临江区2023年新建了多少处社区健身场地？", "passage_ids": ["P2"]}]
    out = twins(questions, {"P1": ARTICLE, "P2": "另一篇文章，没有提到年份。"})
    assert set(out) == {"1"}


def test_near_miss_outcomes_are_scored_apart_from_the_normal_run():
    from tests.test_bench import outcome

    m = summarize_bench([
        outcome(1, answer_hit=True, refused=False, cited=1, cited_gold=1),
        outcome(1, answer_hit=False, refused=True, near_miss="time"),
        outcome(1, answer_hit=True, refused=False, near_miss="place"),
    ])
    assert m["answer_hit"] == 1.0 and m["false_refusal_rate"] == 0.0
    assert (m["near_miss_n"], m["near_miss_refusal_accuracy"], m["near_miss_original_answer"]) == (2, 0.5, 0.5)
    assert m["near_miss_by_kind"] == {"place": {"n": 1, "refusal_accuracy": 0.0}, "time": {"n": 1, "refusal_accuracy": 1.0}}


def test_a_text_stating_another_year_conflicts_with_the_asked_year_and_one_stating_it_does_not():
    from rag.answer.features import conflicts
    from rag.questions import constraints_of

    asked = constraints_of("临江区2022年新建了多少处社区健身场地？")
    assert conflicts(asked, "临江区2023年新建社区健身场地46处。") > 0
    assert conflicts(asked, "临江区2022年新建社区健身场地46处。") == 0
    assert conflicts(asked, "社区健身场地遍布全区。") < conflicts(asked, "2023年新建社区健身场地46处。")
