"""The typed reply: one JSON object whose spans a client can place in the passage and in the article,
and the OpenAI face's reading of messages and writing of footnotes."""

from __future__ import annotations

import json

import pytest

from rag.answer import Answer, Citation
from rag.answer.reply import Reply, cited_numbers, history_pairs, to_reply
from ui.openai_api import ApiError, markdown, question_and_history, strip_footnotes

ARTICLE = "临江区滨江大桥建成通车\n10月18日，临江区滨江大桥正式建成通车，主桥全长1280米。大桥日均车流量预计达到3万辆。"


def _citation(n: int, start: int, end: int, spans: list[tuple[int, int]]) -> Citation:
    return Citation(n=n, chunk_id=f"a-01:00{n}", article_id="a-01", title="临江区滨江大桥建成通车", byline="■记者 王五",
                    file="a.txt", line_start=1, line_end=2, passage=ARTICLE[start:end], start=start, end=end,
                    highlights=spans, score=0.5)


def _span_of(words: str) -> tuple[int, int]:
    s = ARTICLE.index(words)
    return s, s + len(words)


def test_spans_are_placed_both_in_the_passage_and_in_the_article():
    start = ARTICLE.index("10月18日")
    cited = _span_of("主桥全长1280米。")
    reply = to_reply(Answer("大桥多长？", "大桥多长？", "主桥全长1280米。[1]", False,
                            [_citation(1, start, len(ARTICLE), [cited])], confidence=0.9, k=3))
    (source,) = reply["citations"]
    (span,) = source["spans"]
    assert source["passage"][span["start"]:span["end"]] == span["text"] == "主桥全长1280米。"
    assert ARTICLE[span["article_start"]:span["article_end"]] == span["text"]
    assert ARTICLE[source["passage_start"]:source["passage_end"]] == source["passage"]
    assert source["quote"] == "主桥全长1280米。" and source["passage_id"] == "a-01:001"
    assert reply["nearest"] == [] and reply["k"] == 3 and reply["refused"] is False


def test_a_refusal_gives_its_passages_as_nearest_and_cites_none():
    nearest = [_citation(1, 0, 20, []), _citation(2, 20, 40, [])]
    reply = to_reply(Answer("火星多远？", "火星多远？", "资料中没有找到。", True, nearest, reason="no evidence"))
    assert reply["citations"] == [] and [s["n"] for s in reply["nearest"]] == [1, 2]
    assert reply["nearest"][0]["spans"] == [] and reply["nearest"][0]["quote"] == ""
    assert reply["reason"] == "no evidence"


def test_a_partial_refusal_cites_what_it_states_instead():
    stated = _span_of("大桥日均车流量预计达到3万辆。")
    sources = [_citation(1, 0, 12, []), _citation(2, 12, len(ARTICLE), [stated])]
    reply = to_reply(Answer("q", "q", "资料没有给出2023年的数字；文中给出的是：大桥日均车流量预计达到3万辆。[2]", True, sources,
                            partial=True))
    assert [s["n"] for s in reply["citations"]] == [2] and len(reply["nearest"]) == 2


def test_the_reply_is_plain_json_with_every_documented_field():
    reply = to_reply(Answer("q", "q", "t", True, []))
    assert set(json.loads(json.dumps(reply))) == set(Reply.__annotations__)


def test_cited_numbers_are_listed_once_in_order_of_use():
    assert cited_numbers("甲[2]乙[1]丙[2]") == [2, 1]


def test_history_accepts_objects_or_pairs_and_says_what_a_turn_must_be():
    assert history_pairs([{"question": "甲？", "answer": "乙"}, ["丙？", "丁"]]) == [("甲？", "乙"), ("丙？", "丁")]
    assert history_pairs(None) == []
    with pytest.raises(ValueError, match="question"):
        history_pairs([{"answer": 3}])
    with pytest.raises(ValueError, match="list"):
        history_pairs("甲？")


def test_markdown_turns_markers_into_footnotes_that_quote_the_cited_words():
    start = ARTICLE.index("10月18日")
    reply = to_reply(Answer("q", "q", "主桥全长1280米。[1]", False, [_citation(1, start, len(ARTICLE), [_span_of("主桥全长1280米。")])]))
    text = markdown(reply)
    assert text.startswith("主桥全长1280米。[^1]")
    assert "[^1]: **临江区滨江大桥建成通车** — a.txt, lines 1–2: 「主桥全长1280米。」" in text


def test_markdown_of_a_refusal_lists_the_nearest_passages():
    reply = to_reply(Answer("q", "q", "资料中没有找到。", True, [_citation(1, 0, 12, [])]))
    text = markdown(reply)
    assert "[^" not in text and "Nearest passages" in text and "a.txt, lines 1–2" in text


def test_the_last_user_message_is_the_question_and_earlier_pairs_the_history():
    earlier = markdown(to_reply(Answer("q", "q", "主桥全长1280米。[1]", False, [_citation(1, 0, len(ARTICLE), [])])))
    question, history = question_and_history([
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "滨江大桥多长？"},
        {"role": "assistant", "content": earlier},
        {"role": "user", "content": [{"type": "text", "text": "它什么时候通车？"}]},
    ])
    assert question == "它什么时候通车？"
    assert history == [("滨江大桥多长？", "主桥全长1280米。[1]")]


def test_footnotes_are_stripped_from_an_earlier_reply():
    assert strip_footnotes("甲。[^1]\n\n[^1]: **t** — a.txt: 「甲」") == "甲。[1]"


@pytest.mark.parametrize("messages", [[], None, [{"role": "assistant", "content": "hi"}], [{"content": "no role"}]])
def test_messages_without_a_question_are_a_400(messages):
    with pytest.raises(ApiError) as info:
        question_and_history(messages)
    assert info.value.status == 400 and info.value.body()["error"]["param"] == "messages"


def _timeless(reply: dict) -> dict:
    return {k: v for k, v in reply.items() if k not in ("seconds", "first_token_seconds")}


def test_the_cli_json_and_the_python_helper_give_the_same_object(indexed_e5, capsys):
    from rag.cli import main
    from rag.engine import Engine

    question = "StarBot巡检机器人搭载了什么系统？"
    assert main(["ask", question, "--json", *indexed_e5]) == 0
    printed = json.loads(capsys.readouterr().out)
    opts = dict(zip(indexed_e5[::2], indexed_e5[1::2]))
    engine = Engine.open(opts["--index"], opts["--corpus"])
    reply = json.loads(json.dumps(to_reply(engine.ask(question))))
    assert _timeless(printed) == _timeless(reply) and reply["citations"]


def test_a_follow_up_says_who_rewrote_it_and_why_a_model_rewrite_was_not_used():
    reply = to_reply(Answer("那二桥呢？", "临江区二桥多长？", "资料中没有找到。", True, [], rewritten_by="rules",
                            rewrite_note="the model's rewrite named 2019, which the conversation does not"))
    assert reply["rewritten"] == "临江区二桥多长？" and reply["rewritten_by"] == "rules"
    assert "2019" in reply["rewrite_note"]
