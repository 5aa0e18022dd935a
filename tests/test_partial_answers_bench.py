"""benchmarks/partial_answers.py: how it reads a partial answer and scores a twin's reply (the run
itself is measured, not tested)."""

from __future__ import annotations

from tests.conftest import benchmark_script

pa = benchmark_script("partial_answers")

ZH = "资料没有给出“1990年”的相关信息（所问年份或时段）；文中给出的是“1988年”的：石桥于1988年重修，长四十米。[1]"
EN = ("The articles give no figure for 1990 (year or period asked about); what they state is for 1988: "
      "The bridge was rebuilt in 1988.[1]")


def test_a_chinese_partial_answer_gives_what_was_asked_and_what_is_stated():
    assert pa.read_partial(ZH) == ("1990年", "1988年")


def test_an_english_partial_answer_gives_what_was_asked_and_what_is_stated():
    assert pa.read_partial(EN) == ("1990", "1988")


def test_a_plain_refusal_is_not_a_partial_answer():
    assert pa.read_partial("资料中没有找到这个问题的答案。") is None


def test_a_good_partial_answer_names_both_constraints_and_holds_the_gold():
    row = pa.score_twin(ZH, refused=True, partial=True, original="1988年", replacement="1990年", answers=["四十米"])
    assert row == {"refused": True, "partial": True, "names_asked": True, "names_stated": True, "holds_gold": True}


def test_a_partial_answer_that_states_another_value_does_not_name_the_original():
    row = pa.score_twin(ZH, refused=True, partial=True, original="1986年", replacement="1990年", answers=["五十米"])
    assert row["partial"] and row["names_asked"]
    assert not row["names_stated"] and not row["holds_gold"]


def test_an_answered_twin_is_neither_refused_nor_partial():
    row = pa.score_twin("石桥长四十米。[1]", refused=False, partial=False, original="1988年", replacement="1990年",
                        answers=["四十米"])
    assert row == {"refused": False, "partial": False, "names_asked": False, "names_stated": False,
                   "holds_gold": False}


def test_summary_shares_of_partial_answers_are_taken_over_the_partial_ones_only():
    good = {"refused": True, "partial": True, "names_asked": True, "names_stated": True, "holds_gold": True}
    plain = {"refused": True, "partial": False, "names_asked": False, "names_stated": False, "holds_gold": False}
    answered = {**plain, "refused": False}
    s = pa.summarize([good, plain, answered, answered])
    assert s["n"] == 4 and s["refused"] == 0.5 and s["partial"] == 0.25 and s["partial_of_refused"] == 0.5
    assert s["names_asked"] == s["names_stated"] == s["holds_gold"] == 1.0


def test_limit_below_one_is_one_clear_line(capsys):
    assert pa.main(["--limit", "0"]) == 2
    assert capsys.readouterr().err.strip() == "partial_answers: --limit must be at least 1"
