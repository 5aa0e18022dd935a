"""`rag ask/eval --llm`: the draft streams to the terminal, the checked answer follows with its
unsupported sentences marked, and a failing model leaves a notice, never silence."""

from __future__ import annotations

import json

import pytest

from rag.cli import main
from tests.chat_server import Script

QUESTION = "滨江大桥的主桥全长多少米？"


@pytest.fixture
def llm(server, monkeypatch):
    monkeypatch.setenv("YUWEN_LLM_URL", server.url)
    monkeypatch.setenv("YUWEN_LLM_RETRIES", "0")
    server.requests.clear()
    return server


def test_ask_streams_the_draft_then_marks_unsupported_sentences(indexed_e5, llm, capsys):
    llm.script = Script(reply="主桥全长1280米。[1] 大桥获得了国家科技进步一等奖。[1]", pieces=6)
    assert main(["ask", QUESTION, "--llm", "openai", *indexed_e5]) == 0
    out = capsys.readouterr().out
    draft, checked = out.split("(checked against the sources)")
    assert "(draft, as the language model writes it)" in draft and "国家科技进步一等奖" in draft
    assert "主桥全长1280米。[1]\n⚠ 大桥获得了国家科技进步一等奖。" in checked and "not supported by its source" in checked
    assert "1 of 2 sentences supported by their sources · openai:default" in checked and "Sources:" in checked


def test_ask_json_carries_backend_sentences_and_support(indexed_e5, llm, capsys):
    llm.script = Script(reply="主桥全长1280米。[1]")
    assert main(["ask", QUESTION, "--llm", "openai", "--json", *indexed_e5]) == 0
    data = json.loads(capsys.readouterr().out)  # nothing but the JSON object: no draft printed
    assert data["backend"] == "llm" and data["fallback_reason"] == "" and data["support"] == 1.0
    assert data["sentences"][0]["supported"] is True and 0.5 <= data["sentences"][0]["score"] <= 1
    assert data["first_token_seconds"] is not None


def test_a_failing_model_prints_a_notice_and_the_extractive_answer(indexed_e5, llm, capsys):
    llm.script = Script(statuses=[503])
    assert main(["ask", QUESTION, "--llm", "openai", *indexed_e5]) == 0
    out = capsys.readouterr().out
    assert out.startswith("notice: the language model's answer is not given") and "HTTP 503" in out and "1280" in out


def test_eval_with_llm_reports_supported_share_and_time_to_first_token(indexed_e5, llm, tmp_path, capsys):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": QUESTION, "type": "fact", "must_include": ["1280"],
                                     "evidence": [{"quote": "主桥全长1280米"}]}, ensure_ascii=False) + "\n", "utf-8")
    llm.script = Script(reply="主桥全长1280米。[1] 大桥获得了国家科技进步一等奖。[1]", pieces=3)
    assert main(["eval", str(questions), "--llm", "openai", "--json", *indexed_e5]) == 0
    overall = json.loads(capsys.readouterr().out)["overall"]
    assert overall["supported_share"] == 0.5 and overall["fallback_rate"] == 0.0
    assert overall["first_token_p50"] is not None and overall["answer_hit"] == 1.0


def test_eval_without_llm_has_no_llm_figures(indexed_e5, tmp_path, capsys):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": QUESTION}, ensure_ascii=False) + "\n", "utf-8")
    assert main(["eval", str(questions), "--json", *indexed_e5]) == 0
    assert "supported_share" not in json.loads(capsys.readouterr().out)["overall"]
