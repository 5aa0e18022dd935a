"""benchmarks/two_questions.py: how it builds two-part questions and scores a reply (the run itself is
measured, not tested)."""

from __future__ import annotations

from tests.conftest import benchmark_script

tq = benchmark_script("two_questions")

TITLES = {"a1": "青石镇", "a2": "青石镇", "b1": "白沙湾"}


def _q(qid: str, question: str, answer: str, passage: str) -> dict:
    return {"id": qid, "question": question, "answers": [answer], "passage_ids": [passage]}


QUESTIONS = [
    _q("1", "石桥建于哪一年？", "一八八二年", "a1"),
    _q("2", "桥长多少米？", "四十米", "a1"),
    _q("3", "桥会在什么季节举办？", "秋天", "a2"),
    _q("4", "镇上共有几座桥？", "一座", "a2"),
    _q("5", "白沙湾的沙滩有多长？", "三公里", "b1"),
]


def test_pairs_join_two_questions_of_one_article_only():
    pairs = tq.build_pairs(QUESTIONS, TITLES, n=10)
    assert len(pairs) == 2  # 白沙湾 has one question, so it pairs with nothing
    for pair in pairs:
        a, b = pair["parts"]
        assert TITLES[a["passage_ids"][0]] == TITLES[b["passage_ids"][0]] == "青石镇"
        assert pair["question"] == f"{a['question'][:-1]}{pair['joiner']}{b['question'][:-1]}？"


def test_pairs_use_both_joiners_and_mark_a_shared_passage():
    pairs = tq.build_pairs(QUESTIONS, TITLES, n=10)
    assert {p["joiner"] for p in pairs} == {"？", "；"}
    for pair in pairs:
        a, b = pair["parts"]
        assert pair["same_passage"] == (a["passage_ids"] == b["passage_ids"])


def test_pairs_whose_answers_overlap_are_left_out():
    overlapping = [_q("1", "桥建于哪一年？", "一八八二年", "a1"), _q("2", "哪一年建桥？", "一八八二", "a1")]
    assert tq.build_pairs(overlapping, TITLES, n=10) == []


def test_pairs_are_the_same_for_the_same_seed_and_capped_at_n():
    assert tq.build_pairs(QUESTIONS, TITLES, n=10, seed=3) == tq.build_pairs(QUESTIONS, TITLES, n=10, seed=3)
    assert len(tq.build_pairs(QUESTIONS, TITLES, n=1)) == 1


def test_a_reply_scores_both_only_when_it_holds_each_parts_gold():
    parts = QUESTIONS[:2]
    assert tq.score("石桥建于一八八二年[1]，长四十米[1]。", False, parts) == {"both": True, "either": True, "refused": False}
    assert tq.score("石桥建于一八八二年[1]。", False, parts) == {"both": False, "either": True, "refused": False}
    assert tq.score("一八八二年，四十米", True, parts)["either"] is False  # a refusal answers nothing


def test_too_few_pairs_is_refused_with_one_line(capsys):
    assert tq.main(["--pairs", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


PRONOUN_TITLES = {"p1": "重庆市", "p2": "重庆市"}
PRONOUN_QUESTIONS = [
    _q("1", "重庆市的石桥建于哪一年？", "一八八二年", "p1"),
    _q("2", "重庆市有多少人口？", "三千万人", "p2"),
    _q("3", "哪条河流经重庆市？", "嘉陵江", "p1"),
]


def test_pronoun_pairs_name_the_article_by_ta_in_the_second_part():
    pairs = tq.build_pairs(PRONOUN_QUESTIONS, PRONOUN_TITLES, n=10, pronoun=True)
    assert pairs
    for pair in pairs:
        first, second = pair["question"].split(pair["joiner"], 1)
        assert "重庆市" in first
        assert second.startswith("它") and "重庆市" not in second


def test_pronoun_pairs_need_the_title_as_a_word_of_its_own():
    titles = {"p1": "重庆", "p2": "重庆"}  # 「重庆市…」 opens with 重庆 only as part of a longer word
    assert tq.build_pairs(PRONOUN_QUESTIONS, titles, n=10, pronoun=True) == []
