"""The verifier's pieces on text written by hand: sentences and their markers, support signals."""

from __future__ import annotations

import numpy as np

from rag.answer.verify import Claim, Passage, coverage, split_claims, support_features, verify

PASSAGE = "10月18日，临江区滨江大桥正式建成通车，主桥全长1280米。大桥由临江城建集团承建。"


def test_markers_after_the_end_mark_belong_to_the_sentence_before():
    claims = split_claims("主桥全长1280米。[1] 大桥由临江城建集团承建。[2][3]")
    assert [(c.text, c.cited) for c in claims] == [("主桥全长1280米。", [1]), ("大桥由临江城建集团承建。", [2, 3])]


def test_full_width_and_comma_separated_markers_are_read():
    claims = split_claims("主桥全长1280米【1】。大桥通车［2］。它很长[1, 3]。")
    assert [c.cited for c in claims] == [[1], [2], [1, 3]]


def test_english_sentences_split_on_full_stops_not_decimals():
    claims = split_claims("The bridge is 1.28 km long [1]. It opened in October [1].")
    assert [c.text for c in claims] == ["The bridge is 1.28 km long.", "It opened in October."]


def test_repeating_a_few_passage_words_does_not_make_coverage():
    assert coverage("滨江大桥主桥全长1280米。", PASSAGE) > 0.9
    assert coverage("大桥大桥大桥完全不同的内容在这里写着呢。", PASSAGE) < 0.4  # only the repeated 大桥 counts


def test_a_number_the_passage_does_not_state_fails_the_numbers_signal():
    assert support_features("主桥全长1280米。", PASSAGE, 0.9)["numbers"] == 1.0
    assert support_features("主桥全长128米。", PASSAGE, 0.9)["numbers"] == 0.0  # 128 is only part of 1280


def test_citations_are_moved_dropped_or_kept_as_unsupported():
    robot = "星河小学机器人队研发了巡检机器人。"
    passages = [Passage(1, robot, [(0, len(robot), robot)], np.array([[1.0, 0.0]])),
                Passage(2, PASSAGE, [(0, len(PASSAGE), PASSAGE)], np.array([[0.0, 1.0]]))]
    claims = [Claim("滨江大桥主桥全长1280米。", [1]), Claim("火星基地明年建成。", [2]), Claim("主桥全长1280米。", [7, 2])]
    checks = verify(claims, passages, np.array([[0.0, 1.0], [0.6, 0.8], [0.0, 1.0]]))
    assert checks[0].supported and checks[0].cited == [2] and checks[0].moved_from == [1]
    assert not checks[1].supported and checks[1].cited == [2] and checks[1].score < 0.5
    assert checks[2].supported and checks[2].cited == [2] and checks[2].dropped == [7]
    assert checks[0].span == (0, len(PASSAGE))


def test_echoed_prompt_delimiters_are_not_sentences():
    from rag.answer.prompt import strip_scaffolding

    reply = "<资料>\n<段落 编号=1>\n标题：滨江大桥\n正文：主桥全长1280米。\n</段落 1>\n</资料>"
    assert [c.text for c in split_claims(strip_scaffolding(reply))] == ["滨江大桥", "主桥全长1280米。"]
