"""The web chat in daily use, in headless Chromium against the real engine: conversations that
survive a reload, copy, 👍/👎 feedback, hover previews, scrolling, re-index and upload.

One app per module, serving its own copy of the demo corpus and index (re-index and upload
change them)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.evaluate import load_questions
from rag.feedback import export_dev_set, feedback_path, list_feedback
from tests.e2e.conftest import LOCAL_PREFIXES, SHOTS, PageWatch, _start, free_port
from tests.e2e.test_browser import ask, last_turn

pytestmark = pytest.mark.e2e

# Our own page, written for these tests: one article with facts no other article holds.
UPLOADED_PAGE = """临江区开通首条跨江缆车线路

■记者 林晓

11月20日，临江区首条跨江缆车线路正式开通运营，线路全长2160米，设有3座站点，单程运行约8分钟。
缆车由临江文旅集团投资建设，每个轿厢可乘坐8人，高峰时段每小时可运送游客2400人次。

临江区文旅委表示，缆车开通后将与滨江步道串联成环线，预计每年接待游客120万人次。
"""
# Another page, written to disk as if edited there, for the re-index test.
REINDEX_PAGE = """星河湾湿地公园完成生态修复

■记者 周岚

星河湾湿地公园近日完成生态修复工程，修复湿地面积达到46公顷，新种植水生植物28种。
公园管理处介绍，修复后观测到的鸟类已增至93种，其中包括多种国家重点保护鸟类。
"""


@pytest.fixture(scope="module")
def daily(tmp_path_factory, demo_index):
    """The app over a copy of the demo corpus and index: (url, app, corpus folder, index folder)."""
    from ui.app import build_app

    src_corpus, src_index = demo_index
    root = tmp_path_factory.mktemp("daily")
    corpus, index = root / "corpus", root / "index"
    shutil.copytree(src_corpus, corpus)
    shutil.copytree(src_index, index, ignore=shutil.ignore_patterns("LOCK"))
    app = build_app(index_dir=index, corpus_dir=corpus, embedder="e5-small", warm=False)
    app.yuwen_holder.warm()  # type: ignore[attr-defined]
    assert not app.yuwen_holder.last_error, app.yuwen_holder.last_error  # type: ignore[attr-defined]
    url = _start(app, free_port())
    yield url, app, corpus, index
    app.close()


def _context(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=None)
    return context


def _open(context, url: str):
    pg = context.new_page()
    watch = PageWatch()

    def route(r):
        if r.request.url.startswith(LOCAL_PREFIXES):
            r.continue_()
        else:
            watch.external.append(r.request.url)
            r.abort()

    pg.route("**/*", route)
    pg.on("dialog", lambda d: (watch.dialogs.append(d.message), d.dismiss()))
    pg.watch = watch  # type: ignore[attr-defined]
    pg.set_default_timeout(30_000)
    pg.goto(url)
    pg.wait_for_selector("#yw-question textarea, #yw-question input")
    return pg


@pytest.fixture
def session(browser, daily):
    """A fresh browser profile (so empty storage) on the module's app: (context, page)."""
    url = daily[0]
    context = _context(browser)
    pg = _open(context, url)
    yield context, pg
    watch = pg.watch  # type: ignore[attr-defined]
    context.close()
    assert not watch.external, f"the page tried to reach other hosts: {watch.external}"
    assert not watch.dialogs, f"the page opened dialogs: {watch.dialogs}"


def visible_in_transcript(page, selector: str) -> bool:
    """Whether the last element matching ``selector`` is inside the window and inside every
    scrolling box around it (so a reader sees it without scrolling)."""
    return page.evaluate(
        """(sel) => {
            const all = document.querySelectorAll(sel);
            const el = all[all.length - 1];
            if (!el) return false;
            const r = el.getBoundingClientRect();
            if (r.top < 0 || r.top > window.innerHeight - 10) return false;
            for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
                const st = getComputedStyle(p);
                if (/(auto|scroll)/.test(st.overflowY) && p.scrollHeight > p.clientHeight) {
                    const b = p.getBoundingClientRect();
                    if (r.top < b.top - 1 || r.top > b.bottom - 10) return false;
                }
            }
            return true;
        }""",
        selector,
    )


def wait_idle(page) -> None:
    page.wait_for_function("() => !document.querySelector('#yw-transcript .pending, #yw-transcript .caret')")


# --- conversations ------------------------------------------------------------------------------------
ARTICLE = "川渝加快推进新型工业化"  # in the title of the demo article these turns are about


def test_three_turn_conversation_shows_rewrites_and_answers_from_the_right_article(session):
    _, page = session
    turns = [("川渝两地的汽车产业整体规模达到了多少？", None), ("那电子信息产业呢？", "电子信息"), ("那装备制造产业呢？", "装备制造")]
    for n, (question, topic) in enumerate(turns):
        ask(page, question, press_enter=n == 2)
        turn = last_turn(page)
        assert turn.locator("button.cite").count() >= 1, question
        page.locator("#yw-sources .card").first.wait_for()
        assert ARTICLE in page.locator("#yw-sources .card .title").first.inner_text(), question
        if topic is None:
            assert turn.locator(".rewritten").count() == 0, "a first question is searched as it is"
            continue
        rewritten = turn.locator(".rewritten span").inner_text()
        assert topic in rewritten and "川渝" in rewritten, rewritten
        others = [t for _, t in turns if t and t != topic]
        assert not any(t in rewritten for t in others), f"the earlier topic is not glued on: {rewritten}"
    meta = last_turn(page).locator(".meta")
    assert meta.locator(".backend").inner_text().startswith("extractive")
    assert meta.locator(".mode").inner_text() == "hybrid"
    # An earlier turn's marker still opens that turn's source.
    page.locator('#yw-transcript .turn[data-turn-index="0"] button.cite').first.click()
    page.wait_for_selector("#yw-viewer mark.target")
    assert ARTICLE in page.locator("#yw-viewer .viewer-title").inner_text()
    page.screenshot(path=str(SHOTS / "20-three-turns.png"))


def test_history_survives_a_reload_and_new_chat_clears_it(browser, daily):
    context = _context(browser)
    try:
        page = _open(context, daily[0])
        ask(page, "重庆制造业大会部署了几项重大任务？")
        ask(page, "那四川呢？")
        page.wait_for_timeout(300)  # the browser stores the turns after the answer
        before = page.locator("#yw-transcript .turn").all_inner_texts()
        page.reload()
        page.wait_for_function("() => document.querySelectorAll('#yw-transcript .turn').length === 2")
        after = page.locator("#yw-transcript .turn").all_inner_texts()
        assert [t.split("\n")[0] for t in after] == [t.split("\n")[0] for t in before]
        assert "四川" in last_turn(page).locator(".rewritten").inner_text()
        page.locator("#yw-sources .card").first.wait_for()  # the last turn's sources are back too
        # A follow-up after the reload is still read in the restored context.
        ask(page, "那重庆呢？")
        assert "重庆" in last_turn(page).locator(".rewritten").inner_text()

        page.click("#yw-clear")
        page.wait_for_function("() => document.querySelectorAll('#yw-transcript .turn').length === 0")
        page.wait_for_timeout(300)
        page.reload()
        page.wait_for_selector("#yw-transcript .welcome")
        page.wait_for_timeout(800)  # time for a stored conversation to come back, if one were kept
        assert page.locator("#yw-transcript .turn").count() == 0
    finally:
        context.close()


# --- per-answer actions -------------------------------------------------------------------------------
def test_copy_puts_the_answer_and_its_sources_on_the_clipboard(session):
    _, page = session
    ask(page, "重庆制造业大会部署了几项重大任务？")
    turn = last_turn(page)
    answer = turn.locator(".atext").inner_text()
    title = page.locator("#yw-sources .card .title").first.inner_text()
    turn.locator(".yw-act.copy").click()
    page.wait_for_function("() => window.__ywCopied !== undefined")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == page.evaluate("() => window.__ywCopied")
    assert answer.strip()[:10] in copied
    assert "出处 / Sources" in copied and title in copied and "[1]" in copied
    assert "Copied" in turn.locator(".yw-act.copy").inner_text()


def test_thumbs_down_with_a_comment_is_stored_and_exported(session, daily, tmp_path):
    _, page = session
    index = daily[3]
    before = len(list_feedback(feedback_path(index)))
    ask(page, "明月湖基地力争每年新增培育多少个初创团队？")
    turn = last_turn(page)
    turn.locator(".yw-act.rate.down").click()
    page.wait_for_selector("#yw-transcript .turn:last-child .yw-act.rate.down.on")
    rows = list_feedback(feedback_path(index))
    assert len(rows) == before + 1
    row = rows[-1]
    assert row.rating == "down" and row.question == "明月湖基地力争每年新增培育多少个初创团队？"
    assert row.answer and row.citations and row.backend == "extractive" and row.mode == "hybrid"

    box = last_turn(page).locator(".comment-text")
    box.fill("数字对，但出处应是另一段")
    box.press("Enter")
    page.wait_for_selector("#yw-transcript .turn:last-child .comment.done")
    [row] = [r for r in list_feedback(feedback_path(index)) if r.id == row.id]
    assert row.comment == "数字对，但出处应是另一段"

    out = tmp_path / "down.jsonl"
    assert export_dev_set(feedback_path(index), out) >= 1
    cases = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert all({"id", "question", "type", "answer", "must_include", "evidence", "article"} <= set(c) for c in cases)
    assert any(c["feedback"]["comment"] == "数字对，但出处应是另一段" for c in cases)
    assert load_questions(out), "the export is a question set rag eval reads"


def test_regenerate_asks_the_same_turn_again_in_place(session):
    _, page = session
    ask(page, "重庆制造业大会部署了几项重大任务？")
    ask(page, "那四川呢？")
    first_answer = page.locator('#yw-transcript .turn[data-turn-index="0"] .atext').inner_text()
    # Mark what is shown now: a redrawn turn loses the mark.
    page.evaluate("""() => document.querySelector('#yw-transcript .turn[data-turn-index="0"] .atext').dataset.old = '1'""")
    page.locator('#yw-transcript .turn[data-turn-index="0"] .yw-act.regen').click()
    page.wait_for_function("""() => !document.querySelector('#yw-transcript [data-old]')""")
    wait_idle(page)
    page.wait_for_selector('#yw-transcript .turn[data-turn-index="0"] .meta')
    assert page.locator("#yw-transcript .turn").count() == 2, "regenerate replaces the turn, it does not add one"
    assert page.locator('#yw-transcript .turn[data-turn-index="0"] .atext').inner_text() == first_answer
    assert page.locator('#yw-transcript .turn[data-turn-index="1"] .rewritten').count() == 1


def test_hovering_a_citation_previews_its_passage(session):
    _, page = session
    ask(page, "彭水县纪委监委追回了多少集体资金？")
    cite = last_turn(page).locator("button.cite").first
    cite.hover()
    tip = page.locator("#yw-tip")
    tip.wait_for(state="visible")
    card_passage = page.locator("#yw-sources .card .passage").first.inner_text()
    text = tip.inner_text()
    assert text.startswith("[1] ")
    assert any(piece in text for piece in (card_passage.strip(" …")[:12], "彭水"))
    page.screenshot(path=str(SHOTS / "21-hover.png"))
    page.mouse.move(5, 5)
    tip.wait_for(state="hidden")


def test_a_refusal_points_to_the_nearest_passages(session):
    _, page = session
    ask(page, "火星上的咖啡馆每天营业几个小时？")
    turn = last_turn(page)
    assert turn.locator(".a.refused").count() == 1
    near = turn.locator(".nearest-links button.near")
    assert near.count() >= 1
    near.first.click()
    page.wait_for_selector("#yw-viewer .article-text mark")
    assert page.locator("#yw-viewer .viewer-title").inner_text().strip()


def test_the_newest_answer_is_in_view_after_a_rejected_long_question(session):
    _, page = session
    for q in ("重庆制造业大会部署了几项重大任务？", "彭水县纪委监委追回了多少集体资金？",
              "明月湖基地力争每年新增培育多少个初创团队？", "川渝两地的汽车产业整体规模达到了多少？"):
        ask(page, q)
    ask(page, "重庆" * 2500)
    assert last_turn(page).locator(".a.error").count() == 1
    ask(page, "What is the global user brand that Changan Automobile will create for customers in Europe called?")
    page.wait_for_timeout(300)
    assert visible_in_transcript(page, "#yw-transcript .turn .atext"), "the new answer is in view"
    page.screenshot(path=str(SHOTS / "22-autoscroll.png"))


# --- re-index and upload ------------------------------------------------------------------------------
def _open_settings(page) -> None:
    page.click("#yw-settings button, #yw-settings .label-wrap")
    page.locator("#yw-reindex").wait_for()


def _passages(page) -> str:
    return page.locator("#yw-status").inner_text()


def test_reindex_asks_first_and_is_disabled_while_it_runs(session, daily):
    _, page = session
    _, _, corpus, index = daily
    _open_settings(page)
    current = (index / "CURRENT").read_text()
    page.click("#yw-reindex")
    page.locator("#yw-reindex-yes").wait_for()
    page.click("#yw-reindex-no")
    page.locator("#yw-reindex-yes").wait_for(state="hidden")
    page.wait_for_timeout(500)
    assert (index / "CURRENT").read_text() == current, "cancel builds nothing"

    (corpus / "901-wetland.txt").write_text(REINDEX_PAGE, "utf-8")
    page.evaluate("""() => {
        window.__ywDisabled = false;
        window.__ywBars = 0;
        const b = document.querySelector('#yw-reindex');
        new MutationObserver(() => { if (b.disabled) window.__ywDisabled = true; })
            .observe(b, {attributes: true, attributeFilter: ['disabled']});
        const count = () => document.querySelectorAll('.progress-level').length;
        setInterval(() => { window.__ywBars = Math.max(window.__ywBars, count()); }, 25);
    }""")
    page.click("#yw-reindex")
    page.click("#yw-reindex-yes")
    page.wait_for_selector("#yw-reindex-msg .yw-notice.ok", timeout=180_000)
    assert page.evaluate("() => window.__ywDisabled"), "the button was disabled while the index was built"
    assert page.evaluate("() => window.__ywBars") <= 1, "at most one progress bar at a time"
    # The buttons come back on in the step after the message, so wait for it rather than race it.
    page.locator("#yw-reindex:not([disabled])").wait_for(timeout=30_000)
    assert (index / "CURRENT").read_text() != current
    engine = daily[1].yuwen_holder.get()
    status = engine.status()
    msg = page.locator("#yw-reindex-msg").inner_text()
    assert f"{status['chunks']} passages" in msg and f"{status['articles']} articles" in msg
    page.get_by_role("tab", name="浏览 Browse").click()
    page.wait_for_function("() => (document.querySelector('#yw-list') || {}).innerText?.includes('星河湾湿地公园')")
    page.screenshot(path=str(SHOTS / "23-reindexed.png"), full_page=True)


def test_reindex_and_upload_are_refused_when_access_says_no(session, daily, monkeypatch, tmp_path):
    import ui.access

    _, page = session
    corpus, index = daily[2], daily[3]
    current = (index / "CURRENT").read_text()
    monkeypatch.setattr(ui.access, "refuse_write", lambda request: "Sign in to change the index. / 请先登录。")
    _open_settings(page)
    page.click("#yw-reindex")
    page.click("#yw-reindex-yes")
    page.wait_for_selector("#yw-reindex-msg .yw-notice.error")
    assert "Sign in" in page.locator("#yw-reindex-msg").inner_text()
    assert (index / "CURRENT").read_text() == current
    page.locator("#yw-reindex:not([disabled])").wait_for()

    src = tmp_path / "refused-page.txt"
    src.write_text(UPLOADED_PAGE, "utf-8")
    page.locator("#yw-upload input[type=file]").set_input_files([str(src)])
    page.wait_for_selector("#yw-upload-msg .yw-notice.error")
    assert "Sign in" in page.locator("#yw-upload-msg").inner_text()
    assert not (corpus / "refused-page.txt").exists()
    assert (index / "CURRENT").read_text() == current


def test_an_uploaded_page_is_saved_indexed_and_answerable(session, daily, tmp_path):
    _, page = session
    _, _, corpus, _ = daily
    src = tmp_path / "cable_car news.txt"
    src.write_text(UPLOADED_PAGE, "utf-8")
    _open_settings(page)
    # Dropped on the upload area, as a file dragged from the desktop.
    drop = page.evaluate_handle(
        """(text) => { const dt = new DataTransfer();
                       dt.items.add(new File([text], 'cable_car news.txt', {type: 'text/plain'})); return dt; }""",
        UPLOADED_PAGE,
    )
    page.dispatch_event("#yw-upload .upload-container", "drop", {"dataTransfer": drop})
    page.wait_for_selector("#yw-upload-msg .yw-notice.ok", timeout=180_000)
    assert "cable-car-news.txt" in page.locator("#yw-upload-msg").inner_text()
    assert (corpus / "cable-car-news.txt").read_text("utf-8") == UPLOADED_PAGE

    page.get_by_role("tab", name="浏览 Browse").click()
    page.locator("#yw-filter").wait_for()
    page.fill("#yw-filter textarea, #yw-filter input", "缆车")
    page.wait_for_function("() => document.querySelector('#yw-list').innerText.includes('临江区开通首条跨江缆车线路')")
    page.get_by_role("tab", name="问答 Chat").click()
    ask(page, "临江区跨江缆车线路全长多少米？")
    turn = last_turn(page)
    assert "2160米" in turn.locator(".atext").inner_text()
    assert "缆车" in page.locator("#yw-sources .card .title").first.inner_text()

    # The same page again is not saved twice, and the page says so.
    page.locator("#yw-upload input[type=file]").set_input_files([str(src)])
    page.wait_for_selector("#yw-upload-msg .yw-notice.warn")
    assert "already in the corpus" in page.locator("#yw-upload-msg").inner_text()
    assert sorted(p.name for p in Path(corpus).glob("cable-car-news*")) == ["cable-car-news.txt"]
