"""The app served with credentials and a question limit: a state-changing call needs the
administrator's sign-in, a client that asks too fast is told when to ask again."""

from __future__ import annotations

import gradio as gr
import httpx
import pytest

from tests.e2e.conftest import _start, free_port

pytestmark = pytest.mark.e2e


def _app_with_write_probe(demo_index) -> gr.Blocks:
    """The real app over the demo index, plus ``/write_probe``: a call wired like the page's
    re-index and upload handlers (``refuse_write`` with the request Gradio hands it)."""
    from ui.access import refuse_write
    from ui.app import build_app

    corpus, index = demo_index
    app = build_app(index_dir=index, corpus_dir=corpus, embedder="e5-small", warm=False)

    def write_probe(request: gr.Request) -> str:
        return refuse_write(request) or "allowed"

    with app:
        gr.api(write_probe, api_name="write_probe")
    return app


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, demo_index):
    """The real app (over the demo index) with credentials, and a write probe wired like the page's
    re-index and upload handlers: it calls ``refuse_write`` with the request Gradio hands it."""
    from ui.limits import RateLimit

    app = _app_with_write_probe(demo_index)
    app.yuwen_holder.warm()
    url = _start(app, free_port(), auth="admin:s3cret:x")
    yield url, app, RateLimit
    app.close()


def _sign_in(url: str, auth) -> httpx.Response:
    return httpx.get(f"{url}admin", auth=auth, follow_redirects=False)


def test_admin_asks_the_browser_for_credentials(guarded):
    url, _, _ = guarded
    r = _sign_in(url, None)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert _sign_in(url, ("admin", "wrong")).status_code == 401


def test_signing_in_sets_a_same_site_http_only_cookie_and_returns_to_the_page(guarded):
    url, _, _ = guarded
    r = _sign_in(url, ("admin", "s3cret:x"))
    assert r.status_code == 303 and r.headers["location"] == "./"
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("yuwen-admin=") and "httponly" in cookie and "samesite=strict" in cookie


def test_a_state_changing_call_without_the_sign_in_is_refused(guarded):
    from gradio_client import Client

    url, _, _ = guarded
    assert "administrator" in Client(url, verbose=False).predict(api_name="/write_probe")


def test_a_state_changing_call_with_the_sign_in_is_allowed(guarded):
    from gradio_client import Client

    url, _, _ = guarded
    token = _sign_in(url, ("admin", "s3cret:x")).cookies["yuwen-admin"]
    client = Client(url, verbose=False, headers={"Cookie": f"yuwen-admin={token}"})
    assert client.predict(api_name="/write_probe") == "allowed"


def test_reading_stays_open_with_credentials_set(guarded):
    from gradio_client import Client

    url, app, RateLimit = guarded
    app.yuwen_rate = RateLimit(0)
    reply = Client(url, verbose=False).predict(question="重庆制造业大会部署了几项重大任务？", api_name="/ask")
    assert reply["citations"] and not reply["refused"]
    assert httpx.get(f"{url}v1/models").status_code == 200


def test_asking_too_fast_on_ask_gives_the_busy_reply(guarded):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    url, app, RateLimit = guarded
    app.yuwen_rate = RateLimit(2)
    client = Client(url, verbose=False)
    for _ in range(2):
        assert client.predict(question="重庆制造业大会部署了几项重大任务？", api_name="/ask")["citations"]
    with pytest.raises(AppError, match=r"Busy: too many questions from this address; try again in \d+ s"):
        client.predict(question="重庆制造业大会部署了几项重大任务？", api_name="/ask")


def test_asking_too_fast_on_v1_gives_a_429_with_retry_after(guarded):
    openai = pytest.importorskip("openai")
    url, app, RateLimit = guarded
    app.yuwen_rate = RateLimit(1)
    client = openai.OpenAI(base_url=f"{url}v1", api_key="x", max_retries=0, timeout=120)
    ask = {"model": "yuwen", "messages": [{"role": "user", "content": "重庆制造业大会部署了几项重大任务？"}]}
    assert client.chat.completions.create(**ask).model_extra["yuwen"]["citations"]
    with pytest.raises(openai.RateLimitError, match=r"try again in \d+ s") as info:
        client.chat.completions.create(**ask)
    assert info.value.status_code == 429 and 1 <= int(info.value.response.headers["retry-after"]) <= 60
    assert info.value.body["code"] == "rate_limit_exceeded"


@pytest.fixture
def with_llm(guarded, server, monkeypatch):
    """The guarded app with a language model configured: the scripted chat server on loopback."""
    from tests.chat_server import Script

    url, app, RateLimit = guarded
    monkeypatch.setenv("YUWEN_LLM_URL", server.url)
    monkeypatch.setenv("YUWEN_LLM_RETRIES", "0")
    monkeypatch.setattr(app, "yuwen_llm", "openai", raising=False)
    app.yuwen_rate = RateLimit(0)
    server.script = Script()
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=f"{url}v1", api_key="x", max_retries=0, timeout=120), server


def test_a_configured_language_model_is_offered_as_yuwen_llm_and_its_answer_checked(with_llm):
    from tests.chat_server import Script

    client, server = with_llm
    assert {"yuwen", "yuwen-llm"} <= {m.id for m in client.models.list()}
    server.script = Script(reply="会议部署了7项重大任务。[1]", pieces=3)
    r = client.chat.completions.create(model="yuwen-llm", messages=[{"role": "user", "content": "重庆制造业大会部署了几项重大任务？"}])
    reply = r.model_extra["yuwen"]
    assert reply["backend"] == "llm" and reply["llm"].startswith("openai") and reply["sentences"]
    assert reply["sentences"][0]["supported"] and "[^1]" in r.choices[0].message.content


def test_a_failing_language_model_gives_the_extractive_answer_and_says_why(with_llm):
    from tests.chat_server import Script

    client, server = with_llm
    server.script = Script(statuses=[503])
    stream = client.chat.completions.create(model="yuwen-llm", stream=True,
                                            messages=[{"role": "user", "content": "重庆制造业大会部署了几项重大任务？"}])
    chunks = list(stream)
    reply = chunks[-1].model_extra["yuwen"]
    assert reply["backend"] == "extractive" and "503" in reply["fallback_reason"] and reply["citations"]
    assert "language model's answer is not given" in "".join(c.choices[0].delta.content or "" for c in chunks)


def test_the_page_gives_the_busy_reply_and_a_browser_signs_in_at_admin(guarded, browser):
    url, app, RateLimit = guarded
    app.yuwen_rate = RateLimit(1)
    context = browser.new_context(http_credentials={"username": "admin", "password": "s3cret:x"})
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{url}admin")  # the browser answers the Basic challenge and lands back on the page
        assert page.url == url
        assert any(c["name"] == "yuwen-admin" and c["httpOnly"] for c in context.cookies())
        box = page.locator("#yw-question textarea, #yw-question input").first
        for _ in range(2):
            box.fill("重庆制造业大会部署了几项重大任务？")
            box.press("Enter")
            page.wait_for_timeout(300)
        page.wait_for_selector("#yw-transcript :text('try again in')")
        assert "Busy" in page.locator("#yw-transcript").inner_text()
    finally:
        context.close()


def test_an_upload_larger_than_a_corpus_page_may_be_is_refused(guarded):
    from rag.ingest import max_file_bytes

    url, _, _ = guarded
    big = b"a" * (max_file_bytes() + 1)
    r = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.txt", big, "text/plain")}, timeout=60)
    assert r.status_code == 413, (r.status_code, r.text[:200])
    ok = httpx.post(f"{url}gradio_api/upload", files={"files": ("small.txt", "新闻".encode(), "text/plain")}, timeout=60)
    assert ok.status_code == 200


@pytest.fixture(scope="module")
def private_url(demo_index):
    """The real app served private: reading needs the credentials too."""
    app = _app_with_write_probe(demo_index)
    url = _start(app, free_port(), auth="admin:pw", private=True)
    yield url
    app.close()


def test_a_private_server_asks_api_clients_for_the_key(private_url):
    openai = pytest.importorskip("openai")
    with pytest.raises(openai.AuthenticationError) as info:
        openai.OpenAI(base_url=f"{private_url}v1", api_key="sk-wrong", max_retries=0).models.list()
    assert info.value.status_code == 401 and info.value.body["code"] == "invalid_api_key"
    client = openai.OpenAI(base_url=f"{private_url}v1", api_key="admin:pw", max_retries=0, timeout=120)
    assert "yuwen" in [m.id for m in client.models.list()]
    r = client.chat.completions.create(model="yuwen", messages=[{"role": "user", "content": "重庆制造业大会部署了几项重大任务？"}])
    assert r.model_extra["yuwen"]["citations"]


def test_a_private_server_lets_only_signed_in_users_read_and_they_may_write(private_url):
    from gradio_client import Client

    with pytest.raises(ValueError, match="credentials were not provided"):
        Client(private_url, verbose=False).predict(question="重庆制造业大会部署了几项重大任务？", api_name="/ask")
    client = Client(private_url, verbose=False, auth=("admin", "pw"))
    assert client.predict(question="重庆制造业大会部署了几项重大任务？", api_name="/ask")["citations"]
    assert client.predict(api_name="/write_probe") == "allowed"  # Gradio's login signs the administrator in


def test_the_page_refuses_to_reindex_for_a_browser_that_has_not_signed_in(guarded, browser):
    from ui.access import REFUSED

    url, app, _ = guarded
    index = app.yuwen_holder.index_dir
    current = (index / "CURRENT").read_text()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        page.click("#yw-settings button, #yw-settings .label-wrap")
        page.click("#yw-reindex")
        page.click("#yw-reindex-yes")
        page.wait_for_function("(t) => (document.querySelector('#yw-reindex-msg') || {}).innerText?.includes(t)",
                               arg=REFUSED[:20])
        assert (index / "CURRENT").read_text() == current, "nothing was rebuilt"
    finally:
        context.close()
