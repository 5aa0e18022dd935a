"""From raw OCR'd newspaper pages to clean, titled articles with a map back to source lines.

The pages are plain text (or markdown) dumps of scanned newspaper pages: column lines broken
mid-word, column fragments separated by blank lines, headlines over several lines (sometimes
printed *after* the article), bylines in several styles, author notes, captions, tables. The
pipeline is:

``read_text``      bytes -> str (encoding detection, refusal of binary/empty/undecodable files)
``repair_page``    str -> blocks: paragraphs rejoined from their column fragments, headline
                   lines, bylines, notes, captions, source lines, table/list rows; each block
                   knows which source line every character came from
``split_articles`` blocks -> articles (title, byline, note, clean text, segments)
``load_corpus``    every ``*.txt``/``*.md`` of a folder, one bad file never stopping the others

Invariant: every non-whitespace character of a page ends up in exactly one article's ``text``,
in the page's order within each paragraph, and no character is ever added to a paragraph when
column fragments are rejoined (Chinese has no spaces; spaces inside a source line are kept).
Titles use a single space between headline lines.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .documents import Article

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md")

# --------------------------------------------------------------------------------------------
# Reading files


class IngestError(Exception):
    """A source file that cannot be ingested; the message names the file and what is wrong."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path} {reason}")


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Encodings charset-normalizer may propose that we trust (only as a last resort, and only when
# the result really reads as CJK text): it otherwise "decodes" random bytes as some code page.
_TRUSTED_GUESSES = {"big5", "big5hkscs", "cp950", "utf_16_le", "utf_16_be", "hz", "euc_jp",
                    "shift_jis", "cp932", "euc_kr", "cp949"}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _control_share(text: str) -> float:
    bad = sum(1 for c in text if (ord(c) < 32 and c not in "\t\n\r\f\v") or 0x7F <= ord(c) < 0xA0)
    return bad / max(len(text), 1)


def read_text(path: Path | str) -> str:
    """The text of one source file, newlines normalised to ``\\n``.

    Tries, in order: a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32), strict UTF-8, strict
    GB18030 (a superset of GBK/GB2312), UTF-8 with a handful of damaged bytes (replaced by U+FFFD,
    with a warning), and as a last resort charset-normalizer restricted to CJK encodings whose
    result reads as CJK text. Raises :class:`IngestError` for a missing, empty, binary or undecodable file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise IngestError(path, f"cannot be read ({e.strerror or e})") from e
    if not data.strip():
        raise IngestError(path, "is empty")

    text: str | None = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom):].decode(encoding)
            except UnicodeDecodeError as e:
                raise IngestError(path, f"cannot be decoded: it starts with a {encoding} byte-order "
                                        f"mark but is not valid {encoding} ({e.reason} at byte {e.start})") from e
            break
    if text is None:
        if b"\x00" in data:
            raise IngestError(path, "looks binary (contains NUL bytes), not a text page")
        for encoding in ("utf-8", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    if text is None:
        # UTF-8 with a few damaged bytes (GB18030 text read as UTF-8 fails on most characters):
        # keep the page, mark the damage with U+FFFD, and say so.
        damaged = data.decode("utf-8", errors="replace")
        bad = damaged.count("\ufffd")
        if bad <= max(1, len(damaged) // 200):
            log.warning("%s: %d invalid UTF-8 byte sequence(s) replaced by U+FFFD", path, bad)
            text = damaged
    if text is None:
        text = _guess_cjk(data)
        if text is None:
            raise IngestError(path, "cannot be decoded as UTF-8, UTF-16 (with BOM) or GB18030/GBK")
        log.info("%s: decoded by charset-normalizer guess", path)

    if "\x00" in text or _control_share(text) > 0.02:
        raise IngestError(path, "looks binary (too many control characters), not a text page")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise IngestError(path, "is empty")
    return text


def _guess_cjk(data: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - optional
        return None
    best = from_bytes(data).best()
    if best is None or best.encoding not in _TRUSTED_GUESSES:
        return None
    text = str(best)
    visible = [c for c in text if not c.isspace()]
    if not visible or len(_CJK.findall(text)) / len(visible) < 0.3:
        return None
    return text


# --------------------------------------------------------------------------------------------
# Classifying source lines

# A sentence (and so possibly a paragraph) ends with these, optionally followed by closers.
_TERMINAL = "。！？!?…"
_CLOSERS = "”’」』）)】》\"'"
# A line ending with one of these is certainly mid-sentence (never a headline's end).
_OPEN_END = "，、,：:；;“‘「『（(【《—-"
_CLAUSE_MARK = re.compile(r"[，。、；：！？,;:!?]")

_TABLE = re.compile(r"^(?:[-*]\s*)?\|.*\|")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}")
_LIST = re.compile(r"^[-*•]\s+\S")
_MARK_BYLINE = re.compile(r"^■\s*(\S.*)$")
_NOTE = re.compile(r"^[（(]\s*(?:作者|本文作者|本文系|本文为)")
_SOURCE = re.compile(r"^(?:据|来源[:：]\s*|转自)《[^》]{1,20}》\S{0,6}$")
_NAMES = r"[\u4e00-\u9fff·]{2,5}(?:[ \u3000]+[\u4e00-\u9fff·]{2,5}){0,6}"
_REPORTER = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9\-－—·]{0,24}(?:记者|通讯员|实习生)[ \u3000]*" + _NAMES + r"$")
_BARE_NAMES = re.compile(r"^[\u4e00-\u9fff·]{2,4}(?:[ \u3000]+[\u4e00-\u9fff·]{2,4}){0,5}$")
_BAOXUN = re.compile(r"^本报讯\s*[（(]([^（）()]{2,60})[）)]")
_CAPTION = re.compile(
    r"(?:\s(?:记者|通讯员|特约摄影|摄影)?\s*[\u4e00-\u9fff]{2,4}\s*摄(?:\s*[/／]\s*\S+)?"
    r"|(?:^|\s)\S{2,12}供图|[（(](?:资料图片|资料图|新华社发|图片由[^）)]*提供)[）)])\s*$"
)
_PARENTHESISED = re.compile(r"^[（(][^（）()]*[）)]$")
# Page/column banners printed above a headline (a series name, a special-coverage label).
_BANNER = re.compile(r"^(?:深入学习贯彻|学习贯彻|关注|奋力谱写|唱好双城记)")


def _ends_sentence(s: str) -> bool:
    s = s.rstrip(_CLOSERS)
    return bool(s) and s[-1] in _TERMINAL


def _is_head_like(s: str) -> bool:
    """Could this line be a headline on its own: short, no sentence inside, no dangling clause."""
    if not s or s[-1] in _OPEN_END or _ends_sentence(s) or _PARENTHESISED.match(s):
        return False
    if re.search(r"[。！？；;]", s):
        return False
    if len(s) <= 40:
        return True
    return len(s) <= 90 and not re.search(r"[，、,]", s)


_jieba = None


def _straddles(left: str, right: str) -> bool:
    """Does a word run across the end of ``left`` into ``right`` (e.g. 强|调)? Then the two
    are one text broken by the column, not a headline followed by its body."""
    global _jieba
    if not left or not right or not (_CJK.match(left[-1]) and _CJK.match(right[0])):
        return False
    if _jieba is None:
        try:
            import jieba

            from .jieba_dict import install

            install()  # jieba's dictionary from yuwen's compact cache
            jieba.setLogLevel(logging.WARNING)
            _jieba = jieba
        except ImportError:  # pragma: no cover - jieba is a dependency
            _jieba = False
    if not _jieba:
        return False
    a, b = left[-4:], right[:4]
    pos = 0
    for token in _jieba.lcut(a + b, HMM=False):
        if pos < len(a) < pos + len(token):
            return True
        pos += len(token)
    return False


def _tiny_first_clause(s: str) -> bool:
    """``s`` opens with a 1-2 character clause (``调，`` ``及。``): the tail of a broken word."""
    m = _CLAUSE_MARK.search(s)
    return bool(m) and 0 < m.start() <= 2


@dataclass
class _Line:
    no: int  # 1-based source line
    text: str  # stripped
    group: int  # physical block: lines not separated by a blank line share a group
    kind: str = "text"


# --------------------------------------------------------------------------------------------
# Blocks


@dataclass
class Block:
    """One unit of a repaired page.

    ``kind`` is one of ``head`` (a headline line), ``byline``, ``note``, ``source`` (a
    ``据《…》`` line), ``caption``, ``para`` (a paragraph rejoined from its column fragments),
    ``row`` (a table or list row, kept intact). ``pieces`` maps ``text`` back to source lines as
    ``(start, end, line)``; ``group`` is the blank-line separated block of the first line;
    ``byline`` holds the names for bylines and for ``本报讯(…)`` paragraphs.
    """

    kind: str
    text: str
    pieces: list[tuple[int, int, int]]
    group: int
    byline: str = ""
    byline_style: str = ""  # mark (■), reporter, name, baoxun

    @property
    def first_line(self) -> int:
        return self.pieces[0][2]

    @property
    def last_line(self) -> int:
        return self.pieces[-1][2]

    @property
    def lines(self) -> list[int]:
        return [p[2] for p in self.pieces]


def _block(kind: str, parts: list[tuple[str, int]], group: int, **kw) -> Block:
    text, pieces = "", []
    for s, no in parts:
        pieces.append((len(text), len(text) + len(s), no))
        text += s
    return Block(kind, text, pieces, group, **kw)


def _classify(lines: list[_Line]) -> None:
    for ln in lines:
        t = ln.text
        if _TABLE.match(t) or _TABLE_RULE.match(t) and "|" in t:
            ln.kind = "row"
        elif _MARK_BYLINE.match(t):
            ln.kind = "mark"
        elif _NOTE.match(t):
            ln.kind = "note"
        elif _SOURCE.match(t):
            ln.kind = "source"
        elif len(t) <= 48 and _REPORTER.match(t):
            ln.kind = "reporter"
        elif _CAPTION.search(t) and len(t) <= 160:
            ln.kind = "caption"
        elif _LIST.match(t):
            ln.kind = "row"
        else:
            ln.kind = "text"


def _page_lines(text: str) -> list[_Line]:
    out: list[_Line] = []
    group = 0
    blank = True
    for no, raw in enumerate(text.split("\n"), start=1):
        s = raw.strip().lstrip("\ufeff").strip()
        if not s:
            blank = True
            continue
        if blank:
            group += 1
            blank = False
        out.append(_Line(no, s, group))
    _classify(out)
    return out


def _local_width(lines: list[_Line], i: int, span: int = 6) -> float:
    """Median length of the body lines around line ``i`` (excluding it): ~15 in a narrow
    column, hundreds where each paragraph is one line."""
    near = [len(lines[j].text) for j in range(max(0, i - span), min(len(lines), i + span + 1))
            if j != i and lines[j].kind == "text"]
    return statistics.median(near) if near else 1000.0


def _column_mode(lines: list[_Line], i: int, span: int = 6) -> bool:
    """Is line ``i`` among narrow column fragments: the body lines around it are short and
    mostly end mid-sentence (where each paragraph is one line, most end a sentence)."""
    near = [lines[j].text for j in range(max(0, i - span), min(len(lines), i + span + 1))
            if j != i and lines[j].kind == "text"]
    if len(near) < 3:
        return False
    mid = sum(1 for t in near if not _ends_sentence(t)) / len(near)
    return statistics.median(len(t) for t in near) <= 30 and mid >= 0.6


def repair_page(text: str) -> list[Block]:
    """The page as blocks, in source order, with every non-blank character kept.

    Column fragments are rejoined with nothing added; a paragraph ends at a line ending a
    sentence (。！？… plus closing quotes) unless, in narrow columns, the line is full width
    and the next one does not open with a short lead sentence (then the 。 fell at the column
    edge by chance). Headline lines are short lines that end no sentence and are not the start of
    a word broken by the column (checked with jieba) — or, in narrow columns, only where the
    structure says so (after a ``据《…》`` source line, before a byline).
    """
    lines = _page_lines(text)
    blocks: list[Block] = []
    para: list[tuple[str, int]] = []
    para_group = 0
    held: list[Block] = []  # captions met inside an open paragraph: emitted after it

    def close_para() -> None:
        nonlocal para
        if para:
            s = para[0][0]
            m = _BAOXUN.match(s)
            if m:
                blocks.append(_block("para", para, para_group, byline=m.group(1).strip(), byline_style="baoxun"))
            else:
                blocks.append(_block("para", para, para_group))
            para = []
        blocks.extend(held)
        held.clear()

    def next_index(i: int, kinds: tuple[str, ...] | None = None) -> int | None:
        for j in range(i + 1, len(lines)):
            if lines[j].kind == "caption":
                continue
            if kinds is None or lines[j].kind in kinds:
                return j
            return None
        return None

    def leads_to_byline(i: int, max_hops: int = 3) -> bool:
        """Line ``i`` is followed (maybe after more headline lines) by an unmistakable byline:
        ``■…``, ``…记者 姓名`` or a ``本报讯(…)`` paragraph. (A bare name is not enough: a
        2-4 character column fragment looks just like one.)"""
        j = i + 1
        hops = 0
        while j < len(lines) and hops <= max_hops:
            ln = lines[j]
            if ln.kind in ("mark", "reporter") or _BAOXUN.match(ln.text):
                return True
            if ln.kind == "text" and _is_head_like(ln.text):
                j += 1
                hops += 1
                continue
            return False
        return False

    def is_head(i: int) -> bool:
        ln = lines[i]
        if not _is_head_like(ln.text):
            return False
        prev = blocks[-1] if blocks else None
        nj = next_index(i)
        nxt = lines[nj] if nj is not None else None
        structural = (prev is not None and prev.kind in ("source", "head") and not para) or leads_to_byline(i)
        if para:  # inside an open sentence only a headline introducing a byline breaks it
            return leads_to_byline(i)
        if prev is not None and prev.kind == "byline" and prev.byline_style in ("mark", "name"):
            return leads_to_byline(i, max_hops=0)  # the text right under a ■byline is body
        if nxt is None and not structural:  # the page ends: a paragraph cut off, not a headline
            return False
        if nxt is not None and nxt.kind == "text":
            if _straddles(ln.text, nxt.text) or _tiny_first_clause(nxt.text):
                return False
        if _column_mode(lines, i):
            return structural
        return True

    def para_ends_here(i: int) -> bool:
        ln = lines[i]
        if not _ends_sentence(ln.text):
            return False
        nj = next_index(i)
        if nj is None or lines[nj].kind != "text":
            return True
        if len(para) < 2 or not _column_mode(lines, i):
            return True
        width = _local_width(lines, i)
        nxt = lines[nj].text
        full = len(ln.text) >= 0.9 * width
        m = re.search(r"[。！？!?]", nxt)
        lead = m is not None and m.start() <= 12 and not re.search(r"[，,、]", nxt[: m.start()])
        return not (full and len(nxt) <= 1.4 * width and not lead)

    i = 0
    while i < len(lines):
        ln = lines[i]
        k = ln.kind
        if k == "caption":
            cap = _block("caption", [(ln.text, ln.no)], ln.group)
            (held if para else blocks).append(cap)
        elif k == "row":
            close_para()
            blocks.append(_block("row", [(ln.text, ln.no)], ln.group))
        elif k == "mark":
            close_para()
            name = _MARK_BYLINE.match(ln.text).group(1).strip()
            blocks.append(_block("byline", [(ln.text, ln.no)], ln.group, byline=name, byline_style="mark"))
        elif k == "reporter":
            close_para()
            blocks.append(_block("byline", [(ln.text, ln.no)], ln.group, byline=ln.text, byline_style="reporter"))
        elif k == "note":
            close_para()
            parts = [(ln.text, ln.no)]
            # A note may be broken over a few lines: take lines until its closing bracket.
            while not parts[-1][0].rstrip().endswith(("）", ")")) and i + 1 < len(lines) and len(parts) < 4 \
                    and lines[i + 1].kind in ("text", "caption") and len(lines[i + 1].text) <= 40:
                i += 1
                parts.append((lines[i].text, lines[i].no))
            blocks.append(_block("note", parts, ln.group))
        elif k == "source":
            close_para()
            blocks.append(_block("source", [(ln.text, ln.no)], ln.group))
        else:  # body text, headline or bare-name byline
            prev = blocks[-1] if blocks else None
            if not para and prev is not None and prev.kind == "head" and _BARE_NAMES.match(ln.text) \
                    and not _straddles(prev.text, ln.text):
                blocks.append(_block("byline", [(ln.text, ln.no)], ln.group, byline=ln.text, byline_style="name"))
            elif is_head(i):
                close_para()
                blocks.append(_block("head", [(ln.text, ln.no)], ln.group))
            elif _PARENTHESISED.match(ln.text) and not para:
                blocks.append(_block("para", [(ln.text, ln.no)], ln.group))
            else:
                if not para:
                    para_group = ln.group
                para.append((ln.text, ln.no))
                if para_ends_here(i):
                    close_para()
        i += 1
    close_para()
    return blocks


# --------------------------------------------------------------------------------------------
# Articles


@dataclass
class _Draft:
    kickers: list[list[Block]] = field(default_factory=list)  # banner headline blocks
    title: list[Block] = field(default_factory=list)  # headline lines
    title_after: bool = False  # the headline was printed after the text
    byline: Block | None = None
    body: list[Block] = field(default_factory=list)  # paragraphs, subheads, rows, captions
    note: Block | None = None
    tail: list[Block] = field(default_factory=list)  # source lines and stray matter
    closed: bool = False  # a note, closing byline or source line ended it

    @property
    def has_body(self) -> bool:
        return any(b.kind in ("para", "row") for b in self.body)

    def paras(self) -> list[Block]:
        return [b for b in self.body if b.kind == "para"]

    def byline_text(self) -> str:
        if self.byline is not None:
            return self.byline.byline
        for b in self.body[:1]:
            if b.byline_style == "baoxun":
                return b.byline
        return ""


def _bigrams(s: str) -> set[str]:
    s = re.sub(r"[^\w]", "", s)
    return {s[i : i + 2] for i in range(len(s) - 1)}


def _overlap(title: str, body: str) -> float:
    grams = _bigrams(title)
    if not grams:
        return 0.0
    return sum(1 for g in grams if g in body) / len(grams)


def _head_groups(heads: list[Block]) -> list[list[Block]]:
    """Headline lines split into their blank-line separated blocks."""
    out: list[list[Block]] = []
    for h in heads:
        if out and out[-1][-1].group == h.group:
            out[-1].append(h)
        else:
            out.append([h])
    return out


def _assemble(blocks: list[Block]) -> list[_Draft]:
    drafts: list[_Draft] = []
    cur: _Draft | None = None
    pending: list[Block] = []  # captions etc. met before the first article

    def start(**kw) -> _Draft:
        nonlocal cur
        cur = _Draft(**kw)
        if pending:
            cur.body.extend(pending)
            pending.clear()
        drafts.append(cur)
        return cur

    i = 0
    while i < len(blocks):
        b = blocks[i]
        if b.kind == "head":
            j = i
            while j < len(blocks) and blocks[j].kind == "head":
                j += 1
            heads = blocks[i:j]
            groups = _head_groups(heads)
            nxt = blocks[j] if j < len(blocks) else None
            prev = blocks[i - 1] if i > 0 else None
            byline_next = nxt is not None and (nxt.kind == "byline" and nxt.byline_style == "mark"
                                               or nxt.byline_style == "baoxun")
            if cur is None:
                kick, title = _split_banners(groups, first_on_page=not drafts)
                start(kickers=kick, title=title)
            elif cur.closed and not cur.title and not byline_next and (
                    (prev is not None and prev.kind == "source")
                    or _overlap(" ".join(h.text for h in heads), "".join(p.text for p in cur.paras())) >= 0.5):
                cur.title = heads  # the page prints this article's headline after its text
                cur.title_after = True
            elif cur.title and not cur.has_body and cur.byline is None and not cur.closed:
                cur.title.extend(heads)  # one headline interrupted (e.g. by a caption)
            elif cur.closed or byline_next or len(groups) >= 2:
                kick, title = _split_banners(groups, first_on_page=False)
                start(kickers=kick, title=title)
            else:  # a subhead inside the running article
                for g in groups:
                    cur.body.append(_merge_head_group(g))
            i = j
            continue
        if b.kind == "byline":
            if b.byline_style == "mark":
                if cur is not None and cur.title and not cur.has_body and cur.byline is None and not cur.closed:
                    cur.byline = b
                else:
                    start(byline=b)
            elif cur is None:
                start(byline=b)
            elif cur.byline is None and (cur.has_body or cur.title):
                cur.byline = b
                if cur.has_body or cur.title_after:
                    cur.closed = True  # a byline after the text closes the article
            else:
                cur.body.append(b)
        elif b.kind == "note":
            if cur is None:
                cur = start()
            if cur.note is None:
                cur.note = b
            else:
                cur.tail.append(b)
            cur.closed = True
        elif b.kind == "source":
            if cur is None:
                cur = start()
            cur.tail.append(b)
            cur.closed = True
        elif b.kind == "caption":
            if cur is None:
                pending.append(b)
            else:
                cur.body.append(b)
        else:  # para / row
            if b.byline_style == "baoxun" and cur is not None and cur.title and not cur.has_body \
                    and cur.byline is None and not cur.closed:
                cur.body.append(b)
            elif cur is None or cur.closed or b.byline_style == "baoxun":
                start(body=[b])
            else:
                cur.body.append(b)
        i += 1
    if pending:
        (drafts[-1].tail if drafts else start().body).extend(pending)
    return drafts


def _split_banners(groups: list[list[Block]], first_on_page: bool) -> tuple[list[list[Block]], list[Block]]:
    """Leading headline blocks that are page/series banners (kickers), and the title lines.
    The first of several headline blocks at the top of a page is a banner; so is any leading
    block that reads like one (深入学习贯彻…, 关注…)."""
    kick: list[list[Block]] = []
    rest = list(groups)
    if first_on_page and len(rest) >= 2:
        kick.append(rest.pop(0))
    while len(rest) >= 2 and _BANNER.match(rest[0][0].text):
        kick.append(rest.pop(0))
    return kick, [h for g in rest for h in g]


def _merge_head_group(group: list[Block]) -> Block:
    """A multi-line subhead as one block, its lines joined with a space."""
    if len(group) == 1:
        return group[0]
    parts: list[tuple[str, int]] = []
    for n, h in enumerate(group):
        parts.append((h.text if n == 0 else " " + h.text, h.first_line))
    return _block("head", parts, group[0].group)


def _split_drift(drafts: list[_Draft]) -> list[_Draft]:
    """Split off page-edge leftovers glued to a byline-less article: a trailing run of at least
    two prose paragraphs sharing not one character pair with the headline, after paragraphs that
    do. Such runs are fragments of another article whose headline is not on the page."""
    out: list[_Draft] = []
    for d in drafts:
        out.append(d)
        if not d.title or d.title_after or d.byline_text() or d.note is not None:
            continue
        grams = _bigrams(d.title[0].text)
        body = d.body
        k = len(body)
        while k > 0 and (body[k - 1].kind == "caption" or body[k - 1].kind == "para"
                         and len(body[k - 1].text) >= 20 and not (_bigrams(body[k - 1].text) & grams)):
            k -= 1
        drift = [b for b in body[k:] if b.kind == "para"]
        if len(drift) >= 2 and any(b.kind == "para" and _bigrams(b.text) & grams for b in body[:k]):
            out.append(_Draft(body=body[k:], tail=d.tail))
            d.body, d.tail = body[:k], []
    return out


def _merge_strays(drafts: list[_Draft]) -> list[_Draft]:
    """A headline-less, byline-less scrap (one short paragraph, e.g. a 扫码关注 promo) is not an
    article: it goes to the end of the article before it."""
    out: list[_Draft] = []
    for d in drafts:
        stray = (out and not d.title and not d.kickers and d.byline is None and d.note is None
                 and len(d.body) + len(d.tail) == 1 and len((d.body + d.tail)[0].text) <= 150
                 and not d.byline_text())
        if stray:
            out[-1].tail.extend(d.body + d.tail)
        else:
            out.append(d)
    return out


def id_prefix(file: str) -> str:
    """The prefix of the ids of a page's articles: its file name up to the first ``_`` (``000``)."""
    return _id_prefix(file)


def _id_prefix(file: str) -> str:
    p = Path(file)
    name = p.stem
    head = name.split("_", 1)[0] if "_" in name else name
    prefix = head or name
    return "/".join([*p.parent.parts, prefix]) if p.parent.parts else prefix


def _render(d: _Draft, art_id: str, file: str) -> Article:
    text = ""
    segments: list[tuple[int, int, int]] = []

    def add_line(pieces: list[tuple[str, int]]) -> None:
        nonlocal text
        if text:
            text += "\n"
            if segments:  # the separator belongs to the line before
                s, e, no = segments[-1]
                segments[-1] = (s, e + 1, no)
        for s, no in pieces:
            if not s:
                continue
            segments.append((len(text), len(text) + len(s), no))
            text += s

    def pieces_of(b: Block) -> list[tuple[str, int]]:
        return [(b.text[s:e], no) for s, e, no in b.pieces]

    def joined(heads: list[Block]) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for n, h in enumerate(heads):
            for m, (s, no) in enumerate(pieces_of(h)):
                out.append(((" " if n and m == 0 else "") + s, no))
        return out

    for g in d.kickers:
        add_line(joined(g))
    title = " ".join(re.sub(r"^#{1,6}\s+", "", h.text) for h in d.title)
    if d.title:
        add_line(joined(d.title))
    if d.byline is not None:
        add_line(pieces_of(d.byline))
    for b in d.body:
        add_line(pieces_of(b))
    if d.note is not None:
        add_line(pieces_of(d.note))
    for b in d.tail:
        add_line(pieces_of(b))

    byline = d.byline_text()
    inferred = not d.title
    if inferred:
        # The page printed no headline: the title says so and quotes the opening sentence. The
        # byline (with its ■ marker) stays in the byline and the text, never in the title.
        first = next((b.text for b in d.body if b.kind == "para"), "") or text
        first = re.split(r"(?<=[。！？!?])", first, maxsplit=1)[0].strip()
        title = f"（版面缺标题）{first[:24]}…" if len(first) > 24 else f"（版面缺标题）{first}"
    note = ""
    if d.note is not None:
        note = d.note.text
    return Article(id=art_id, file=file, title=title, text=text, byline=byline, note=note,
                   title_inferred=inferred, segments=segments)


def split_articles(page_text: str, file: str, id_prefix: str | None = None) -> list[Article]:
    """The articles of one page. ``file`` is the page's path relative to the corpus folder;
    ids are ``{prefix}-{n:02d}`` (prefix: the file name up to its first ``_``, e.g. ``000``),
    so they depend only on this page."""
    drafts = _assemble(repair_page(page_text))
    drafts = _merge_strays(_split_drift(drafts))
    prefix = id_prefix or _id_prefix(file)
    return [_render(d, f"{prefix}-{n:02d}", file) for n, d in enumerate(drafts, start=1)]


DEFAULT_MAX_FILE_MB = 4.0  # a news page is 10-30 kB; a 10 MB file would take about an hour to embed


def max_file_bytes() -> int:
    """The size above which a corpus file is refused (``YUWEN_MAX_FILE_MB``, default 4 MB)."""
    raw = os.environ.get("YUWEN_MAX_FILE_MB", "")
    try:
        mb = float(raw) if raw else DEFAULT_MAX_FILE_MB
    except ValueError:
        mb = DEFAULT_MAX_FILE_MB
    return int(mb * 1024 * 1024)


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{n / 1024:.0f} kB"


@dataclass
class CorpusFile:
    """One readable page of the corpus: its path, its name relative to the corpus folder, and
    the prefix its article ids take."""

    path: Path
    rel: str
    prefix: str


def list_corpus(corpus_dir: Path | str, max_bytes: int | None = None) -> tuple[list[CorpusFile], list[IngestError]]:
    """The ``*.txt``/``*.md`` pages under ``corpus_dir`` (sorted, recursive, hidden names left
    out) and the entries refused by name: links leading outside the folder, folders named like
    pages, files over the size limit."""
    corpus_dir = Path(corpus_dir)
    root = corpus_dir.resolve()
    limit = max_file_bytes() if max_bytes is None else max_bytes
    kept: list[Path] = []
    refused: list[IngestError] = []
    for p in corpus_dir.rglob("*"):
        rel_parts = p.relative_to(corpus_dir).parts
        if any(part.startswith(".") for part in rel_parts):
            continue
        if p.is_symlink():
            target = p.resolve()
            if target != root and root not in target.parents:
                what = "folder" if target.is_dir() else "file"
                refused.append(IngestError(p, f"is a link to a {what} outside the corpus folder ({target}); not read"))
                continue
            if target.is_dir():
                continue  # its pages are read where they really are
        if p.suffix.lower() not in SUFFIXES:
            continue
        if p.is_dir():
            refused.append(IngestError(p, "is a folder, not a text page"))
            continue
        if not p.is_file():
            continue
        size = p.stat().st_size
        if size > limit:
            refused.append(IngestError(p, f"is {_size(size)}, over the {_size(limit)} limit for one page "
                                          "(split it, or raise the limit: --max-file-mb or YUWEN_MAX_FILE_MB)"))
            continue
        kept.append(p)
    kept.sort(key=lambda p: p.relative_to(corpus_dir).as_posix())
    rels = [p.relative_to(corpus_dir).as_posix() for p in kept]
    prefixes = [_id_prefix(r) for r in rels]
    files = []
    for path, rel, prefix in zip(kept, rels, prefixes):
        if prefixes.count(prefix) > 1:  # two pages share a number: fall back to the full name
            prefix = rel.rsplit(".", 1)[0]
        files.append(CorpusFile(path, rel, prefix))
    return files, refused


def ingest_file(f: CorpusFile) -> list[Article]:
    """The articles of one corpus page, or IngestError naming the file and what is wrong."""
    try:
        text = read_text(f.path)
        found = split_articles(text, f.rel, id_prefix=f.prefix)
    except IngestError:
        raise
    except Exception as e:  # a parser bug must not take the whole corpus down
        log.warning("could not split %s", f.path, exc_info=True)
        raise IngestError(f.path, f"could not be split into articles ({type(e).__name__}: {e})") from e
    if not found:
        raise IngestError(f.path, "holds no article text")
    log.debug("%s: %d articles", f.rel, len(found))
    return found


def load_corpus(corpus_dir: Path | str) -> tuple[list[Article], list[IngestError]]:
    """Every article of every ``*.txt``/``*.md`` under ``corpus_dir`` (sorted, recursive), and
    the files that could not be read. One bad file never stops the others; each is logged."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        err = IngestError(corpus_dir, "is not a folder")
        log.warning("%s", err)
        return [], [err]
    files, errors = list_corpus(corpus_dir)
    articles: list[Article] = []
    for f in files:
        try:
            articles.extend(ingest_file(f))
        except IngestError as e:
            errors.append(e)
            log.warning("skipping %s", e)
    return articles, errors
