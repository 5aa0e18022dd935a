"""The web app as a person uses it, in headless Chromium against the real engine and index."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHOTS = Path(os.environ.get("YUWEN_SHOTS", "/tmp/yuwen-shots"))

pytestmark = pytest.mark.e2e

QUESTION_BOX = "#yw-question textarea, #yw-question input"


def ask(page, question: str, press_enter: bool = False) -> None:
    """Type ``question``, send it, and wait until its answer has finished streaming."""
    before = page.locator("#yw-transcript .turn").count()
    page.fill(QUESTION_BOX, question)
    if press_enter:
        page.locator(QUESTION_BOX).press("Enter")
    else:
        page.click("#yw-ask")
    page.wait_for_function(
        """(n) => document.querySelectorAll('#yw-transcript .turn').length === n + 1
                && !document.querySelector('#yw-transcript .pending')
                && !document.querySelector('#yw-transcript .caret')
                && document.querySelector('#yw-transcript .turn:last-child .meta, #yw-transcript .turn:last-child .error')""",
        arg=before,
    )


def last_turn(page):
    return page.locator("#yw-transcript .turn").last


def in_viewport(page, selector: str) -> bool:
    """Whether the element's box intersects the window and its scrolling box."""
    return page.evaluate(
        """(sel) => {
            const el = document.querySelector(sel);
            if (!el) return false;
            const r = el.getBoundingClientRect();
            if (r.bottom < 0 || r.top > window.innerHeight) return false;
            const box = el.closest('.article-text, .page-text');
            if (!box) return true;
            const b = box.getBoundingClientRect();
            return r.bottom > b.top && r.top < b.bottom;
        }""",
        selector,
    )


def test_page_opens_with_examples_and_settings(page):
    assert "渝问" in page.title()
    # The examples render after the question box; wait for them rather than race the page.
    page.get_by_text("彭水县纪委监委追回了多少集体资金？").first.wait_for()
    page.get_by_text("What is the global user brand that Changan Automobile").first.wait_for()
    page.screenshot(path=str(SHOTS / "01-start.png"))
    page.click("#yw-settings button, #yw-settings .label-wrap")
    status = page.locator("#yw-status")
    status.wait_for()
    assert "intfloat/multilingual-e5-small" in status.inner_text()
    assert "20" in status.inner_text() or "Articles" in status.inner_text()
    page.locator("#yw-reindex").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "08-settings.png"), full_page=True)


def test_answer_with_citation_opens_the_article_and_the_page(page):
    ask(page, "重庆制造业大会部署了几项重大任务？")
    turn = last_turn(page)
    assert "7项" in turn.inner_text()
    cite = turn.locator("button.cite").first
    assert cite.inner_text() == "[1]"
    cards = page.locator("#yw-sources .card")
    cards.first.wait_for()
    assert cards.first.locator("mark.used").count() >= 1, "the card marks the sentence the answer used"
    assert ".txt" in cards.first.locator(".card-meta").inner_text()
    page.screenshot(path=str(SHOTS / "02-answer.png"))

    cite.click()
    page.wait_for_selector("#yw-viewer mark.target")
    page.wait_for_function("() => { const m = document.querySelector('#yw-viewer mark.target'); return m && m.getBoundingClientRect().top < window.innerHeight; }")
    assert in_viewport(page, "#yw-viewer mark.target"), "the cited span is scrolled into view"
    assert "7项" in page.locator("#yw-viewer mark.used").first.inner_text()
    assert page.locator("#yw-sources .card.active").count() == 1
    page.screenshot(path=str(SHOTS / "03-article.png"))

    page.click("#yw-viewer a.switch")
    page.wait_for_selector("#yw-viewer .page-text .ln.marked")
    page.wait_for_function("() => { const m = document.querySelector('#yw-viewer .ln.target'); return m && m.getBoundingClientRect().top < window.innerHeight; }")
    assert in_viewport(page, "#yw-viewer .ln.target")
    marked = page.locator("#yw-viewer .ln.used").first.inner_text()
    assert "7项" in marked
    page.screenshot(path=str(SHOTS / "04-page.png"))
    page.click("#yw-viewer a.switch")
    page.wait_for_selector("#yw-viewer .article-text mark.target")


def test_card_click_opens_the_article(page):
    ask(page, "What is the global user brand that Changan Automobile will create for customers in Europe called?")
    assert "withU" in last_turn(page).inner_text()
    page.locator("#yw-sources .card").first.click()
    page.wait_for_selector("#yw-viewer mark.target")
    assert "长安" in page.locator("#yw-viewer .viewer-title").inner_text() + page.locator("#yw-viewer .article-text").inner_text()


def test_follow_up_is_read_in_context(page):
    ask(page, "重庆制造业大会部署了几项重大任务？")
    ask(page, "那四川呢？", press_enter=True)
    turn = last_turn(page)
    rewritten = turn.locator(".rewritten")
    assert rewritten.count() == 1
    assert "四川" in rewritten.inner_text() and "重大任务" in rewritten.inner_text()
    assert turn.locator(".atext").inner_text().strip()
    page.screenshot(path=str(SHOTS / "05-followup.png"))


def test_unanswerable_question_is_declined_with_nearest_passages(page):
    ask(page, "火星上的咖啡馆每天营业几个小时？")
    turn = last_turn(page)
    assert turn.locator(".a.refused").count() == 1
    assert "没有找到" in turn.inner_text()
    assert turn.locator("button.cite").count() == 0
    head = page.locator("#yw-sources .sources-head.refused")
    assert "No evidence" in head.inner_text()
    page.locator("#yw-sources .card.nearest").first.wait_for()
    page.screenshot(path=str(SHOTS / "06-refusal.png"))


def test_markup_in_a_question_is_shown_as_text(page):
    payload = "<script>alert(1)</script><img src=x onerror=alert(2)>**bold** [link](javascript:alert(3))"
    ask(page, payload)
    shown = last_turn(page).locator(".qtext").inner_text()
    assert shown == payload
    assert page.locator("#yw-transcript img").count() == 0
    assert page.locator("#yw-transcript script").count() == 0
    assert page.locator("#yw-transcript a[href^='javascript']").count() == 0
    page.wait_for_timeout(500)
    assert page.watch.dialogs == []  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / "07-script.png"))


def test_empty_and_huge_questions_get_a_clear_message(page):
    page.fill(QUESTION_BOX, "   ")
    page.click("#yw-ask")
    page.wait_for_selector("#yw-transcript .notice-inline")
    assert "Type a question" in page.locator("#yw-transcript .notice-inline").inner_text()

    ask(page, "重庆" * 50_000)
    turn = last_turn(page)
    error = turn.locator(".a.error")
    assert error.count() == 1
    assert "100,000" in error.inner_text()
    assert "Traceback" not in page.content()
    assert len(turn.locator(".qtext").inner_text()) < 2000, "a huge paste is shown cut short"
    page.screenshot(path=str(SHOTS / "09-too-long.png"))


def test_browse_lists_filters_and_opens_articles(page):
    page.get_by_role("tab", name="浏览 Browse").click()
    rows = page.locator("#yw-list tr[data-article]")
    rows.first.wait_for()
    total = rows.count()
    assert total >= 5
    page.fill("#yw-filter textarea, #yw-filter input", "南开")
    page.wait_for_function("(n) => document.querySelectorAll('#yw-list tr[data-article]').length < n", arg=total)
    assert 1 <= rows.count() < total
    rows.first.click()
    page.wait_for_selector("#yw-browse-viewer .article-text")
    assert "南开" in page.locator("#yw-browse-viewer .article-text").inner_text()
    page.click("#yw-browse-viewer a.switch")
    page.wait_for_selector("#yw-browse-viewer .page-text .ln.marked")
    page.screenshot(path=str(SHOTS / "10-browse.png"))


@pytest.fixture
def no_index_page(browser, no_index_url):
    """A fresh page on the app that has no index yet, once it has said so."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    pg = context.new_page()
    try:
        pg.goto(no_index_url)
        pg.wait_for_selector("#yw-notice .yw-notice.error")
        yield pg
    finally:
        context.close()


def test_missing_index_says_what_to_run(no_index_page):
    pg = no_index_page
    assert "rag index" in pg.locator("#yw-notice").inner_text()
    pg.fill(QUESTION_BOX, "重庆制造业大会部署了几项重大任务？")
    pg.click("#yw-ask")
    pg.wait_for_selector("#yw-transcript .a.error")
    assert "rag index" in pg.locator("#yw-transcript .a.error").inner_text()
    assert "Traceback" not in pg.content()
    pg.screenshot(path=str(SHOTS / "11-no-index.png"))


# Runs after the test above: it builds the index that the no-index app then serves.
def test_missing_index_can_be_built_from_the_page_with_progress(no_index_page):
    pg = no_index_page
    button = pg.locator("#yw-reindex")
    button.wait_for()  # the settings panel opens by itself when there is no index
    button.click()
    pg.click("#yw-reindex-yes")  # it asks first
    pg.wait_for_selector("#yw-status .progress-text, #yw-reindex-msg .progress-text, .progress-level, .eta-bar", timeout=60_000)
    pg.screenshot(path=str(SHOTS / "12-building.png"))
    assert pg.locator(".progress-level:visible").count() <= 1, "one progress bar, beside the button"
    pg.wait_for_selector("#yw-reindex-msg .yw-notice.ok", timeout=300_000)
    assert pg.locator("#yw-notice .yw-notice.error").count() == 0
    assert "20" in pg.locator("#yw-status").inner_text()
    pg.screenshot(path=str(SHOTS / "13-built.png"), full_page=True)
    ask(pg, "重庆制造业大会部署了几项重大任务？")
    assert last_turn(pg).locator("button.cite").count() >= 1
