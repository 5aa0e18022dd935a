"""HTML for the web app: transcript, source cards, article and page views, article list, notices.

Every string that comes from a question, an answer or the corpus passes through
:func:`html.escape` here before it reaches the page; nothing else in ``ui/`` builds markup from
such text. Clickable parts carry ``data-*`` attributes that the page's small scripts turn into
Gradio events (see ``ui/app.py``); there are no inline handlers and no links to run.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterable, Sequence

from rag.answer import Citation
from rag.documents import Article

log = logging.getLogger(__name__)

#: How much of a question the transcript shows (a 100 000-character paste is cut, with a note).
MAX_SHOWN_QUESTION = 600

_MARKER = re.compile(r"\[(\d{1,3})\]")


def esc(text: object) -> str:
    """``text`` as HTML text: ``<``, ``>``, ``&`` and both quotes escaped."""
    return html.escape("" if text is None else str(text), quote=True)


@dataclass
class Turn:
    """One question and its reply as the transcript shows it."""

    question: str
    rewritten: str = ""
    text: str = ""
    refused: bool = False
    citations: list[Citation] = field(default_factory=list)
    error: str = ""
    pending: bool = False
    streaming: bool = False
    seconds: float = 0.0
    mode: str = ""
    backend: str = ""
    llm: str = ""  # the language model asked, when one was
    fallback_reason: str = ""  # why its answer is not shown (the extractive one is)
    sentences: list[dict] = field(default_factory=list)  # the model's sentences as checked
    feedback_id: int | None = None  # the row of its rating in the feedback database
    rating: str = ""  # "up" / "down" once rated
    comment_sent: bool = False

    def history_pair(self) -> tuple[str, str] | None:
        """``(question, answer_text)`` for the engine's follow-up reading, or None when this turn
        has nothing to offer (failed or still running)."""
        if self.error or self.pending or self.streaming:
            return None
        return (self.question, self.text)

    @property
    def finished(self) -> bool:
        return not (self.pending or self.streaming)

    def to_json(self) -> dict[str, Any]:
        """The turn as plain JSON (what the browser keeps between visits)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> "Turn | None":
        """A turn from :meth:`to_json`'s output, or None for anything else. A turn that was still
        running when the page closed comes back as interrupted."""
        if not isinstance(data, dict) or not isinstance(data.get("question"), str):
            return None
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in known}
        try:
            cites = []
            for c in kw.pop("citations", None) or []:
                c = dict(c)
                c["highlights"] = [tuple(h) for h in c.get("highlights") or []]
                cites.append(Citation(**c))
            turn = cls(**kw, citations=cites)
        except (TypeError, ValueError):
            return None
        if turn.pending or turn.streaming:
            turn.pending = turn.streaming = False
            if not turn.error:
                turn.text, turn.citations = "", []
                turn.error = "This answer was interrupted when the page closed: press ↻ to ask again. / 回答被中断，请重新回答。"
        return turn


def turns_to_json(turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """The conversation as JSON, for the browser's storage."""
    return [t.to_json() for t in turns]


def turns_from_json(data: Any) -> list[Turn]:
    """The conversation kept in the browser; what cannot be read is left out."""
    if not isinstance(data, list):
        return []
    return [t for t in (Turn.from_json(d) for d in data) if t is not None]


# --- text with marks --------------------------------------------------------------------------------
def marked_text(
    text: str,
    layers: Sequence[tuple[str, Iterable[tuple[int, int]]]],
    offset: int = 0,
    target_class: str | None = None,
) -> str:
    """``text`` escaped, with ``<mark class="…">`` around the parts covered by the spans of each
    layer ``(css_class, spans)``. Spans are in the coordinates of a larger text that ``text``
    starts at ``offset`` of (so article spans can mark a passage cut from it); they are clipped
    to ``text``. Overlapping layers combine their classes. The first mark of ``target_class`` gets
    ``id``-free class ``target`` too, which the page scrolls into view."""
    n = len(text)
    clipped: list[tuple[str, int, int]] = []
    for cls, spans in layers:
        for s, e in spans:
            s, e = max(0, int(s) - offset), min(n, int(e) - offset)
            if e > s:
                clipped.append((cls, s, e))
    if not clipped:
        return esc(text)
    cuts = sorted({0, n, *(s for _, s, _ in clipped), *(e for _, _, e in clipped)})
    out: list[str] = []
    targeted = False
    for a, b in zip(cuts, cuts[1:]):
        if b <= a:
            continue
        classes = sorted({cls for cls, s, e in clipped if s <= a and b <= e})
        piece = esc(text[a:b])
        if not classes:
            out.append(piece)
            continue
        if target_class and target_class in classes and not targeted:
            classes.append("target")
            targeted = True
        out.append(f'<mark class="{esc(" ".join(classes))}">{piece}</mark>')
    return "".join(out)


#: Characters of a passage the hover preview of a citation shows.
PREVIEW_CHARS = 240


def preview_text(c: Citation, limit: int = PREVIEW_CHARS) -> str:
    """What hovering a citation marker shows: the article's title and the passage, cut around
    the sentences the answer used."""
    text = c.passage
    spans = [(s - c.start, e - c.start) for s, e in c.highlights if e > c.start and s < c.end]
    if len(text) > limit:
        a = max(0, min(s for s, _ in spans) - 40) if spans else 0
        text = ("…" if a else "") + text[a:a + limit] + ("…" if a + limit < len(text) else "")
    return f"[{c.n}] {c.title}\n{text}"


def answer_html(text: str, citations: Sequence[Citation], turn: int) -> str:
    """The answer text escaped, each ``[n]`` that names a citation turned into a button that
    previews its passage on hover."""
    by_n = {c.n: c for c in citations}

    def button(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in by_n:
            return m.group(0)
        return (
            f'<button type="button" class="cite" data-turn="{turn}" data-cite="{n}" '
            f'data-preview="{esc(preview_text(by_n[n]))}" '
            f'aria-label="Show source [{n}] in its article / 查看出处 [{n}]">[{n}]</button>'
        )

    return _MARKER.sub(button, esc(text))


UNSUPPORTED_TITLE = "No cited passage supports this sentence / 该句未得到所引出处的支持"


def checked_answer_html(sentences: Sequence[dict], citations: Sequence[Citation], turn: int) -> str:
    """A generated answer sentence by sentence: supported ones plain, the others greyed with a warning."""
    out = []
    for x in sentences:
        body = answer_html(x["text"] + "".join(f"[{n}]" for n in x.get("citations", [])), citations, turn)
        if x.get("supported"):
            out.append(f'<span class="sent">{body}</span>')
        else:
            out.append(f'<span class="sent unsupported" title="{esc(UNSUPPORTED_TITLE)}">'
                       f'<span class="warn" aria-label="unsupported">⚠</span>{body}</span>')
    return "".join(out)


def fallback_html(reason: str) -> str:
    """The notice that the language model's answer is not shown, and why."""
    return (f'<div class="fallback" role="status">⚠ The language model\'s answer is not shown: {esc(reason)} '
            "The answer below is extractive (quoted from the sources). / 未采用语言模型的回答，以下为摘录式回答。</div>")


def _short(text: str, limit: int) -> str:
    if len(text) <= limit:
        return esc(text)
    return f'{esc(text[:limit])}<span class="cut">… ({len(text):,} characters in all / 共 {len(text):,} 字)</span>'


# --- transcript -------------------------------------------------------------------------------------
WELCOME = (
    '<div class="welcome"><p><b>Ask a question about the Chongqing news articles</b> — in Chinese or English.'
    "<br>用中文或英文提问，回答只来自语料中的文章，每句话都标有出处。</p>"
    "<p>Answers cite their sources as <span class=\"cite-demo\">[1]</span>: click one to read the passage in "
    "its article. Follow-up questions such as 「那四川呢？」 or “what about the second one?” are read in the "
    "context of the previous turn.</p></div>"
)


def copy_text(t: Turn) -> str:
    """What the copy button puts on the clipboard: the answer and its sources, as plain text."""
    lines = [t.text.strip()]
    if t.citations:
        lines.append("")
        lines.append("最接近的段落 / Nearest passages (not evidence):" if t.refused else "出处 / Sources:")
        for c in t.citations:
            lines.append(f"[{c.n}] {c.title}" + (f"（{c.byline}）" if c.byline else "") + f" · {c.file}, {_lines(c)}")
            lines.append(f"    {c.passage.strip()}")
    return "\n".join(lines)


def _meta_html(t: Turn) -> str:
    meta = []
    if t.refused:
        meta.append("no evidence found / 未找到依据")
    else:
        meta.append(f"{len(t.citations)} source{'s' if len(t.citations) != 1 else ''}")
    if t.backend == "llm" and t.sentences and not t.refused:
        ok = sum(1 for x in t.sentences if x.get("supported"))
        meta.append(f"{ok} of {len(t.sentences)} sentences supported / {ok}/{len(t.sentences)} 句有出处支持")
    if t.backend:
        model = f" ({esc(t.llm)})" if t.llm else ""
        fell = " → extractive" if t.fallback_reason else ""
        meta.append(f'answered by <span class="backend">{esc(t.backend)}{model}{fell}</span>')
    if t.mode:
        meta.append(f'<span class="mode">{esc(t.mode)}</span> retrieval')
    if t.seconds:
        meta.append(f"{t.seconds:.2f} s")
    return f'<div class="meta">{" · ".join(meta)}</div>'


def _nearest_html(t: Turn, i: int) -> str:
    """For a declined question: links to the nearest passages (opened like citations)."""
    if not t.citations:
        return ""
    links = "".join(
        f'<button type="button" class="near" data-turn="{i}" data-cite="{c.n}" data-preview="{esc(preview_text(c))}">'
        f"{esc(c.title)}</button>"
        for c in t.citations[:3]
    )
    return (f'<div class="nearest-links">Nearest passages, for reference / 最接近的段落（仅供参考）：{links}</div>')


def _actions_html(t: Turn, i: int) -> str:
    """Copy, 👍/👎 (then an optional comment) and regenerate, under a finished turn."""
    parts = [f'<div class="actions" data-turn="{i}">']
    if not t.error:
        parts.append(f'<button type="button" class="yw-act copy" data-copy="{esc(copy_text(t))}" '
                     'aria-label="Copy the answer with its sources">Copy / 复制</button>')
        for rating, face, label in (("up", "👍 Good / 好", "Good answer"), ("down", "👎 Bad / 差", "Bad answer")):
            on = " on" if t.rating == rating else ""
            parts.append(f'<button type="button" class="yw-act rate {rating}{on}" data-turn="{i}" data-rate="{rating}" '
                         f'aria-pressed="{"true" if on else "false"}" aria-label="{label}">{face}</button>')
    parts.append(f'<button type="button" class="yw-act regen" data-turn="{i}" data-regen="1" '
                 'aria-label="Ask this question again">↻ Regenerate / 重新回答</button>')
    parts.append("</div>")
    if t.rating and not t.error:
        if t.comment_sent:
            parts.append('<div class="comment done" role="status">Thank you: your comment is saved. / 感谢反馈，已记录。</div>')
        else:
            parts.append(
                f'<div class="comment" data-turn="{i}"><span class="saved">{"👍" if t.rating == "up" else "👎"} saved / 已记录 —</span>'
                '<input type="text" class="comment-text" maxlength="2000" '
                'placeholder="What was right or wrong? (optional) / 补充说明（可选）" aria-label="Comment">'
                f'<button type="button" class="yw-act comment-send" data-turn="{i}" data-comment="{esc(t.rating)}">'
                "Send / 提交</button></div>"
            )
    return "".join(parts)


def transcript_html(turns: Sequence[Turn], notice: str = "", autoscroll: bool = True) -> str:
    """The conversation: each question, what was searched, the answer with clickable markers,
    what answered it, and its actions. With ``autoscroll`` the page scrolls to the last turn."""
    parts = [f'<div class="yw-transcript" data-autoscroll="{1 if autoscroll else 0}">']
    if not turns:
        parts.append(WELCOME)
    for i, t in enumerate(turns):
        parts.append(f'<div class="turn" data-turn-index="{i}">')
        parts.append(f'<div class="q"><span class="who">You / 问</span><div class="qtext">{_short(t.question, MAX_SHOWN_QUESTION)}</div></div>')
        if t.rewritten and t.rewritten != t.question:
            parts.append(
                f'<div class="rewritten">Searched as / 检索为：<span>{esc(t.rewritten)}</span></div>'
            )
        if t.error:
            parts.append(f'<div class="a error" role="alert"><span class="who">⚠</span><div class="atext">{esc(t.error)}</div></div>')
        elif t.pending:
            parts.append('<div class="a pending"><span class="who">渝问</span><div class="atext">Searching the articles… / 正在检索…<span class="dots"></span></div></div>')
        else:
            cls = "a refused" if t.refused else "a"
            if t.streaming:  # the model's draft, as it is written: checked when it is finished
                cls += " draft"
                body = answer_html(t.text, [], i) + '<span class="caret"></span>'
            elif t.backend == "llm" and t.sentences and not t.refused:
                body = checked_answer_html(t.sentences, t.citations, i)
            else:
                body = answer_html(t.text, t.citations, i)
            if t.fallback_reason and not t.streaming:
                parts.append(fallback_html(t.fallback_reason))
            parts.append(f'<div class="{cls}"><span class="who">渝问</span><div class="atext">{body}</div></div>')
            if not t.streaming:
                if t.refused:
                    parts.append(_nearest_html(t, i))
                parts.append(_meta_html(t))
        if t.finished:
            parts.append(_actions_html(t, i))
        parts.append("</div>")
    if notice:
        parts.append(f'<div class="notice-inline" role="status">{esc(notice)}</div>')
    parts.append("</div>")
    return "".join(parts)


# --- source cards -----------------------------------------------------------------------------------
SOURCES_EMPTY = '<div class="yw-sources"><div class="placeholder">Sources appear here beside the answer. / 引用的出处会显示在这里。</div></div>'


def _lines(c: Citation) -> str:
    if not c.line_start:
        return "lines unknown"
    if c.line_start == c.line_end:
        return f"line {c.line_start}"
    return f"lines {c.line_start}–{c.line_end}"


#: Characters of context a card shows around the sentences the answer used.
CARD_CONTEXT = 90


def passage_excerpt_html(c: Citation, context: int = CARD_CONTEXT) -> str:
    """The cited passage with the used sentences marked; a long passage is cut to those sentences
    and ``context`` characters around them (the article view shows all of it)."""
    spans = [(s - c.start, e - c.start) for s, e in c.highlights if e > c.start and s < c.end]
    text = c.passage
    if not spans or len(text) <= 2 * context + sum(e - s for s, e in spans):
        return marked_text(text, [("used", c.highlights)], offset=c.start)
    a = max(0, min(s for s, _ in spans) - context)
    b = min(len(text), max(e for _, e in spans) + context)
    body = marked_text(text[a:b], [("used", c.highlights)], offset=c.start + a)
    head = '<span class="gap">… </span>' if a > 0 else ""
    tail = '<span class="gap"> …</span>' if b < len(text) else ""
    return head + body + tail


def card_html(c: Citation, turn: int, active: bool = False, nearest: bool = False) -> str:
    """One source card: number, title, byline, file and lines, and the passage with the sentences
    the answer used marked."""
    classes = ["card"] + (["active"] if active else []) + (["nearest"] if nearest else [])
    passage = passage_excerpt_html(c)
    label = "nearest / 相近" if nearest else f"[{c.n}]"
    byline = f'<span class="byline">{esc(c.byline)}</span> · ' if c.byline else ""
    return (
        f'<div class="{" ".join(classes)}" data-turn="{turn}" data-cite="{c.n}" tabindex="0" role="button" '
        f'aria-label="Open source {c.n} in its article">'
        f'<div class="card-head"><span class="num">{esc(label)}</span><span class="title">{esc(c.title)}</span></div>'
        f'<div class="card-meta">{byline}<span class="file">{esc(c.file)}</span> · <span class="lines">{esc(_lines(c))}</span></div>'
        f'<div class="passage">{passage}</div>'
        f'<div class="card-foot"><span class="open">Open in article / 查看原文 →</span></div>'
        "</div>"
    )


def sources_html(turn: Turn | None, turn_index: int, active: int | None = None) -> str:
    """The cards for one turn's citations; for a declined question the nearest passages, marked as
    not being evidence."""
    if turn is None or turn.error:
        return SOURCES_EMPTY
    if turn.pending:
        return '<div class="yw-sources"><div class="placeholder">Searching… / 正在检索…</div></div>'
    parts = ['<div class="yw-sources">']
    if turn.refused:
        parts.append(
            '<div class="sources-head refused"><b>No evidence found / 未找到依据.</b> '
            "The nearest passages are shown for reference only; the answer does not rest on them. "
            "/ 以下是最接近的段落，仅供参考，并非答案依据。</div>"
        )
    else:
        count = len(turn.citations)
        parts.append(f'<div class="sources-head"><b>Sources / 出处</b> · {count} cited passage{"s" if count != 1 else ""}; '
                     'marked sentences are the ones the answer uses.</div>')
    if not turn.citations:
        parts.append('<div class="placeholder">No passage came close. / 没有相近的段落。</div>')
    for c in turn.citations:
        parts.append(card_html(c, turn_index, active=(c.n == active), nearest=turn.refused))
    parts.append("</div>")
    return "".join(parts)


# --- article and page views -------------------------------------------------------------------------
VIEWER_EMPTY = (
    '<div class="yw-viewer"><div class="placeholder">Click a citation such as [1] — in the answer or on a '
    "card — to read the passage in its article. / 点击引用编号，查看原文。</div></div>"
)


def article_html(article: Article, citation: Citation | None = None, note: str = "") -> str:
    """The full clean article; with a citation, its passage marked (and scrolled to) and the
    sentences the answer used marked more strongly. A link switches to the original page."""
    layers: list[tuple[str, list[tuple[int, int]]]] = []
    head_extra = ""
    if citation is not None:
        layers.append(("cited", [(citation.start, citation.end)]))
        layers.append(("used", list(citation.highlights)))
        head_extra = (
            f'<div class="viewer-cite">Source <strong>[{citation.n}]</strong> · {esc(_lines(citation))} of '
            f"<span class=\"file\">{esc(citation.file)}</span></div>"
        )
    start, end = (0, len(article.text))
    line_a, line_b = article.lines_for(start, end)
    target = "used" if citation is not None and citation.highlights else "cited"
    body = marked_text(article.text, layers, target_class=target)
    byline = f'<div class="byline">{esc(article.byline)}</div>' if article.byline else ""
    lines = f"lines {line_a}–{line_b}" if line_a else ""
    return (
        '<div class="yw-viewer">'
        f'<div class="viewer-head"><div class="viewer-title">{esc(article.title)}</div>{byline}'
        f'<div class="viewer-meta"><span class="file">{esc(article.file)}</span>'
        f'{" · " + esc(lines) if lines else ""} · {len(article.text):,} characters'
        ' · <a href="#" class="switch" data-action="page">Original page text / 查看原始页面 →</a></div>'
        f"{head_extra}"
        f'{f"<div class=viewer-note>{esc(note)}</div>" if note else ""}</div>'
        f'<div class="article-text">{body}</div>'
        "</div>"
    )


def page_html(
    file: str,
    page_text: str,
    line_start: int = 0,
    line_end: int = 0,
    title: str = "",
    used_lines: Iterable[int] = (),
) -> str:
    """The original source page with line numbers, lines ``line_start``..``line_end`` marked and
    ``used_lines`` (those of the sentences the answer used) marked more strongly; the view
    scrolls to the first used line, else the first marked one."""
    rows = []
    used = set(used_lines)
    target_line = min(used) if used else line_start
    target_done = False
    for i, line in enumerate(page_text.split("\n"), start=1):
        marked = bool(line_start and line_start <= i <= line_end) or i in used
        cls = "ln marked" if marked else "ln"
        if i in used:
            cls += " used"
        if marked and i >= target_line and not target_done:
            cls += " target"
            target_done = True
        rows.append(f'<div class="{cls}"><span class="no">{i}</span><span class="tx">{esc(line) or "&nbsp;"}</span></div>')
    span = ""
    if line_start:
        span = f"line {line_start}" if line_start == line_end else f"lines {line_start}–{line_end}"
        span = f" · {span} marked"
    return (
        '<div class="yw-viewer page">'
        f'<div class="viewer-head"><div class="viewer-title">Original page / 原始页面：<span class="file">{esc(file)}</span></div>'
        f'<div class="viewer-meta">{esc(title)}{esc(span)} · '
        '<a href="#" class="switch" data-action="article">← Clean article / 返回文章</a></div></div>'
        f'<div class="page-text">{"".join(rows)}</div>'
        "</div>"
    )


# --- browse -----------------------------------------------------------------------------------------
def article_matches(article: Article, query: str) -> bool:
    """Whether ``query`` (case-insensitive, every space-separated word) occurs in the article's
    title, byline, file name or text."""
    words = [w for w in (query or "").lower().split() if w]
    hay = f"{article.title}\n{article.byline}\n{article.file}\n{article.text}".lower()
    return all(w in hay for w in words)


def article_list_html(articles: Sequence[Article], query: str = "", selected: str | None = None) -> str:
    """A table of the articles that match ``query``: title, byline, file and lines, length."""
    shown = [a for a in articles if article_matches(a, query)]
    parts = [
        '<div class="yw-list">',
        f'<div class="list-head">{len(shown)} of {len(articles)} articles'
        f'{" matching “" + esc(query.strip()) + "”" if query and query.strip() else ""} · click one to read it / 点击阅读</div>',
    ]
    if not shown:
        parts.append('<div class="placeholder">No article matches. / 没有匹配的文章。</div>')
    else:
        parts.append('<table><thead><tr><th>Article / 文章</th><th class="num">Length / 字数</th></tr></thead><tbody>')
        for a in shown:
            line_a, line_b = a.lines_for(0, len(a.text))
            where = f"{a.file} · lines {line_a}–{line_b}" if line_a else a.file
            cls = ' class="selected"' if a.id == selected else ""
            byline = f'<span class="byline">{esc(a.byline)}</span> · ' if a.byline else ""
            parts.append(
                f'<tr{cls} data-article="{esc(a.id)}" tabindex="0" role="button">'
                f'<td><div class="title">{esc(a.title)}</div>'
                f'<div class="row-meta">{byline}<span class="file">{esc(where)}</span></div></td>'
                f'<td class="num">{len(a.text):,}</td></tr>'
            )
        parts.append("</tbody></table>")
    parts.append("</div>")
    return "".join(parts)


# --- notices and status -----------------------------------------------------------------------------
def notice_html(kind: str, title: str, body: str = "", command: str = "") -> str:
    """A banner: ``kind`` is ``ok``, ``warn`` or ``error``; ``command`` is shown as code to run."""
    cmd = f'<div class="cmd">Run / 运行：<code>{esc(command)}</code></div>' if command else ""
    text = f"<div>{esc(body)}</div>" if body else ""
    return f'<div class="yw-notice {esc(kind)}" role="status"><b>{esc(title)}</b>{text}{cmd}</div>'


def _precision_text(precision: dict | None) -> str:
    if not precision:
        return ""
    return f"index {precision.get('index', '?')}, queries {precision.get('queries', '?')}"


def status_html(status: dict | None, error: str = "") -> str:
    """The index status table (model, articles, passages, when built), or what is wrong with it."""
    if error:
        return notice_html("error", "No usable index / 索引不可用", error)
    if not status:
        return notice_html("warn", "Index not opened yet / 索引尚未加载")
    rows = [
        ("Embedding model / 模型", f"{status.get('embedder', '?')} ({status.get('dim', '?')}-d)"),
        ("Precision / 精度", _precision_text(status.get("precision"))),
        ("Articles / 文章", status.get("articles", "?")),
        ("Passages / 段落", status.get("chunks", "?")),
        ("Built / 构建于", status.get("built_at", "?")),
        ("Vector index / 向量索引", status.get("vector_index", "")),
        ("Index folder / 索引目录", status.get("index_dir", "")),
        ("Corpus folder / 语料目录", status.get("corpus_dir", "")),
    ]
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows if v != "")
    state = "stale / 需更新" if status.get("stale") else "up to date / 最新"
    warn = "".join(f'<div class="warn-line">⚠ {esc(w)}</div>' for w in status.get("warnings") or [])
    cls = "warn" if status.get("stale") else "ok"
    return f'<div class="yw-status {cls}"><table>{body}<tr><th>State / 状态</th><td>{esc(state)}</td></tr></table>{warn}</div>'
