"""Frames of a question's numbers: a passage that fills 「第九届科技节」's frame with another value."""

from __future__ import annotations

import pytest

from rag.answer.frames import frame_conflict, frame_patterns, numeral_value
from rag.questions import Constraint


@pytest.mark.parametrize("text, value", [
    ("十一", 11), ("二十三", 23), ("一九八二", 1982), ("两千零五", 2005), ("三万五千", 35000), ("2,500", 2500),
    ("7", 7), ("3.5", 3.5),
])
def test_numerals_in_digits_or_chinese_read_as_their_value(text, value):
    assert numeral_value(text) == value


def test_a_word_is_no_numeral():
    assert numeral_value("科技") is None


def test_a_number_gets_one_pattern_for_each_side_that_has_two_word_characters():
    patterns = frame_patterns("今年第九届科技节在哪里？", Constraint("第九届", "number"))
    assert [bool(p.search("今年第一届")) for p in patterns] == [True, False]
    assert [bool(p.search("第一届科技节")) for p in patterns] == [False, True]


def test_a_number_beside_punctuation_or_the_question_edge_has_no_frame():
    assert frame_patterns("第九届，在哪里？", Constraint("第九届", "number")) == []


def test_a_name_has_no_frame():
    assert frame_patterns("西区科技节在哪里？", Constraint("西区", "place")) == []


def test_another_value_in_the_frame_is_a_conflict_naming_it():
    c = Constraint("13", "number")
    found = frame_conflict("每周约13小时的家务由谁做？", [c], ["男子每周约6小时的家务。"])
    assert found is not None and found.stated == "6" and found.hit == 0


def test_the_value_asked_in_the_frame_in_any_passage_is_no_conflict():
    c = Constraint("第九届", "number")
    passages = ["第一届科技节在西区。", "第9届科技节在东区。"]
    assert frame_conflict("第九届科技节在哪里？", [c], passages) is None


def test_numbers_listed_with_a_chinese_comma_are_read_apart():
    c = Constraint("8月", "number")
    assert frame_conflict("每年8月举办的庙会叫什么？", [c], ["每年7，8月举办庙会。"]) is None
