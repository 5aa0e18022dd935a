"""The app as a service: the /ask endpoint through gradio_client, against the real engine."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def test_ask_returns_one_object_with_text_markers_and_citations(client):
    reply = client.predict(question="重庆制造业大会部署了几项重大任务？", k=5, mode="hybrid", api_name="/ask")
    assert "[1]" in reply["text"] and "7项" in reply["text"]
    assert reply["backend"] == "extractive" and not reply["fallback_reason"] and not reply["refused"]
    assert reply["question"] == reply["rewritten"] == "重庆制造业大会部署了几项重大任务？"
    assert reply["k"] == 5 and reply["mode"] == "hybrid" and 0.5 < reply["confidence"] <= 1
    first = reply["citations"][0]
    assert first["n"] == 1 and first["file"].endswith(".txt") and 1 <= first["line_start"] <= first["line_end"]
    assert "7项" in first["passage"] and reply["nearest"] == []


def test_every_cited_span_is_placed_in_its_passage_and_its_article(client):
    reply = client.predict(question="重庆制造业大会部署了几项重大任务？", api_name="/ask")
    for source in reply["citations"]:
        assert source["spans"], "each citation of an answer marks the words it used"
        for span in source["spans"]:
            assert source["passage"][span["start"]:span["end"]] == span["text"]
            offset = source["passage_start"]
            assert (span["article_start"] - offset, span["article_end"] - offset) == (span["start"], span["end"])
        assert all(span["text"] in reply["text"] for span in source["spans"])


def test_ask_defaults_k_and_mode(client):
    reply = client.predict(question="What is the global user brand that Changan Automobile will create for customers in Europe called?",
                           api_name="/ask")
    assert "withU" in reply["text"] and reply["citations"] and reply["k"] == 5


def test_ask_reads_a_follow_up_in_its_history(client):
    first = client.predict(question="川渝两地的汽车产业整体规模达到了多少？", api_name="/ask")
    reply = client.predict(question="那电子信息产业呢？",
                           history=[{"question": "川渝两地的汽车产业整体规模达到了多少？", "answer": first["text"]}],
                           api_name="/ask")
    assert reply["question"] == "那电子信息产业呢？" and reply["rewritten"] != reply["question"]
    assert "电子信息" in reply["rewritten"]


def test_ask_declines_with_nearest_passages(client):
    reply = client.predict(question="火星上的咖啡馆每天营业几个小时？", k=3, mode="dense", api_name="/ask")
    assert reply["refused"] and reply["reason"]
    assert "[1]" not in reply["text"] and reply["citations"] == []
    assert len(reply["nearest"]) == 3 and all(s["passage"] for s in reply["nearest"])


def test_ask_rejects_an_empty_question_with_a_message(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="empty"):
        client.predict(question="   ", api_name="/ask")


def test_ask_with_a_k_that_is_not_a_number_says_what_k_must_be(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="whole number") as info:
        client.predict(question="重庆制造业大会部署了几项重大任务？", k="abc", api_name="/ask")
    assert "rebuild" not in str(info.value)


def test_ask_with_a_malformed_history_says_what_a_turn_must_be(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="history turn"):
        client.predict(question="重庆制造业大会部署了几项重大任务？", history=["just text"], api_name="/ask")


def test_only_ask_is_public(client):
    info = client.view_api(print_info=False, return_format="dict")
    assert list(info["named_endpoints"]) == ["/ask"]


def test_view_api_documents_the_reply_fields_not_one_any(client):
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/ask"]
    assert [p["parameter_name"] for p in endpoint["parameters"]] == ["question", "history", "k", "mode", "backend", "llm"]
    (returned,) = endpoint["returns"]
    fields = returned["type"]["properties"]
    assert {"text", "refused", "reason", "rewritten", "backend", "fallback_reason", "confidence", "citations"} <= set(fields)
    span = fields["citations"]["items"]["properties"]["spans"]["items"]["properties"]
    assert set(span) == {"text", "start", "end", "article_start", "article_end"}
