"""The web chat with a language model: real tokens streamed from a chat server on loopback, the
checked answer replacing the draft, unsupported sentences greyed, and the fallback notice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chat_server import LoopbackChatServer, Script
from tests.e2e.conftest import LOCAL_PREFIXES, _start, free_port

SHOTS = Path(os.environ.get("YUWEN_SHOTS", "/tmp/yuwen-shots"))
QUESTION_BOX = "#yw-question textarea, #yw-question input"
QUESTION = "重庆制造业大会部署了几项重大任务？"
REPLY = "重庆制造业大会部署了7项重大任务。[1] 大会还决定在重庆举办2031年世界博览会。[1]"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def chat_server():
    server = LoopbackChatServer()
    saved = {k: os.environ.get(k) for k in ("YUWEN_LLM_URL", "YUWEN_LLM_RETRIES")}
    os.environ["YUWEN_LLM_URL"], os.environ["YUWEN_LLM_RETRIES"] = server.url, "0"
    yield server
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.close()


@pytest.fixture(scope="module")
def llm_app_url(demo_index, chat_server):
    from ui.app import build_app

    corpus, index = demo_index
    app = build_app(index_dir=index, corpus_dir=corpus, embedder="e5-small", warm=False, backend="llm", llm="openai")
    app.yuwen_holder.warm()  # type: ignore[attr-defined]
    url = _start(app, free_port())
    yield url
    app.close()


@pytest.fixture
def llm_page(browser, llm_app_url):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    external: list[str] = []
    pg.route("**/*", lambda r: r.continue_() if r.request.url.startswith(LOCAL_PREFIXES)
             else (external.append(r.request.url), r.abort()))
    pg.set_default_timeout(30_000)
    pg.goto(llm_app_url)
    pg.wait_for_selector(QUESTION_BOX)
    yield pg
    context.close()
    assert not external, f"the page tried to reach other hosts: {external}"


def send(page, question: str) -> None:
    page.fill(QUESTION_BOX, question)
    page.click("#yw-ask")


def wait_finished(page) -> None:
    page.wait_for_function("""() => { const t = document.querySelector('#yw-transcript .turn:last-child');
        return t && t.querySelector('.meta') && !t.querySelector('.caret') && !t.querySelector('.pending'); }""")


def test_tokens_stream_in_then_the_checked_answer_replaces_the_draft(llm_page, chat_server):
    chat_server.script = Script(reply=REPLY, pieces=10, delay=0.3)
    send(llm_page, QUESTION)
    # The draft shows part of the reply while the server is still sending the rest.
    llm_page.wait_for_function("""(full) => { const d = document.querySelector('#yw-transcript .a.draft .atext');
        return d && d.textContent.length > 3 && d.textContent.length < full.length - 5; }""", arg=REPLY)
    partial = llm_page.locator("#yw-transcript .a.draft .atext").inner_text()
    assert REPLY.startswith(partial.strip()[:4])
    llm_page.screenshot(path=str(SHOTS / "20-llm-draft.png"))
    wait_finished(llm_page)
    turn = llm_page.locator("#yw-transcript .turn").last
    assert turn.locator(".a.draft").count() == 0
    assert turn.locator(".sent.unsupported").count() == 1 and "2031" in turn.locator(".sent.unsupported").inner_text()
    assert turn.locator(".sent:not(.unsupported)").count() == 1 and "7项" in turn.locator(".sent").first.inner_text()
    assert "1 of 2 sentences supported" in turn.locator(".meta").inner_text()
    llm_page.screenshot(path=str(SHOTS / "21-llm-checked.png"))
    turn.locator("button.cite").first.click()
    llm_page.wait_for_selector("#yw-viewer .target")
    assert "7项" in llm_page.locator("#yw-viewer").inner_text()


def test_a_failing_model_gives_the_extractive_answer_with_a_visible_notice(llm_page, chat_server):
    chat_server.script = Script(reply="x", statuses=[500])
    send(llm_page, QUESTION)
    wait_finished(llm_page)
    turn = llm_page.locator("#yw-transcript .turn").last
    notice = turn.locator(".fallback")
    assert notice.count() == 1 and "HTTP 500" in notice.inner_text() and "extractive" in notice.inner_text()
    assert "7项" in turn.locator(".a .atext").inner_text()
    llm_page.screenshot(path=str(SHOTS / "22-llm-fallback.png"))
