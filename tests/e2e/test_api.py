"""The app as a service: the /ask endpoint through gradio_client, against the real engine."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def test_ask_returns_text_with_markers_and_sources(client):
    text, sources, details = client.predict("重庆制造业大会部署了几项重大任务？", 5, "hybrid", api_name="/ask")
    assert "[1]" in text and "7项" in text
    assert details["backend"] == "extractive" and not details["fallback_reason"] and not details["refused"]
    assert sources and sources[0]["number"] == 1
    first = sources[0]
    for key in ("chunk_id", "title", "file", "line_start", "line_end", "passage", "kind"):
        assert key in first
    assert first["kind"] == "citation"
    assert first["file"].endswith(".txt") and 1 <= first["line_start"] <= first["line_end"]
    assert "7项" in first["passage"]


def test_ask_defaults_k_and_mode(client):
    text, sources, _ = client.predict("What is the global user brand that Changan Automobile will create for customers in Europe called?", api_name="/ask")
    assert "withU" in text
    assert len(sources) >= 1


def test_ask_declines_with_nearest_passages(client):
    text, sources, details = client.predict("火星上的咖啡馆每天营业几个小时？", 3, "dense", api_name="/ask")
    assert details["refused"]
    assert "[1]" not in text
    assert sources and all(s["kind"] == "nearest" for s in sources)


def test_ask_rejects_an_empty_question_with_a_message(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="empty"):
        client.predict("   ", 5, "hybrid", api_name="/ask")


def test_ask_with_a_k_that_is_not_a_number_says_what_k_must_be(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="whole number") as info:
        client.predict("重庆制造业大会部署了几项重大任务？", "abc", "hybrid", api_name="/ask")
    assert "rebuild" not in str(info.value)


def test_only_ask_is_public(client):
    info = client.view_api(print_info=False, return_format="dict")
    assert list(info["named_endpoints"]) == ["/ask"]
