"""The OpenAI-compatible endpoint, driven by the real ``openai`` SDK against the running app."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.e2e

QUESTION = "重庆制造业大会部署了几项重大任务？"


@pytest.fixture(scope="module")
def client(app_url):
    openai = pytest.importorskip("openai", reason="the /v1 tests need the openai package (the test extra)")
    # max_retries=0: a failure must show here, not be retried away
    return openai.OpenAI(base_url=f"{app_url}v1", api_key="not-needed", max_retries=0, timeout=120)


def test_models_list_names_the_extractive_model(client):
    ids = [m.id for m in client.models.list()]
    assert "yuwen" in ids
    assert client.models.retrieve("yuwen").owned_by == "yuwen"


def test_a_completion_is_the_cited_answer_with_footnotes_and_the_typed_reply(client):
    r = client.chat.completions.create(model="yuwen", messages=[{"role": "user", "content": QUESTION}])
    content = r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop" and r.model == "yuwen" and r.object == "chat.completion"
    assert "7项" in content and "[^1]" in content and "\n[^1]: **" in content
    reply = r.model_extra["yuwen"]
    assert reply["question"] == QUESTION and not reply["refused"] and reply["backend"] == "extractive"
    first = reply["citations"][0]
    assert first["spans"] and f"{first['file']}, lines {first['line_start']}–{first['line_end']}" in content
    assert first["quote"] in content  # the footnote quotes the cited words


def test_a_streamed_completion_sends_chunks_then_the_typed_reply_and_ends(client):
    stream = client.chat.completions.create(model="yuwen", messages=[{"role": "user", "content": QUESTION}], stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert len([c for c in chunks if c.choices[0].delta.content]) > 1, "the content comes in pieces"
    assert chunks[-1].choices[0].finish_reason == "stop"
    reply = chunks[-1].model_extra["yuwen"]
    assert "[^1]" in text and "7项" in text and reply["citations"]
    plain = client.chat.completions.create(model="yuwen", messages=[{"role": "user", "content": QUESTION}])
    assert text == plain.choices[0].message.content, "streamed and plain replies carry the same content"


def test_the_stream_is_server_sent_events_closed_by_done(app_url):
    body = {"model": "yuwen", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.stream("POST", f"{app_url}v1/chat/completions", json=body, timeout=120) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith(("data: ", ":")) for line in lines)
    assert lines[-1] == "data: [DONE]"


def test_earlier_messages_are_the_history_of_a_follow_up(client):
    first = client.chat.completions.create(model="yuwen", messages=[{"role": "user", "content": "川渝两地的汽车产业整体规模达到了多少？"}])
    r = client.chat.completions.create(model="yuwen", messages=[
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "川渝两地的汽车产业整体规模达到了多少？"},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "那电子信息产业呢？"},
    ])
    reply = r.model_extra["yuwen"]
    assert reply["question"] == "那电子信息产业呢？" and "电子信息" in reply["rewritten"] and reply["rewritten"] != reply["question"]


def test_a_question_the_articles_do_not_answer_is_declined_with_the_nearest_passages(client):
    r = client.chat.completions.create(model="yuwen", messages=[{"role": "user", "content": "火星上的咖啡馆每天营业几个小时？"}])
    reply = r.model_extra["yuwen"]
    assert reply["refused"] and reply["nearest"] and reply["citations"] == []
    assert "Nearest passages" in r.choices[0].message.content and "[^" not in r.choices[0].message.content


def test_an_unknown_model_is_a_404_in_openais_error_shape(client):
    import openai

    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    error = info.value.body
    assert info.value.status_code == 404 and error["code"] == "model_not_found" and "yuwen" in error["message"]


def test_empty_messages_are_a_400_saying_what_is_missing(client):
    import openai

    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="yuwen", messages=[])
    assert info.value.body["param"] == "messages" and "non-empty" in info.value.body["message"]


def test_an_empty_question_is_a_400_with_the_engines_message(client):
    import openai

    with pytest.raises(openai.BadRequestError, match="empty"):
        client.chat.completions.create(model="yuwen", messages=[{"role": "user", "content": "   "}], stream=True)


def test_a_body_that_is_not_json_is_a_400(app_url):
    r = httpx.post(f"{app_url}v1/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_monitoring_is_off(app_url):
    for path in ("monitoring", "monitoring/summary"):
        r = httpx.get(f"{app_url}{path}")
        assert r.status_code in (403, 404), (path, r.status_code)
        assert "event" not in r.text.lower()


def test_ask_and_v1_give_the_same_typed_reply(client, app_url):
    from gradio_client import Client

    asked = Client(app_url, verbose=False).predict(question=QUESTION, api_name="/ask")
    r = client.chat.completions.create(model="yuwen", messages=[{"role": "user", "content": QUESTION}])
    timeless = ("seconds", "first_token_seconds")
    assert {k: v for k, v in asked.items() if k not in timeless} == {k: v for k, v in r.model_extra["yuwen"].items() if k not in timeless}
