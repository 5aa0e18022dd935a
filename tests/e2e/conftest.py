"""The real web app on a free localhost port, over a real index of the demo corpus, and a
headless Debian Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Iterator

import pytest

log = logging.getLogger(__name__)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(os.environ.get("YUWEN_SHOTS", "/tmp/yuwen-shots"))
LOCAL_PREFIXES = ("http://127.0.0.1", "http://localhost", "ws://127.0.0.1", "ws://localhost", "data:", "blob:", "about:")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(app, port: int, **launch_options) -> str:
    from ui.app import launch

    launch(app, "127.0.0.1", port, block=False, **launch_options)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return url
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the app did not start on {url}")


@pytest.fixture(scope="session")
def app_url(demo_index) -> Iterator[str]:
    """The app serving the demo corpus's real index (built once per session with e5-small)."""
    from ui.app import build_app

    corpus, index = demo_index
    app = build_app(index_dir=index, corpus_dir=corpus, embedder="e5-small", warm=False)
    app.yuwen_holder.warm()  # type: ignore[attr-defined]
    assert not app.yuwen_holder.last_error, app.yuwen_holder.last_error  # type: ignore[attr-defined]
    url = _start(app, free_port())
    yield url
    app.close()


@pytest.fixture(scope="session")
def no_index_url(tmp_path_factory, demo_index) -> Iterator[str]:
    """The app pointed at an empty index folder, as on a fresh checkout before `rag index`."""
    from ui.app import build_app

    corpus, _ = demo_index
    empty = tmp_path_factory.mktemp("no-index") / "index"
    app = build_app(index_dir=empty, corpus_dir=corpus, embedder="e5-small", warm=False)
    url = _start(app, free_port())
    yield url
    app.close()


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium; the tests are skipped, saying why, when it or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's Chromium at /usr/bin/chromium: run `bash .ci/install-browser`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need Playwright for Python: pip install 'playwright==1.65.2' (no `playwright install`)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageWatch:
    """What a page did that it should not: dialogs opened, requests to anywhere but this machine."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.external: list[str] = []
        self.page_errors: list[str] = []


@pytest.fixture
def page(browser, app_url):
    """A fresh browser session (so a fresh conversation) on the app; external requests are
    blocked and recorded, dialogs dismissed and recorded."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    watch = PageWatch()

    def route(r):
        url = r.request.url
        if url.startswith(LOCAL_PREFIXES):
            r.continue_()
        else:
            watch.external.append(url)
            r.abort()

    pg.route("**/*", route)
    pg.on("dialog", lambda d: (watch.dialogs.append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: watch.page_errors.append(str(e)))
    pg.watch = watch  # type: ignore[attr-defined]
    pg.set_default_timeout(30_000)
    pg.goto(app_url)
    pg.wait_for_selector("#yw-question textarea, #yw-question input")
    yield pg
    context.close()
    assert not watch.external, f"the page tried to reach other hosts: {watch.external}"
    assert not watch.dialogs, f"the page opened dialogs: {watch.dialogs}"
