"""The OpenAI-compatible chat backend against a real HTTP server on loopback."""

from __future__ import annotations

import socket
import time

import pytest

from rag.chat import ChatError, load_chat_model
from rag.chat.openai import OpenAIChat
from tests.chat_server import Script

MESSAGES = [{"role": "system", "content": "只根据资料回答。"}, {"role": "user", "content": "问题：大桥多长？"}]


@pytest.fixture
def chat(server):
    server.script = Script()
    server.requests.clear()
    return OpenAIChat(server.url, model="tiny", api_key="sk-test", backoff=0.01, read_timeout=2.0)


def test_sse_reply_arrives_in_pieces_in_order(server, chat):
    server.script = Script(reply="主桥全长1280米。[1]", pieces=4)
    pieces = list(chat.stream(MESSAGES, max_tokens=50))
    assert len(pieces) == 4 and "".join(pieces) == "主桥全长1280米。[1]"
    body = server.requests[-1]["body"]
    assert server.requests[-1]["path"] == "/v1/chat/completions"
    assert body["stream"] is True and body["model"] == "tiny" and body["max_tokens"] == 50 and body["messages"] == MESSAGES
    assert server.requests[-1]["auth"] == "Bearer sk-test"


def test_first_piece_comes_before_the_reply_is_finished(server, chat):
    server.script = Script(reply="一二三四五六", pieces=6, delay=0.3)
    started = time.perf_counter()
    stream = chat.stream(MESSAGES)
    first = next(stream)
    first_at = time.perf_counter() - started
    rest = "".join(stream)
    assert first + rest == "一二三四五六"
    assert first_at < time.perf_counter() - started - 1.0  # the rest took over a second longer


def test_non_streaming_reply_is_one_piece(server, chat):
    chat.streaming = False
    server.script = Script(reply="整段回答。[1]")
    assert list(chat.stream(MESSAGES)) == ["整段回答。[1]"]
    assert server.requests[-1]["body"]["stream"] is False


@pytest.mark.parametrize("status, words", [(401, "API key"), (403, "API key"), (404, "YUWEN_LLM_MODEL")])
def test_client_errors_fail_at_once_with_one_line_saying_what_to_check(server, chat, status, words):
    server.script = Script(reply="不该出现", statuses=[status])
    with pytest.raises(ChatError) as err:
        list(chat.stream(MESSAGES))
    message = str(err.value)
    assert f"HTTP {status}" in message and words in message and "\n" not in message
    assert len(server.requests) == 1  # not retried


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_rate_limits_and_server_errors_are_retried_with_backoff(server, chat, status):
    server.script = Script(reply="第三次成功。[1]", statuses=[status, status])
    assert "".join(chat.stream(MESSAGES)) == "第三次成功。[1]"
    assert len(server.requests) == 3


@pytest.mark.parametrize("status, words", [(429, "rate-limiting"), (503, "HTTP 503")])
def test_persistent_failure_gives_one_line_after_the_last_try(server, chat, status, words):
    server.script = Script(statuses=[status] * 5)
    with pytest.raises(ChatError) as err:
        list(chat.stream(MESSAGES))
    assert words in str(err.value) and "3 tries" in str(err.value)
    assert len(server.requests) == 3


def test_retry_after_header_is_honoured(server, chat):
    server.script = Script(reply="好。", statuses=[429], retry_after="1")
    started = time.perf_counter()
    assert "".join(chat.stream(MESSAGES)) == "好。"
    assert time.perf_counter() - started >= 1.0


def test_unreachable_server_fails_in_seconds_with_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    chat = OpenAIChat(f"http://127.0.0.1:{port}/v1", retries=2, backoff=0.01)
    started = time.perf_counter()
    with pytest.raises(ChatError) as err:
        list(chat.stream(MESSAGES))
    assert "Cannot reach the chat server" in str(err.value) and "YUWEN_LLM_URL" in str(err.value)
    assert time.perf_counter() - started < 3


def test_stall_mid_stream_ends_with_the_read_timeout(server, chat):
    chat.read_timeout = 0.5
    server.script = Script(reply="前半句后半句", pieces=6, stall_after=2, stall_seconds=3)
    got = []
    started = time.perf_counter()
    with pytest.raises(ChatError) as err:
        for piece in chat.stream(MESSAGES):
            got.append(piece)
    assert "".join(got) == "前半" and "stalled" in str(err.value)
    assert time.perf_counter() - started < 2.5


def test_spec_reads_the_server_settings_from_the_environment(server, monkeypatch):
    server.script = Script(reply="环境变量。")
    monkeypatch.setenv("YUWEN_LLM_URL", server.url)
    monkeypatch.setenv("MY_PROVIDER_KEY", "sk-from-env")
    monkeypatch.setenv("YUWEN_LLM_KEY_ENV", "MY_PROVIDER_KEY")
    model = load_chat_model("openai:qwen2.5:7b")
    assert model.name == "openai:qwen2.5:7b" and "".join(model.stream(MESSAGES)) == "环境变量。"
    assert server.requests[-1]["auth"] == "Bearer sk-from-env" and server.requests[-1]["body"]["model"] == "qwen2.5:7b"


def test_no_server_configured_says_which_variable_to_set(monkeypatch):
    monkeypatch.delenv("YUWEN_LLM_URL", raising=False)
    with pytest.raises(ChatError, match="YUWEN_LLM_URL"):
        load_chat_model("openai")


def test_token_counter_is_cl100k_offline():
    chat = OpenAIChat("http://127.0.0.1:9/v1")
    assert chat.count_tokens("hello world") == 2 and chat.count_tokens("重庆") >= 1
