"""The LLM answer backend against a real HTTP chat server on loopback that replies as told."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from rag.llm import build_prompt, count_tokens


class ChatServer:
    """An OpenAI-compatible /chat/completions endpoint that returns ``reply`` and records requests."""

    def __init__(self):
        self.reply = ""
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body})
                data = json.dumps({"choices": [{"message": {"content": outer.reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def server():
    s = ChatServer()
    yield s
    s.httpd.shutdown()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from tests.conftest import MINI_PAGES, engine_over

    return engine_over(MINI_PAGES, tmp_path_factory.mktemp("llm"), "e5-small")


QUESTION = "StarBot巡检机器人搭载了什么系统？"


def test_prompt_numbers_the_passages_and_holds_the_question(engine):
    hits = engine.search(QUESTION, mode="bm25")
    prompt, shown = build_prompt(QUESTION, hits)
    assert shown == len(hits) and "[1]" in prompt and QUESTION in prompt


def test_prompt_stays_within_its_token_budget(engine):
    hits = engine.search(QUESTION, mode="bm25")
    prompt, shown = build_prompt(QUESTION, hits, budget=60)
    assert count_tokens(prompt) <= 60 and shown < len(hits)


def test_cited_sentences_are_kept_and_mapped_to_passages(engine, server, monkeypatch):
    monkeypatch.setenv("YUWEN_LLM_URL", server.url)
    server.reply = "它搭载了LiDAR激光导航系统。[1] 这句没有出处。"
    answer = engine.ask(QUESTION, mode="bm25", backend="llm")
    assert answer.text == "它搭载了LiDAR激光导航系统。[1]"
    assert answer.citations[0].file == "b.txt" and answer.citations[0].highlights
    assert server.requests[-1]["path"] == "/v1/chat/completions"


def test_citation_to_a_passage_never_shown_is_dropped(engine, server, monkeypatch):
    monkeypatch.setenv("YUWEN_LLM_URL", server.url)
    server.reply = "编造的内容。[9]"
    answer = engine.ask(QUESTION, mode="bm25", backend="llm")
    assert "编造" not in answer.text and "extractive" in answer.reason


def test_unreachable_server_falls_back_to_the_extractive_answer(engine, monkeypatch):
    monkeypatch.setenv("YUWEN_LLM_URL", "http://127.0.0.1:9/v1")
    answer = engine.ask(QUESTION, mode="bm25", backend="llm")
    assert not answer.refused and "[1]" in answer.text and "unavailable" in answer.reason
