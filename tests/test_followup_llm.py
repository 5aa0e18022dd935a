"""Follow-ups rewritten by a language model and checked against the conversation, with the
scripted loopback chat server (tests/chat_server.py): no real model."""

from __future__ import annotations

import pytest

from rag.chat.openai import OpenAIChat
from rag.followup_llm import build_messages, entities, rewrite_with_llm, standalone, unsupported
from tests.chat_server import Script

HISTORY = [("川渝两地电子信息制造业规模突破了多少？", "两地电子信息制造业规模突破1.6万亿元。[1]")]


@pytest.fixture
def model(server, monkeypatch):
    """The loopback server as an OpenAI-compatible chat model, with no retries to wait for."""
    monkeypatch.setenv("YUWEN_LLM_URL", server.url)
    monkeypatch.setenv("YUWEN_LLM_RETRIES", "0")
    server.script = Script()
    server.requests.clear()
    return OpenAIChat.from_env()


def test_the_models_rewrite_is_used_when_every_name_comes_from_the_conversation(server, model):
    server.script = Script(reply="四川电子信息制造业规模突破了多少？")
    done = rewrite_with_llm("那四川呢？", HISTORY, model)
    assert (done.text, done.by, done.note) == ("四川电子信息制造业规模突破了多少？", "llm", "")


def test_a_rewrite_naming_a_place_nobody_mentioned_falls_back_to_the_rules(server, model):
    server.script = Script(reply="贵州电子信息制造业规模突破了多少？")
    done = rewrite_with_llm("那四川呢？", HISTORY, model)
    assert done.by == "rules"
    assert done.text == "四川电子信息制造业规模突破了多少？"
    assert "贵州" in done.note


def test_a_rewrite_with_an_invented_number_falls_back_to_the_rules(server, model):
    server.script = Script(reply="川渝两地电子信息制造业规模2.5万亿元是真的吗？")
    done = rewrite_with_llm("那是多少？", HISTORY, model)
    assert done.by == "rules" and "2.5" in done.note


def test_numbers_from_the_previous_answer_are_allowed(server, model):
    server.script = Script(reply="川渝两地电子信息制造业规模突破1.6万亿元后增长了多少？")
    assert rewrite_with_llm("之后增长了多少？", HISTORY, model).by == "llm"


def test_a_failing_model_gives_the_rule_based_rewrite_and_says_why(server, model):
    server.script = Script(statuses=[500])
    done = rewrite_with_llm("那四川呢？", HISTORY, model)
    assert done.by == "rules" and done.text == "四川电子信息制造业规模突破了多少？"
    assert "could not rewrite" in done.note


def test_an_empty_reply_gives_the_rule_based_rewrite(server, model):
    server.script = Script(reply="   ")
    assert rewrite_with_llm("那四川呢？", HISTORY, model).by == "rules"


def test_the_prompt_holds_the_earlier_turns_without_markers_and_the_question(server, model):
    server.script = Script(reply="四川电子信息制造业规模突破了多少？")
    rewrite_with_llm("那四川呢？", HISTORY, model)
    user = server.requests[-1]["body"]["messages"][1]["content"]
    assert HISTORY[0][0] in user and "1.6万亿元" in user and "[1]" not in user
    assert "那四川呢？" in user


def test_no_model_configured_uses_the_rules_with_a_note(monkeypatch):
    monkeypatch.delenv("YUWEN_LLM", raising=False)
    monkeypatch.delenv("YUWEN_LLM_URL", raising=False)
    done = standalone("那四川呢？", HISTORY, use_llm=True)
    assert done.by == "rules" and "no language model" in done.note


def test_without_an_llm_backend_the_model_is_not_asked(server, model):
    done = standalone("那四川呢？", HISTORY, use_llm=False, llm=model)
    assert done.by == "rules" and not server.requests


def test_entities_are_names_numbers_places_and_quoted_terms():
    found = entities("2024年长安汽车在“withU”品牌下于德国投放8款产品")
    assert {"2024", "8", "withU", "德国"} <= set(found)


def test_a_rewrite_that_only_reorders_the_conversations_words_invents_nothing():
    assert unsupported("四川电子信息制造业规模突破了多少？", "那四川呢？", HISTORY) == []


def test_the_prompt_keeps_only_the_recent_turns():
    history = [(f"问题{i}？", f"回答{i}。") for i in range(6)]
    user = build_messages("那呢？", history)[1]["content"]
    assert "问题5" in user and "问题0" not in user


def test_the_engine_reports_who_rewrote_the_follow_up(server, model, tmp_path):
    from tests.conftest import MINI_PAGES, engine_over

    engine = engine_over(MINI_PAGES, tmp_path, "minilm")
    history = [("星河小学机器人队研发了什么机器人？", "星河小学机器人队自主研发了StarBot巡检机器人。[1]")]
    server.script = Script(reply="StarBot巡检机器人有多重？")
    answer = engine.ask("它有多重？", history=history, llm="openai")
    assert (answer.rewritten, answer.rewritten_by) == ("StarBot巡检机器人有多重？", "llm")
    server.script = Script(reply="StarCat巡检机器人有多重？")
    answer = engine.ask("它有多重？", history=history, llm="openai")
    assert answer.rewritten_by == "rules" and "StarCat" in answer.rewrite_note
