"""The 渝问 web app: ask the news articles, read the cited passages in their articles, browse them.

``build_app`` returns the Gradio Blocks; ``serve`` opens the index once and runs it. The app also
offers ``/ask`` (``api_name="ask"``) so that ``gradio_client`` can use it as a service; it returns
one typed object (:class:`rag.answer.reply.Reply`)::

    from gradio_client import Client
    reply = Client("http://127.0.0.1:7860/").predict(question="彭水县纪委监委追回了多少集体资金？", api_name="/ask")
    reply["text"], reply["citations"][0]["spans"]

and, mounted on the same server, an OpenAI-compatible ``/v1`` (``ui/openai_api.py``) and the
administrator's sign-in ``/admin`` (``ui/access.py``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr

from rag.answer import BACKENDS, Answer, Citation
from rag.answer.reply import HistoryTurn, Reply, history_pairs, to_reply
from rag.chat import default_spec
from rag.embedders import EmbedderError
from rag.engine import Engine, IndexIncompatibleError, IndexMissingError, QuestionError, build_index
from rag.ingest import max_file_bytes
from rag.retrieve import MODES

from . import access, render
from .access import Credentials, Guard, admin_routes, check_exposure, credentials_from, is_loopback, private_from_env
from .limits import DEFAULT_RATE, Admission, Busy, RateLimit, client_of, queue_from_env, rate_from_env
from .openai_api import openai_routes
from .render import Turn
from .uploads import save_uploads

log = logging.getLogger(__name__)

EngineFactory = Callable[[], Engine]

#: Questions offered under the question box (Chinese and English).
EXAMPLES = [
    "彭水县纪委监委追回了多少集体资金？",
    "川渝两地的汽车产业整体规模达到了多少？",
    "明月湖基地力争每年新增培育多少个初创团队？",
    "What is the global user brand that Changan Automobile will create for customers in Europe called?",
    "What industries does Chongqing's “33618” modern manufacturing cluster system cover?",
]

#: Turns kept per browser session (older ones drop off the top).
MAX_TURNS = 40
#: Seconds between two redraws of a language model's draft (pieces that come faster are drawn together).
DRAFT_REDRAW = 0.05

CSS = (Path(__file__).with_name("style.css")).read_text(encoding="utf-8")

# Clicks on [n] buttons and on source cards become the component's "cite" event.
_CITE_JS = """
const fire = (el) => trigger('cite', {turn: Number(el.dataset.turn), n: Number(el.dataset.cite)});
element.addEventListener('click', (e) => {
  const el = e.target.closest('[data-cite]');
  if (el && element.contains(el)) { e.preventDefault(); fire(el); }
});
element.addEventListener('keydown', (e) => {
  if (e.key !== 'Enter' && e.key !== ' ') return;
  const el = e.target.closest('[data-cite]');
  if (el && element.contains(el)) { e.preventDefault(); fire(el); }
});
"""

# The transcript: [n] markers as above, plus copy (to the clipboard, and to window.__ywCopied for
# tests), 👍/👎 and the comment ("feedback" event), regenerate ("regenerate" event), a preview of
# the cited passage while a marker is hovered or focused, and scrolling to the newest turn.
_TRANSCRIPT_JS = _CITE_JS + """
const num = (el) => Number(el.dataset.turn);
const copy = async (btn) => {
  const text = btn.dataset.copy || '';
  window.__ywCopied = text;
  let ok = false;
  try { await navigator.clipboard.writeText(text); ok = true; } catch (err) {
    const ta = document.createElement('textarea');
    ta.value = text; ta.style.position = 'fixed'; ta.style.opacity = '0';
    document.body.appendChild(ta); ta.select();
    try { ok = document.execCommand('copy'); } catch (e2) { ok = false; }
    ta.remove();
  }
  const label = btn.textContent;
  btn.classList.add('done');
  btn.textContent = ok ? '✓ Copied / 已复制' : 'Copy failed / 复制失败';
  setTimeout(() => { btn.classList.remove('done'); btn.textContent = label; }, 1500);
};
const sendComment = (btn) => {
  const box = btn.closest('.comment').querySelector('.comment-text');
  trigger('feedback', {turn: num(btn), rating: btn.dataset.comment, comment: box ? box.value : ''});
};
element.addEventListener('click', (e) => {
  const t = e.target;
  const c = t.closest('[data-copy]');
  if (c && element.contains(c)) { e.preventDefault(); copy(c); return; }
  const r = t.closest('[data-rate]');
  if (r && element.contains(r)) { e.preventDefault(); trigger('feedback', {turn: num(r), rating: r.dataset.rate}); return; }
  const s = t.closest('[data-comment]');
  if (s && element.contains(s)) { e.preventDefault(); sendComment(s); return; }
  const g = t.closest('[data-regen]');
  if (g && element.contains(g)) { e.preventDefault(); trigger('regenerate', {turn: num(g)}); }
});
element.addEventListener('keydown', (e) => {
  if (e.key !== 'Enter' || !e.target.classList.contains('comment-text')) return;
  e.preventDefault();
  const s = e.target.closest('.comment').querySelector('[data-comment]');
  if (s) sendComment(s);
});
let tip = null;
const showTip = (el) => {
  if (!tip) {
    tip = document.createElement('div');
    tip.className = 'yw-tip'; tip.id = 'yw-tip'; tip.setAttribute('role', 'tooltip');
    document.body.appendChild(tip);
  }
  tip.textContent = el.dataset.preview;
  tip.style.display = 'block';
  const r = el.getBoundingClientRect();
  const w = Math.min(440, window.innerWidth - 16);
  tip.style.left = Math.max(8, Math.min(r.left, window.innerWidth - w - 8)) + 'px';
  const below = r.bottom + 6, h = tip.offsetHeight;
  tip.style.top = (below + h < window.innerHeight ? below : Math.max(8, r.top - h - 6)) + 'px';
};
const hideTip = () => { if (tip) tip.style.display = 'none'; };
element.addEventListener('mouseover', (e) => {
  const el = e.target.closest('[data-preview]');
  if (el && element.contains(el)) showTip(el);
});
element.addEventListener('mouseout', (e) => {
  const el = e.target.closest('[data-preview]');
  if (el && !(e.relatedTarget && el.contains(e.relatedTarget))) hideTip();
});
element.addEventListener('focusin', (e) => { const el = e.target.closest('[data-preview]'); if (el) showTip(el); });
element.addEventListener('focusout', hideTip);
// Keep the newest turn in sight: scroll every box that holds the transcript to its end, then the
// window to the transcript's last turn. Done on every change marked for it, so that no earlier
// reply (a refused long question, say) can leave the view stuck above the new answer.
const follow = () => {
  const root = element.querySelector('.yw-transcript');
  if (!root || root.dataset.autoscroll !== '1') return;
  hideTip();
  for (let p = root.parentElement; p && p !== document.body; p = p.parentElement) {
    const st = getComputedStyle(p);
    if (/(auto|scroll)/.test(st.overflowY) && p.scrollHeight > p.clientHeight) p.scrollTop = p.scrollHeight;
  }
  const last = root.querySelector('.turn:last-of-type');
  if (last) {
    const r = last.getBoundingClientRect();
    if (r.bottom > window.innerHeight || r.top < 0) last.scrollIntoView({block: r.height > window.innerHeight ? 'start' : 'end'});
  }
};
watch('value', () => requestAnimationFrame(follow));
"""

# The article / page view: links switch between them ("view" event); the marked span is
# scrolled into view whenever the content changes.
_VIEWER_JS = """
const show = () => {
  const t = element.querySelector('.target');
  if (t) { t.scrollIntoView({block: 'center'}); return; }
  const box = element.querySelector('.article-text, .page-text');
  if (box) box.scrollTop = 0;
};
watch('value', () => requestAnimationFrame(show));
requestAnimationFrame(show);
element.addEventListener('click', (e) => {
  const a = e.target.closest('[data-action]');
  if (a && element.contains(a)) { e.preventDefault(); trigger('view', {action: a.dataset.action}); }
});
"""

# Rows of the article list become the "open" event.
_LIST_JS = """
const open = (row) => trigger('open', {id: row.dataset.article});
element.addEventListener('click', (e) => {
  const row = e.target.closest('[data-article]');
  if (row && element.contains(row)) { e.preventDefault(); open(row); }
});
element.addEventListener('keydown', (e) => {
  if (e.key !== 'Enter') return;
  const row = e.target.closest('[data-article]');
  if (row && element.contains(row)) { e.preventDefault(); open(row); }
});
"""


def default_concurrency() -> int:
    """Events run at once: YUWEN_UI_CONCURRENCY, else twice the cores within 2..8 (4 on 2 cores)."""
    env = os.environ.get("YUWEN_UI_CONCURRENCY", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(2, min(8, 2 * (os.cpu_count() or 1)))


# --- the engine, once per process ---------------------------------------------------------------------
class EngineHolder:
    """Opens the engine once per process, lazily and under a lock, and reopens it after a rebuild.

    A failed open is not cached: the next request tries again, so an index built from the command
    line while the app runs is picked up without a restart."""

    def __init__(
        self,
        factory: EngineFactory | None,
        index_dir: Path,
        corpus_dir: Path,
        embedder: str | None = None,
    ):
        self.index_dir = Path(index_dir)
        self.corpus_dir = Path(corpus_dir)
        self.embedder = embedder
        self._factory = factory or (lambda: Engine.open(index_dir=self.index_dir, corpus_dir=self.corpus_dir, embedder=self.embedder))
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self.last_error = ""

    def get(self) -> Engine:
        """The open engine (switched to a newer build when ``CURRENT`` names one, between questions);
        raises IndexMissingError, IndexIncompatibleError or EmbedderError."""
        engine = self._engine
        if engine is not None:
            fresh = engine.refreshed()
            if fresh is not engine:
                with self._lock:
                    self._engine = fresh
            return fresh
        with self._lock:
            if self._engine is None:
                started = time.perf_counter()
                try:
                    self._engine = self._factory()
                except Exception as exc:
                    self.last_error = describe_open_error(exc, self.index_dir, self.corpus_dir)
                    raise
                self.last_error = ""
                log.info("engine opened in %.1f s", time.perf_counter() - started)
            return self._engine

    def try_get(self) -> tuple[Engine | None, str]:
        """``(engine, "")`` or ``(None, message saying what to do)``; never raises."""
        try:
            return self.get(), ""
        except Exception as exc:  # the message is shown in the page, the trace goes to the log
            log.warning("index not usable: %s", exc, exc_info=not isinstance(exc, (IndexMissingError, IndexIncompatibleError)))
            return None, describe_open_error(exc, self.index_dir, self.corpus_dir)

    def warm(self) -> None:
        """Open the engine and embed one question, so the first visitor does not wait for it."""
        engine, _ = self.try_get()
        if engine is not None:
            try:
                engine.search("重庆 制造业", k=1)
            except Exception:
                log.warning("warm-up search failed", exc_info=True)

    def rebuild(self, progress: Callable[[float, str], None] | None = None) -> Engine:
        """Build the index of the corpus again (one build at a time) and open it."""
        with self._build_lock:
            embedder = self.embedder
            if embedder is None and self._engine is not None:
                embedder = self._engine.manifest.embedder
            build_index(self.corpus_dir, self.index_dir, embedder=embedder, progress=progress)
            with self._lock:
                self._engine = None
            return self.get()

    def add(self, paths: list[Path], progress: Callable[[float, str], None] | None = None):
        """Index the corpus pages ``paths`` incrementally (``rag add``; one build at a time), then
        reopen; returns the new build's manifest."""
        from rag.indexing import add_to_index

        with self._build_lock:
            embedder = self.embedder
            if embedder is None and self._engine is not None:
                embedder = self._engine.manifest.embedder
            manifest = add_to_index(paths, self.corpus_dir, self.index_dir, embedder=embedder, progress=progress)
            with self._lock:
                self._engine = None
            self.get()
            return manifest


def describe_open_error(exc: Exception, index_dir: Path, corpus_dir: Path) -> str:
    """What went wrong opening the index, and the command that fixes it."""
    command = f"rag index --corpus {corpus_dir} --index {index_dir}"
    button = "Or open “Settings & index” below and press “Build / re-index”."
    if isinstance(exc, (IndexMissingError, IndexIncompatibleError)):
        return f"{exc} {button}"
    if isinstance(exc, EmbedderError):
        return str(exc)
    return f"The index in {index_dir}/ could not be opened ({type(exc).__name__}: {exc}). Rebuild it with `{command}`. {button}"


# --- answers as data ----------------------------------------------------------------------------------
def citation_json(c: Citation, nearest: bool = False) -> dict[str, Any]:
    """One source as the /ask endpoint returns it."""
    return {
        "number": c.n,
        "kind": "nearest" if nearest else "citation",
        "chunk_id": c.chunk_id,
        "article_id": c.article_id,
        "title": c.title,
        "byline": c.byline,
        "file": c.file,
        "line_start": c.line_start,
        "line_end": c.line_end,
        "passage": c.passage,
        "highlights": [list(h) for h in c.highlights],
        "score": round(float(c.score), 6),
    }


@dataclass
class _Outputs:
    """What one step of the ask handler shows."""

    transcript: str
    sources: str
    viewer: Any
    question: Any
    turns: list[Turn]
    view: Any

    def as_tuple(self) -> tuple:
        return (self.transcript, self.sources, self.viewer, self.question, self.turns, self.view)


def _history_secret(index_dir: Path) -> str:
    """The key the browser's copy of a conversation is sealed with: ``YUWEN_HISTORY_SECRET``, else
    one derived from the index folder, so that a restarted server still reads what it stored."""
    import hashlib

    given = os.environ.get("YUWEN_HISTORY_SECRET", "").strip()
    if given:
        return given
    return hashlib.sha256(f"yuwen-history:{Path(index_dir).resolve()}".encode()).hexdigest()[:32]


# --- the app --------------------------------------------------------------------------------------------
def build_app(
    engine_factory: EngineFactory | str | Path | None = None,
    corpus_dir: str | Path = "corpus",
    *,
    index_dir: str | Path | None = None,
    embedder: str | None = None,
    warm: bool = True,
    backend: str = "extractive",
    llm: str | None = None,
) -> gr.Blocks:
    """The web app over one index.

    ``engine_factory`` is a callable returning an opened :class:`rag.engine.Engine` (called once,
    lazily), or an index folder to open with ``Engine.open(index_dir, corpus_dir, embedder)``.
    ``index_dir`` names the folder the Re-index button rebuilds (default ``index``, or the
    folder given as ``engine_factory``). With ``warm`` the engine is opened in the background at
    once. ``backend`` and ``llm`` are the answer settings the page opens with (``llm``: a chat
    model spec, default ``YUWEN_LLM``). The queue is set up (``default_concurrency_limit`` from
    :func:`default_concurrency`)."""
    factory: EngineFactory | None = None
    if isinstance(engine_factory, (str, Path)):
        index_dir = index_dir or engine_factory
    elif engine_factory is not None:
        factory = engine_factory
    holder = EngineHolder(factory, Path(index_dir or "index"), Path(corpus_dir), embedder)
    if warm:
        threading.Thread(target=holder.warm, name="yuwen-warm", daemon=True).start()

    with gr.Blocks(title="渝问 Yuwen — ask the Chongqing news articles", analytics_enabled=False) as app:
        app.yuwen_holder = holder  # type: ignore[attr-defined]  # for tests and the benchmark
        # What launch() serves beside the page: the /v1 model list, the write guard, the question limits.
        app.yuwen_llm = llm if llm is not None else default_spec()  # type: ignore[attr-defined]
        app.yuwen_guard = Guard()  # type: ignore[attr-defined]
        app.yuwen_rate = RateLimit(rate_from_env(0))  # type: ignore[attr-defined]
        gr.HTML(
            '<div class="yw-header"><h1>渝问 Yuwen</h1><span class="sub">Questions answered from the '
            "Chongqing news articles, every sentence with its source · 基于新闻语料的问答，句句有出处</span></div>",
            head=f"<style>{CSS}</style>",
            js_on_load=None,
            elem_id="yw-header",
        )
        notice = gr.HTML("", js_on_load=None, elem_id="yw-notice")
        turns_state = gr.State([])
        # The conversation kept in the browser's localStorage (restored on load, cleared by New chat).
        history = gr.BrowserState([], storage_key="yuwen-history", secret=_history_secret(holder.index_dir))
        chat_view = gr.State(None)
        browse_view = gr.State(None)

        with gr.Tabs():
            with gr.Tab("问答 Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=380):
                        transcript = gr.HTML(
                            render.transcript_html([]), js_on_load=_TRANSCRIPT_JS, elem_id="yw-transcript",
                            min_height=220, max_height=640, autoscroll=False, padding=True, container=True,
                        )
                        question = gr.Textbox(
                            label="Question / 问题",
                            placeholder="Ask about the articles, e.g. 彭水县纪委监委追回了多少集体资金？ — press Enter to send",
                            lines=1,
                            max_lines=6,
                            elem_id="yw-question",
                            autofocus=True,
                        )
                        with gr.Row():
                            ask_btn = gr.Button("Ask / 提问", variant="primary", elem_id="yw-ask", scale=3)
                            clear_btn = gr.Button("New chat / 新对话", elem_id="yw-clear", scale=1)
                        gr.Examples(examples=[[q] for q in EXAMPLES], inputs=[question], label="Examples / 示例问题")
                    with gr.Column(scale=2, min_width=340):
                        sources = gr.HTML(render.SOURCES_EMPTY, js_on_load=_CITE_JS, elem_id="yw-sources", max_height=460)
                        viewer = gr.HTML(render.VIEWER_EMPTY, js_on_load=_VIEWER_JS, elem_id="yw-viewer")
            with gr.Tab("浏览 Browse", id="browse"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1, min_width=340):
                        filter_box = gr.Textbox(label="Filter / 筛选", placeholder="title, byline, file or any word in the text", elem_id="yw-filter")
                        article_list = gr.HTML("", js_on_load=_LIST_JS, elem_id="yw-list")
                    with gr.Column(scale=1, min_width=340):
                        browse_viewer = gr.HTML(
                            '<div class="yw-viewer"><div class="placeholder">Pick an article on the left to read it. / 选择左侧文章阅读。</div></div>',
                            js_on_load=_VIEWER_JS, elem_id="yw-browse-viewer",
                        )

        with gr.Accordion("Settings & index / 设置与索引", open=False, elem_id="yw-settings") as settings:
            with gr.Row():
                k_slider = gr.Slider(1, 10, value=5, step=1, label="Passages to retrieve / 检索段落数", elem_id="yw-k")
                mode_radio = gr.Radio(list(MODES), value="hybrid", label="Retrieval mode / 检索方式", elem_id="yw-mode")
                backend_dd = gr.Dropdown(list(BACKENDS), value=backend, label="Answer backend / 回答方式", elem_id="yw-backend")
                llm_box = gr.Textbox(value=llm if llm is not None else default_spec(), label="Language model for llm / 语言模型",
                                     placeholder="openai (server at $YUWEN_LLM_URL) or transformers:./models/FOLDER",
                                     elem_id="yw-llm")
            status = gr.HTML(render.status_html(None), js_on_load=None, elem_id="yw-status")
            with gr.Row():
                reindex_btn = gr.Button("Build / re-index / 构建或重建索引", elem_id="yw-reindex", scale=0, min_width=280)
                reindex_msg = gr.HTML("", js_on_load=None, elem_id="yw-reindex-msg")
            with gr.Row(visible=False, elem_id="yw-reindex-confirm") as confirm_row:
                gr.HTML(f"<b>Rebuild the index of {render.esc(holder.corpus_dir)}/?</b> Pages that did not change "
                        "keep their vectors; questions are answered from the current index until the new one is "
                        "ready. / 确认重建索引？", js_on_load=None)
                confirm_btn = gr.Button("Yes, rebuild / 确认重建", variant="primary", elem_id="yw-reindex-yes", scale=0, min_width=160)
                cancel_btn = gr.Button("Cancel / 取消", elem_id="yw-reindex-no", scale=0, min_width=120)
            with gr.Row():
                upload = gr.File(label="Add articles: drop .txt / .md pages here / 上传文章（.txt、.md）", file_count="multiple",
                                 file_types=[".txt", ".md"], type="filepath", elem_id="yw-upload", height=120)
                upload_msg = gr.HTML("", js_on_load=None, elem_id="yw-upload-msg")

        # --- handlers ---------------------------------------------------------------------------
        def page_state() -> tuple[str, str, str]:
            """Notice banner, status table and article list for the current index."""
            engine, error = holder.try_get()
            if engine is None:
                command = f"rag index --corpus {holder.corpus_dir} --index {holder.index_dir}"
                banner = render.notice_html("error", "No usable index / 索引不可用", error, command)
                return banner, render.status_html(None, error), render.article_list_html([], "")
            st = engine.status()
            banner = ""
            if st.get("stale"):
                banner = render.notice_html(
                    "warn", "The index is out of date / 索引已过期", " ".join(st.get("warnings") or []),
                    f"rag index --corpus {holder.corpus_dir} --index {holder.index_dir}",
                )
            return banner, render.status_html(st), render.article_list_html(engine.articles(), "")

        def on_load() -> tuple:
            """The page as it opens: with no usable index the settings panel opens on its build button."""
            banner, st, lst = page_state()
            return banner, st, lst, gr.Accordion(open=True) if holder.last_error else gr.skip()

        def answer_turn(turns: list[Turn], idx: int, k: float, mode: str, backend: str, llm_spec: str) -> Iterator[tuple]:
            """Answer ``turns[idx]`` in the context of the turns before it: the question at once,
            then the answer as it forms, then its sources. Later turns stay as they are."""
            turn = turns[idx]
            last = idx == len(turns) - 1
            yield _Outputs(render.transcript_html(turns, autoscroll=last), render.sources_html(turn, idx), render.VIEWER_EMPTY,
                           gr.skip(), turns, None).as_tuple()
            q = turn.question
            engine, error = holder.try_get()
            if engine is None:
                turn.pending, turn.error = False, error
                yield _Outputs(render.transcript_html(turns, autoscroll=last), render.SOURCES_EMPTY, gr.skip(), gr.skip(),
                               turns, gr.skip()).as_tuple()
                return
            history = [p for p in (t.history_pair() for t in turns[:idx]) if p]
            answer: Answer | None = None
            try:
                stream = engine.ask_stream(q, k=int(k), mode=mode, backend=backend, history=history or None,
                                           llm=(llm_spec or "").strip() or None if backend == "llm" else None)
                drawn = 0.0
                for item in stream:
                    if isinstance(item, Answer):
                        answer = item
                        break
                    # A language model's draft: shown as it comes, replaced by the checked answer below.
                    turn.pending, turn.streaming = False, True
                    turn.text += item
                    if time.monotonic() - drawn >= DRAFT_REDRAW:
                        drawn = time.monotonic()
                        yield _Outputs(render.transcript_html(turns, autoscroll=last), gr.skip(), gr.skip(), gr.skip(), turns,
                                       gr.skip()).as_tuple()
            except QuestionError as exc:
                turn.pending, turn.streaming, turn.text, turn.error = False, False, "", str(exc)
                yield _Outputs(render.transcript_html(turns, autoscroll=last), render.SOURCES_EMPTY, gr.skip(), gr.skip(),
                               turns, gr.skip()).as_tuple()
                return
            except Exception as exc:  # shown as a sentence; the trace goes to the server log
                log.exception("answering %r failed", q[:200])
                turn.pending, turn.streaming, turn.text = False, False, ""
                turn.error = f"Something went wrong while answering ({type(exc).__name__}). The details are in the server log. / 回答时出错。"
                yield _Outputs(render.transcript_html(turns, autoscroll=last), render.SOURCES_EMPTY, gr.skip(), gr.skip(),
                               turns, gr.skip()).as_tuple()
                return
            assert answer is not None
            turn.pending, turn.streaming = False, False
            turn.rewritten = answer.rewritten
            turn.refused = answer.refused
            turn.citations = list(answer.citations)
            turn.seconds, turn.mode, turn.backend = answer.seconds, answer.mode, answer.backend
            turn.llm, turn.fallback_reason, turn.sentences = answer.llm, answer.fallback_reason, list(answer.sentences)
            turn.text = answer.text
            yield _Outputs(render.transcript_html(turns, autoscroll=last), render.sources_html(turn, idx), gr.skip(), gr.skip(),
                           turns, gr.skip()).as_tuple()

        def on_ask(q: str, turns: list[Turn], k: float, mode: str, backend: str, llm_spec: str = "",
                   request: gr.Request = None) -> Iterator[tuple]:
            """Answer one question: show it, then the answer as it forms, then its sources."""
            turns = list(turns or [])[-(MAX_TURNS - 1):]
            q = q or ""
            if not q.strip():
                yield _Outputs(render.transcript_html(turns, "Type a question first. / 请先输入问题。"),
                               gr.skip(), gr.skip(), gr.skip(), turns, gr.skip()).as_tuple()
                return
            try:
                app.yuwen_rate.take(client_of(request))  # type: ignore[attr-defined]
            except Busy as exc:  # the question stays in its box, to send again
                yield _Outputs(render.transcript_html(turns, str(exc)), gr.skip(), gr.skip(), gr.skip(), turns,
                               gr.skip()).as_tuple()
                return
            turns.append(Turn(question=q.strip(), pending=True))
            first = True
            for out in answer_turn(turns, len(turns) - 1, k, mode, backend, llm_spec):
                if first:  # the question box empties as the question is shown
                    out = out[:3] + ("",) + out[4:]
                    first = False
                yield out

        def on_regenerate(turns: list[Turn], k: float, mode: str, backend: str, llm_spec: str, evt: gr.EventData,
                          request: gr.Request = None) -> Iterator[tuple]:
            """Ask one turn's question again (with the turns before it as context), in its place."""
            turns = list(turns or [])
            try:
                app.yuwen_rate.take(client_of(request))  # type: ignore[attr-defined]
            except Busy as exc:
                yield _Outputs(render.transcript_html(turns, str(exc)), gr.skip(), gr.skip(), gr.skip(), turns,
                               gr.skip()).as_tuple()
                return
            try:
                idx = int((evt._data or {})["turn"])
                old = turns[idx]
            except (KeyError, IndexError, TypeError, ValueError):
                old = None
            if old is None or not old.finished:
                yield (gr.skip(),) * 6
                return
            turns[idx] = Turn(question=old.question, pending=True)
            yield from answer_turn(turns, idx, k, mode, backend, llm_spec)

        def on_feedback(turns: list[Turn], evt: gr.EventData) -> tuple:
            """👍/👎 on an answer (stored at once), then its optional comment (stored on the same row)."""
            from rag.feedback import Feedback, FeedbackError, FeedbackMissingError, feedback_path, record, update

            turns = list(turns or [])
            data = evt._data or {}
            try:
                idx = int(data["turn"])
                turn = turns[idx]
                rating = str(data["rating"])
            except (KeyError, IndexError, TypeError, ValueError):
                return gr.skip(), gr.skip()
            if not turn.finished or turn.error:
                return gr.skip(), gr.skip()
            comment = data.get("comment")
            path = feedback_path(holder.index_dir)
            def new_row() -> int:
                return record(path, Feedback(
                    question=turn.question, rewritten=turn.rewritten, answer=turn.text, rating=rating,
                    citations=[citation_json(c, nearest=turn.refused) for c in turn.citations],
                    backend=turn.backend + (f":{turn.llm}" if turn.llm else ""), mode=turn.mode, refused=turn.refused,
                    comment=str(comment or "")))

            try:
                if turn.feedback_id is None:
                    turn.feedback_id = new_row()
                else:
                    try:
                        update(path, turn.feedback_id, rating=rating, comment=None if comment is None else str(comment))
                    except FeedbackMissingError:  # a turn restored from the browser after the database moved
                        turn.feedback_id = new_row()
            except FeedbackError as exc:
                log.warning("feedback not saved: %s", exc)
                return render.transcript_html(turns, str(exc), autoscroll=False), turns
            turn.rating = rating
            if comment is not None:
                turn.comment_sent = True
            return render.transcript_html(turns, autoscroll=False), turns

        def on_clear() -> tuple:
            return render.transcript_html([]), render.SOURCES_EMPTY, render.VIEWER_EMPTY, "", [], None

        def restore(stored: Any) -> tuple:
            """The conversation the browser kept, as the page opens."""
            turns = render.turns_from_json(stored)[-MAX_TURNS:]
            if not turns:
                return gr.skip(), gr.skip(), []
            last = len(turns) - 1
            return render.transcript_html(turns), render.sources_html(turns[last], last), turns

        def keep(turns: list[Turn]) -> list[dict]:
            """What the browser keeps of the conversation."""
            return render.turns_to_json(list(turns or [])[-MAX_TURNS:])

        def open_citation(turns: list[Turn], evt: gr.EventData) -> tuple:
            """A click on [n] or on a card: that turn's sources, and the article with the passage marked."""
            try:
                idx, n = int(evt.turn), int(evt.n)
                turn = (turns or [])[idx]
                citation = next(c for c in turn.citations if c.n == n)
            except (AttributeError, IndexError, StopIteration, TypeError, ValueError):
                return gr.skip(), gr.skip(), gr.skip()
            engine, error = holder.try_get()
            if engine is None:
                return gr.skip(), render.notice_html("error", "No usable index / 索引不可用", error), gr.skip()
            try:
                article = engine.article(citation.article_id)
            except KeyError:
                return gr.skip(), render.notice_html(
                    "warn", "Article not found / 未找到文章",
                    "The index changed since this answer was given; ask again."), gr.skip()
            view = {"article_id": citation.article_id, "citation": citation, "mode": "article"}
            return render.sources_html(turn, idx, active=n), render.article_html(article, citation), view

        def switch_view(view: dict | None, evt: gr.EventData) -> tuple:
            """The "original page" / "clean article" links of a viewer."""
            if not view:
                return gr.skip(), gr.skip()
            engine, error = holder.try_get()
            if engine is None:
                return render.notice_html("error", "No usable index / 索引不可用", error), gr.skip()
            action = getattr(evt, "_data", {}).get("action") if evt else None
            citation: Citation | None = view.get("citation")
            try:
                article = engine.article(view["article_id"])
            except KeyError:
                return render.notice_html("warn", "Article not found / 未找到文章", "The index changed; open it again."), gr.skip()
            if action == "page":
                try:
                    text = engine.page_text(article.file)
                except (KeyError, OSError) as exc:
                    log.warning("page %s not readable: %s", article.file, exc)
                    return render.article_html(article, citation, note=f"The original page {article.file} cannot be read any more."), view
                used: set[int] = set()
                if citation is not None:
                    a, b = citation.line_start, citation.line_end
                    for s, e in citation.highlights:
                        first, last = article.lines_for(s, e)
                        used.update(range(first, last + 1) if first else ())
                else:
                    a, b = article.lines_for(0, len(article.text))
                return render.page_html(article.file, text, a, b, article.title, used), {**view, "mode": "page"}
            return render.article_html(article, citation), {**view, "mode": "article"}

        def filter_articles(query: str, view: dict | None) -> str:
            engine, error = holder.try_get()
            if engine is None:
                return render.notice_html("error", "No usable index / 索引不可用", error)
            return render.article_list_html(engine.articles(), query or "", (view or {}).get("article_id"))

        def open_article(query: str, evt: gr.EventData) -> tuple:
            engine, error = holder.try_get()
            if engine is None:
                return render.notice_html("error", "No usable index / 索引不可用", error), gr.skip(), gr.skip()
            try:
                article = engine.article(str(evt.id))
            except (AttributeError, KeyError):
                return gr.skip(), gr.skip(), gr.skip()
            view = {"article_id": article.id, "citation": None, "mode": "article"}
            return (render.article_html(article), view,
                    render.article_list_html(engine.articles(), query or "", article.id))

        # Re-index and upload show their progress on their message alone (one bar), and the rest
        # of the page is refreshed after them by after_write.
        def on_reindex(request: gr.Request, progress: gr.Progress = gr.Progress()) -> str:
            """Rebuild the index with progress shown, then reopen it (once allowed and confirmed)."""
            refused = access.refuse_write(request)
            if refused:
                return render.notice_html("error", "Not allowed / 无权操作", refused)
            started = time.perf_counter()

            def report(fraction: float, message: str) -> None:
                progress(max(0.0, min(1.0, float(fraction))), desc=message)

            try:
                engine = holder.rebuild(report)
            except Exception as exc:
                log.exception("re-index failed")
                return render.notice_html("error", "Re-index failed / 重建失败", f"{type(exc).__name__}: {exc}")
            info = engine.status()
            counts = f"{info.get('articles', '?')} articles, {info.get('chunks', '?')} passages."
            return render.notice_html("ok", f"Index rebuilt in {time.perf_counter() - started:.1f} s / 索引已重建", counts)

        def on_upload(files: list[str] | None, request: gr.Request, progress: gr.Progress = gr.Progress()) -> str:
            """Save the dropped pages into the corpus folder and index them incrementally (`rag add`)."""
            from rag.indexing import describe_update

            if not files:
                return gr.skip()
            refused = access.refuse_write(request)
            if refused:
                return render.notice_html("error", "Not allowed / 无权操作", refused)
            result = save_uploads([Path(f) for f in files], holder.corpus_dir)
            lines = result.refused + result.notes
            if not result.saved:
                return render.notice_html("error" if result.refused else "warn", "Nothing added / 未添加", " ".join(lines))

            def report(fraction: float, message: str) -> None:
                progress(max(0.0, min(1.0, float(fraction))), desc=message)

            names = ", ".join(p.name for p in result.saved)
            try:
                manifest = holder.add(result.saved, report)
            except Exception as exc:
                log.exception("indexing uploaded pages failed")
                return render.notice_html(
                    "error", "Saved, but not indexed / 已保存，未能索引",
                    f"{names} are in {holder.corpus_dir}/; indexing failed ({type(exc).__name__}: {exc}). "
                    "Press “Build / re-index” to try again.")
            body = " ".join([f"Saved {names} into {holder.corpus_dir}/; {describe_update(manifest)}.", *lines])
            return render.notice_html("ok", f"Added {len(result.saved)} page(s) / 已添加", body)

        def after_write() -> tuple:
            """The page once a re-index or upload is over: banner, status, list; buttons back on."""
            banner, st, lst = page_state()
            return banner, st, lst, gr.Button(interactive=True), gr.File(value=None, interactive=True)

        def api_ask(question: str, history: list[HistoryTurn] | None = None, k: int = 5, mode: str = "hybrid",
                    backend: str = "extractive", llm: str = "", request: gr.Request = None) -> Reply:
            """Answer a question from the articles.

            ``history``: the earlier turns of the conversation, oldest first, each
            ``{"question": …, "answer": …}``, so that a follow-up is read in their context. ``k``:
            passages to retrieve (1-50); ``mode``: hybrid, dense or bm25; ``backend`` "llm" has a
            language model write the answer (``llm``: its spec, default the server's), every sentence
            then checked against the passage it cites. Returns one object: text with [n] markers,
            refused, reason, the rewritten question, backend and fallback_reason, confidence, and the
            citations with their spans in the passage and in the article (the README's table)."""
            try:
                app.yuwen_rate.take(client_of(request))  # type: ignore[attr-defined]
            except Busy as exc:
                raise gr.Error(str(exc), print_exception=False) from None
            try:
                engine = holder.get()
            except Exception as exc:
                raise gr.Error(describe_open_error(exc, holder.index_dir, holder.corpus_dir), print_exception=False) from None
            try:
                pairs = history_pairs(history)
            except ValueError as exc:
                raise gr.Error(str(exc), print_exception=False) from None
            try:
                spec = (llm or "").strip() or (llm_box.value or "").strip() or None if backend == "llm" else None
                # k goes through as given: the engine says what a bad k must be.
                answer = engine.ask(question, k=k, mode=mode, backend=backend, history=pairs or None, llm=spec)
            except QuestionError as exc:
                raise gr.Error(str(exc), print_exception=False) from None
            except Exception as exc:  # a sentence for the client; the trace goes to the server log
                log.exception("/ask failed for %r", str(question)[:200])
                raise gr.Error(
                    f"Answering failed ({type(exc).__name__}); the details are in the server log. "
                    f"If the index is out of date, rebuild it with `rag index --corpus {holder.corpus_dir} --index {holder.index_dir}`.",
                    print_exception=False,
                ) from None
            return to_reply(answer)

        # Gradio documents the endpoint from the annotations: give it the types, not their names.
        api_ask.__annotations__ = typing.get_type_hints(api_ask)

        # --- wiring -----------------------------------------------------------------------------
        private = {"api_visibility": "private"}
        quiet = {"show_progress": "hidden", **private}
        app.load(on_load, outputs=[notice, status, article_list, settings], **private)
        app.load(restore, inputs=[history], outputs=[transcript, sources, turns_state], **quiet)
        ask_outputs = [transcript, sources, viewer, question, turns_state, chat_view]
        answer_settings = [k_slider, mode_radio, backend_dd, llm_box]
        gr.on(
            triggers=[question.submit, ask_btn.click],
            fn=on_ask,
            inputs=[question, turns_state, *answer_settings],
            outputs=ask_outputs,
            concurrency_id="answer",
            **quiet,
        ).then(keep, inputs=[turns_state], outputs=[history], **quiet)
        transcript.regenerate(on_regenerate, inputs=[turns_state, *answer_settings], outputs=ask_outputs,
                              concurrency_id="answer", **quiet).then(keep, inputs=[turns_state], outputs=[history], **quiet)
        transcript.feedback(on_feedback, inputs=[turns_state], outputs=[transcript, turns_state], **quiet).then(
            keep, inputs=[turns_state], outputs=[history], **quiet)
        clear_btn.click(on_clear, outputs=ask_outputs, **quiet).then(keep, inputs=[turns_state], outputs=[history], **quiet)
        for comp in (transcript, sources):
            comp.cite(open_citation, inputs=[turns_state], outputs=[sources, viewer, chat_view], show_progress="hidden", **private)
        viewer.view(switch_view, inputs=[chat_view], outputs=[viewer, chat_view], show_progress="hidden", **private)
        browse_viewer.view(switch_view, inputs=[browse_view], outputs=[browse_viewer, browse_view], show_progress="hidden", **private)
        filter_box.change(filter_articles, inputs=[filter_box, browse_view], outputs=[article_list], show_progress="hidden", **private)
        article_list.open(open_article, inputs=[filter_box], outputs=[browse_viewer, browse_view, article_list], show_progress="hidden", **private)
        # Re-index: asked to confirm; while it runs its button and the upload are disabled, and
        # one progress bar shows in the message beside the button.
        refreshed = [notice, status, article_list, reindex_btn, upload]
        reindex_btn.click(lambda: gr.Row(visible=True), outputs=[confirm_row], **quiet)
        cancel_btn.click(lambda: gr.Row(visible=False), outputs=[confirm_row], **quiet)
        confirm_btn.click(
            lambda: (gr.Row(visible=False), gr.Button(interactive=False), gr.File(interactive=False), ""),
            outputs=[confirm_row, reindex_btn, upload, reindex_msg], **quiet,
        ).then(
            on_reindex, outputs=[reindex_msg], concurrency_limit=1, concurrency_id="reindex", **private,
        ).then(after_write, outputs=refreshed, **quiet)
        upload.upload(
            lambda: (gr.Button(interactive=False), ""), outputs=[reindex_btn, upload_msg], **quiet,
        ).then(
            on_upload, inputs=[upload], outputs=[upload_msg], concurrency_limit=1, concurrency_id="reindex", **private,
        ).then(after_write, outputs=refreshed, **quiet)
        gr.api(api_ask, api_name="ask", concurrency_id="answer")

    app.queue(default_concurrency_limit=default_concurrency(), max_size=queue_from_env())
    return app


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, block: bool = True,
           auth: str | Credentials | None = None, private: bool | None = None, **kwargs: Any) -> gr.Blocks:
    """Start ``app`` on ``host:port`` with ``/v1`` (OpenAI-compatible) and ``/admin`` beside the page;
    server-side rendering, analytics and Gradio's monitoring off; uploads no larger than a corpus page may be.

    ``auth``: the administrator's ``USER:PASS`` (default ``YUWEN_AUTH``), needed for every change of
    state (re-index, upload); a host other than loopback without it raises AccessError. ``private``
    (default ``YUWEN_PRIVATE``): reading needs them too (Gradio's login; ``/v1`` the key ``USER:PASS``)."""
    credentials = auth if isinstance(auth, Credentials) else credentials_from(auth)
    check_exposure(host, credentials)
    private = private_from_env() if private is None else private
    guard = app.yuwen_guard = Guard(credentials, private=private)  # type: ignore[attr-defined]
    holder: EngineHolder = app.yuwen_holder  # type: ignore[attr-defined]
    routes = admin_routes(guard) + openai_routes(
        holder, lambda: app.yuwen_llm, lambda: app.yuwen_rate,  # type: ignore[attr-defined]
        Admission(default_concurrency(), queue_from_env()), guard,
    )
    app.launch(
        server_name=host,
        server_port=port,
        ssr_mode=False,
        show_error=False,
        prevent_thread_lock=not block,
        quiet=kwargs.pop("quiet", True),
        enable_monitoring=False,
        app_kwargs={"routes": routes},
        auth=(credentials.user, credentials.password) if private and credentials else None,
        auth_message="渝问 yuwen is private here: sign in. / 请登录。" if private else None,
        # Anyone may reach Gradio's upload route: no file larger than the corpus takes.
        max_file_size=kwargs.pop("max_file_size", max_file_bytes()),
        **kwargs,
    )
    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    index_dir: str | Path = "index",
    corpus_dir: str | Path = "corpus",
    embedder: str | None = None,
    block: bool = True,
    llm: str | None = None,
    auth: str | None = None,
    rate: int | None = None,
    private: bool | None = None,
) -> gr.Blocks:
    """Open the index once, then serve the app on ``host:port`` until interrupted (or, with
    ``block=False``, return the running app). A missing index is not fatal: the page says what to
    run and offers to build it. ``llm``: the page answers with that chat model by default.
    ``auth``: ``USER:PASS`` that every change of state needs (default ``YUWEN_AUTH``; required off
    loopback, else AccessError before anything opens). ``rate``: questions per minute per client
    (default ``YUWEN_RATE``, else 30 off loopback and no limit on it; 0: none). ``private``
    (default ``YUWEN_PRIVATE``): reading needs the credentials too."""
    credentials = credentials_from(auth)
    check_exposure(host, credentials)
    private = private_from_env() if private is None else private
    Guard(credentials, private=private)  # AccessError now for private without credentials
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    app = build_app(index_dir=index_dir, corpus_dir=corpus_dir, embedder=embedder, warm=False,
                    backend="llm" if llm else "extractive", llm=llm)
    per_minute = rate if rate is not None else rate_from_env(0 if is_loopback(host) else DEFAULT_RATE)
    app.yuwen_rate = RateLimit(per_minute)  # type: ignore[attr-defined]
    holder: EngineHolder = app.yuwen_holder  # type: ignore[attr-defined]
    started = time.perf_counter()
    holder.warm()
    if holder.last_error:
        log.warning("starting without an index: %s", holder.last_error)
    else:
        log.info("index %s opened and warmed in %.1f s", index_dir, time.perf_counter() - started)
    log.info("serving 渝问 on http://%s:%d/ (concurrency %d, %s per client, writes %s)", host, port,
             default_concurrency(), f"{per_minute} questions/min" if per_minute else "no question limit",
             f"need {credentials.user}'s sign-in at /admin" if credentials else "open (loopback)")
    return launch(app, host, port, block=block, auth=credentials, private=private)
