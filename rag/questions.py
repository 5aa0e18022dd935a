"""What kind of answer a question asks for: a quantity, a list, the author, an exact name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import jieba.posseg as pseg

_CJK = re.compile(r"[\u4e00-\u9fff]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9·\-]*[A-Za-z0-9]")
_QUOTED = re.compile(r"[《“\"「]([^》”\"」]{2,20})[》”\"」]")
_TITLE = re.compile(r"《([^》]{2,30})》")
# 几/多少 followed by a measure word; 哪几 asks for a list, not a number.
_QUANTITY_ZH = re.compile(r"(?<![哪这那])(?:几|多少)(?P<unit>[天日年月条项位名人个家次元所座种批台辆件篇倍期届])")
_PEOPLE_EN = re.compile(r"\bhow many (?:employees|people|workers|staff|persons|students|teachers|residents)\b", re.I)
_DAYS_EN = re.compile(r"\bhow many days\b", re.I)
_LIST = re.compile(
    r"哪几|哪些|几个方面|几种|哪[一二三四五六七八九十]|什么途径|什么措施|什么做法|具体做法|"
    r"\bwhich (?:fields|areas|ways|measures)\b|\bwhat (?:measures|steps|ways)\b",
    re.I,
)
_HOW = re.compile(r"怎样|如何|怎么|为什么|为何|\bhow\b|\bwhy\b", re.I)
_PARTS = re.compile(r"[？?；;]")
_PRONOUN = re.compile(r"^(?:它们|他们|她们|它|其|他|她|该)")
_PREDICATE = re.compile(r"是|叫|在|有|为|怎么|怎样|如何|什么|哪|多少|几")
# A closing instruction (请结合两篇文章回答) says how to answer, not what to find.
_INSTRUCTION = re.compile(r"^(?:请|试|结合|please\b)|回答[。.]?$", re.I)
_SECTIONS = re.compile(r"哪几个方面|哪些方面|几个方面|哪几方面|哪些途径|什么途径|哪几条|哪些路径")
_SEVERAL = re.compile(r"分别|各自|两篇|和.{1,12}两|both|respectively|\band\b.*\?", re.I)
_AUTHOR = re.compile(r"作者|单位|任职|哪所(?:高校|大学|学校)|来自哪|author", re.I)
# The kind of thing a question asks for, read off its question word.
_WANTS = (
    ("person", re.compile(r"谁|哪位|哪一位|什么人|何人|哪些人|\bwho(?:m|se)?\b", re.I)),
    ("time", re.compile(r"哪一?年|何年|何时|什么时候|哪一?天|几月|几号|哪个(?:时期|朝代|年代|世纪)|什么(?:时期|年代|朝代)|"
                        r"多久|\bwhen\b|\bwhat year\b", re.I)),
    ("number", re.compile(r"(?<![哪这那])(?:几|多少|多大|多高|多长|多重|多远|多深|多宽|百分之几)|\bhow (?:many|much|long|big|large|old)\b", re.I)),
    ("place", re.compile(r"哪里|哪儿|在哪|何处|何地|哪[个一]?(?:国家|城市|地区|省|州|地方|区|县|里)|哪(?:国|座|省|州)|什么地方|\bwhere\b", re.I)),
)
# Constraints: what a question pins its answer to. jieba's part-of-speech tags name the kind.
_CONSTRAINT_TAGS = {"ns": "place", "nt": "org", "nr": "person", "nrfg": "person", "nrt": "person", "nz": "name",
                    "t": "time", "eng": "name"}
_TIME_RE = re.compile(r"\d{1,4}\s*年(?:代)?|\d{1,2}\s*月(?:\d{1,2}\s*[日号])?|\d{1,2}\s*[日号]|[上下]半年|前?[一二三四]季度|"
                      r"[一二三四五六七八九十〇零]{2,4}年|(?:1[0-9]|20)\d\d(?!\d)")
_ORDINAL_RE = re.compile(r"第[\d一二三四五六七八九十百]+[次届个期号批项条章]?")
_GENERIC = frozenset("时候 今天 现在 当时 目前 城市 国家 地区 地方 中国人 年 月 日".split())
# The shape of the answer, for the questions whose answer has one a sentence shows: a cause (为什么)
# states its cause word (因为, 由于…), a quantity its number in the asked measure word (多少公里 →
# 「12公里」), a rank its ordinal, a method its means (通过, 采用…). The reader learns how much a
# unit's having that shape is worth (features ``shape_*``); nothing is decided on it alone.
_REASON_Q = re.compile(r"为什么|为何|原因|因何|何故|\bwhy\b", re.I)
_REASON_A = re.compile(r"因为|由于|因此|所以|原因|为了|导致|以致|使得|因而|缘故|之故|因[^此而为]?|\bbecause\b|\bdue to\b", re.I)
_METHOD_Q = re.compile(r"如何|怎样|怎么|什么方式|什么方法|哪种方式|\bhow\b", re.I)
_METHOD_A = re.compile(r"通过|采用|利用|经由|透过|方式|方法|借助|依靠|凭借|以.{1,8}(?:为|来|方式)|由.{1,10}(?:产生|选出|任命|决定)")
_RANK_Q = re.compile(r"第几|排名|排行|名列")
_RANK_A = re.compile(r"第[\d一二三四五六七八九十百]+|[\d一二三四五六七八九十]+名|首位|之首|最大|最高|最多|最长")
_ASKED_NUMBER = re.compile(r"(?<![哪这那第])(?:几(?!乎)|多少)(.{0,6})")
_MEASURE_TAGS = ("q", "m", "n")  # a measure word or a noun: 公里, 倍, 人, 比例 (not 的, 可以)


@dataclass(frozen=True)
class Constraint:
    """A detail a question pins its answer to (a year, a place, an ordinal, a name): an answer
    from a passage that does not state it answers another question."""

    text: str
    kind: str  # time, number, place, org, person, name


def constraints_of(question: str) -> tuple[Constraint, ...]:
    """The question's constraints, found by pattern (dates, ordinals, numbers, 《titles》) and by
    jieba's part-of-speech tags (places, organisations, people, other proper names, time words)."""
    found: list[Constraint] = []
    taken: list[tuple[int, int]] = []

    def add(text: str, kind: str, span: tuple[int, int]) -> None:
        if text.strip() and not any(s <= span[0] < e or s < span[1] <= e for s, e in taken):
            found.append(Constraint(text.strip(), kind))
            taken.append(span)

    for m in _TITLE.finditer(question):
        add(m.group(1), "name", m.span())
    for m in _TIME_RE.finditer(question):
        add(m.group(0), "time", m.span())
    for m in _ORDINAL_RE.finditer(question):
        add(m.group(0), "number", m.span())
    for m in _NUMBER.finditer(question):
        add(m.group(0), "number", m.span())
    pos = 0
    for w in pseg.cut(question):
        span = (pos, pos + len(w.word))
        pos = span[1]
        kind = _CONSTRAINT_TAGS.get(w.flag)
        if kind and len(w.word.strip()) >= 2 and w.word not in _GENERIC and w.word.lower() not in _EN_FUNCTION:
            add(w.word, kind, span)
    return tuple(dict.fromkeys(found))


_EN_FUNCTION = frozenset("what which who whom whose when where why how was were is are did does do the a an of in on "
                         "for and or to by with from at as its it that this".split())


def wanted_kind(question: str) -> str:
    """What the question asks for: person, time, number, place, or other."""
    for kind, pattern in _WANTS:
        if pattern.search(question):
            return kind
    return "other"


# Units as they appear in the answer: a number (digits or Chinese numerals) then the unit.
_NUM = r"[\d０-９一二三四五六七八九十百千万亿两]+(?:\.\d+)?[万亿千百]*"


@dataclass(frozen=True)
class QuestionKind:
    """The shape of the answer a question asks for."""

    text: str
    english: bool
    anchors: tuple[str, ...] = ()  # strings a passage must contain (numbers, Latin names, quoted titles)
    # Phrases quoted for emphasis (数字文化“走出去”): a paraphrase may quote a slogan the article
    # words otherwise, so their absence is weighed against how clearly the passages are on topic.
    soft_anchors: tuple[str, ...] = ()
    unit: str = ""  # the measure word of a quantity question (条 in 多少条)
    wants_list: bool = False
    wants_sections: bool = False  # asks for the parallel parts of an argument (哪几个方面, 哪些途径)
    wants_aspects: bool = False  # asks how the article is built (从哪几个方面论述), not what it proposes
    wants_several: bool = False
    wants_reasons: bool = False  # how / why: an explanation takes more than one sentence
    parts: tuple[str, ...] = ()  # the sub-questions of a question that asks two things (or A和B分别…)
    part_readings: tuple[tuple[str, ...], ...] = ()  # each of ``parts``'s readings (its own first), or ()
    about_author: bool = False
    unit_pattern: re.Pattern | None = field(default=None, compare=False)
    constraints: tuple[Constraint, ...] = ()
    wants: str = "other"  # the kind of thing asked for: person, time, number, place, other
    shape: re.Pattern | None = field(default=None, compare=False)  # what an answering sentence looks like

    @property
    def quoted(self) -> tuple[str, ...]:
        """Titles the question quotes (《…》, “…”): they name the topic, not the answer."""
        return tuple(_QUOTED.findall(self.text))


def is_english(text: str) -> bool:
    """Mostly Latin letters and no Chinese characters to speak of."""
    cjk = len(_CJK.findall(text))
    latin = sum(ch.isascii() and ch.isalpha() for ch in text)
    return latin > 3 * cjk


def _anchors(question: str, english: bool) -> tuple[str, ...]:
    if english:
        # Only numbers and acronyms carry over verbatim from an English question into Chinese text.
        # ("15th Five-Year Plan" is 十五五 in Chinese text: only long numbers such as years carry over.)
        found = [m for m in _NUMBER.findall(question) if len(m) >= 3]
        found += re.findall(r"\b[A-Z][A-Z0-9]{1,}\b", question)
    else:
        found = _NUMBER.findall(question)
        found += [m.group(0) for m in _LATIN.finditer(question)]
        found += _QUOTED.findall(question)
    return tuple(dict.fromkeys(found))


def _part_readings(question: str) -> tuple[tuple[str, ...], ...]:
    """The sub-questions of 「A是什么？B在哪里？」, each as its readings: a part is retrieved and
    matched on its own, so a later part's 它/其 (or missing subject) is replaced by what it may
    stand for in the part before — its subject first (the piece as written when that part has
    none), then that part's other noun phrases, proper names first. The engine keeps the reading
    its evidence answers best (rule ``antecedent_readings``); a part with nothing to resolve has
    one reading."""
    pieces = [p.strip() for p in _PARTS.split(question) if len(p.strip()) >= 4]
    pieces = [p for p in pieces if not _INSTRUCTION.search(p)]
    if len(pieces) < 2:
        return ()
    readings = [(pieces[0],)]
    # 「…四足机器人叫什么？它后来…」「…机制是怎么构成的？想形成…」
    for i in range(1, len(pieces)):
        before, piece = pieces[i - 1], pieces[i]
        m = _PRONOUN.match(piece)
        if m:
            rest = piece[m.end():]
        elif next(iter(pseg.cut(piece))).flag[:1] in ("v", "d"):
            rest = piece
        else:
            readings.append((piece,))
            continue
        subject = _subject(before)
        # The first reading is the subject's (the piece as written when it has none), so that
        # with the other readings off the parts are what they always were.
        first = subject + rest if subject else piece
        others = [n + rest for n in noun_phrases(before) if n != subject]
        readings.append(tuple(dict.fromkeys([first, *others]))[:MAX_READINGS])
        pieces[i] = first  # a third part's pronoun stands for this part's first reading
    return tuple(readings)


MAX_READINGS = 3  # ways a 它 or a missing subject is read, the first included
_NOUN_TAGS = ("n", "nr", "nrt", "nrfg", "ns", "nt", "nz", "nw", "j", "eng", "vn", "an")
_PROPER_TAGS = ("nr", "nrt", "nrfg", "ns", "nt", "nz", "eng", "j")
_QUESTION_WORD = re.compile(r"什么|多少|哪|几|怎|如何|为何|谁|何")


def noun_phrases(text: str) -> list[str]:
    """The runs of nominal words of ``text`` (a 《》 or “” quotation is one), of two characters or
    more and not bare numbers: those holding a proper name (jieba's nr/ns/nt/nz…) first, each
    group in order."""
    quoted = [(m.start(), m.end()) for m in re.finditer(r"[《“\"「][^》”\"」]{1,20}[》”\"」]", text)]
    runs: list[tuple[int, int, bool]] = []
    at, start, proper = 0, None, False
    for w in pseg.cut(text):
        s, e = at, at + len(w.word)
        at = e
        inside = any(qs <= s and e <= qe for qs, qe in quoted)
        if (inside or w.flag in _NOUN_TAGS or w.flag[:1] == "n" or _LATIN.fullmatch(w.word)) and not _QUESTION_WORD.search(w.word):
            start = s if start is None else start
            proper = proper or inside or w.flag in _PROPER_TAGS
            continue
        if start is not None:
            runs.append((start, s, proper))
        start, proper = None, False
    if start is not None:
        runs.append((start, at, proper))
    runs = [r for r in runs if r[1] - r[0] >= 2 and not re.fullmatch(r"[\d.%]+", text[r[0]:r[1]])]
    ordered = [r for r in runs if r[2]] + [r for r in runs if not r[2]]
    return list(dict.fromkeys(text[s:e] for s, e, _ in ordered))


def _subject(part: str) -> str:
    """What a question is about: the words before its predicate (「那款机器人」 in 「那款机器人叫什么」)."""
    m = _PREDICATE.search(part)
    return part[: m.start()] if m and m.start() >= 2 else ""


_JOINT = re.compile(r"以及|和|与|及")
_NOMINAL_TAGS = ("vn", "an", "eng", "j", "l")  # besides n*, m*, q*: 比赛, 一战 (an abbreviation), 科幻小说 (an idiom)


def _nominal(word: str, flag: str) -> bool:
    return flag[0] in "nmq" or flag in _NOMINAL_TAGS or bool(_LATIN.fullmatch(word) or word.isdigit() or word.isspace())


def _coordinates(question: str) -> tuple[str, ...]:
    """「第八次和第十次会议分别突出了什么主题」 as 「第八次会议突出了什么主题」 and
    「第十次会议突出了什么主题」: one question per coordinated item (A和B … 分别/各自)."""
    clause = next((c for c in re.split(r"[？?。；;，,]", question) if re.search(r"分别|各自", c)), "")
    if not clause:
        return ()
    clause = clause.replace("分别", "").replace("各自", "")
    # The 和 jieba cuts as a word of its own (not the 和 of 共和国); else the first 和 after the
    # first character, since jieba may join a name to it (「和秋明」).
    pos, span = 0, None
    for w in pseg.cut(clause):
        if pos and w.flag == "c" and _JOINT.fullmatch(w.word):
            span = (pos, pos + len(w.word))
            break
        pos += len(w.word)
    joint = _JOINT.search(clause, 1)
    span = span or (joint.span() if joint else None)
    if not span:
        return ()
    # Each side of 和 is tagged on its own, and so is the predicate after the second item: jieba
    # would join a name's last character to 是 (「锣鼓经是」).
    left, right = clause[: span[0]], clause[span[1]:]
    pred = _PREDICATE.search(right, 1)
    head = right[: pred.start()] if pred else right
    before = [(w.word, w.flag) for w in pseg.cut(left)]
    after = [(w.word, w.flag) for w in pseg.cut(head)]
    lo = len(before)
    while lo > 0 and _nominal(*before[lo - 1]):
        lo -= 1
    a = before[lo:] or before[-1:]
    hi = 0
    while hi < len(after) and _nominal(*after[hi]):
        hi += 1
    # An item no tag calls a noun (分娩, 讽刺) is all of the words up to 的 or the predicate.
    b = after[:hi] or after[: next((i for i, (_, f) in enumerate(after) if f in ("uj", "x")), len(after))]
    if not a or not b or not a[-1][0].strip():
        return ()
    # 「第八次和第十次会议」: the shared head (会议) that only the second item spells out, when
    # the items before it are alike (第八次/第十次, not 梵文/马祖 of 「梵文和马祖列岛」).
    shared = b[len(a):] if len(b) > len(a) and a[-1][1] == b[len(a) - 1][1] else []
    prefix = "".join(w for w, _ in before[: len(before) - len(a)])
    suffix = "".join(w for w, _ in after[len(b):]) + right[len(head):]
    return tuple(prefix + "".join(w for w, _ in item) + suffix for item in (a + shared, b))


def asked_measure(question: str) -> str:
    """The measure word a 几/多少 question asks its number in (多少平方公里 → 平方公里), or ''."""
    m = _ASKED_NUMBER.search(question)
    if not m:
        return ""
    words = [w for w in pseg.cut(m.group(1)) if w.word.strip()]
    if not words:
        return ""
    w = words[0]
    if _CJK.match(w.word) and len(w.word) <= 4 and w.flag[:1] in _MEASURE_TAGS:
        return w.word
    return ""


def answer_shape(question: str) -> re.Pattern | None:
    """A pattern that a sentence answering ``question`` most often matches (see ``_REASON_Q``)."""
    if _REASON_Q.search(question):
        return _REASON_A
    measure = asked_measure(question)
    if measure:
        return re.compile(_NUM + r"\s*多?" + re.escape(measure[:2]))
    if _RANK_Q.search(question):
        return _RANK_A
    if _METHOD_Q.search(question):
        return _METHOD_A
    return None


@lru_cache(maxsize=1024)
def analyse(question: str) -> QuestionKind:
    """The kind of answer ``question`` asks for."""
    english = is_english(question)
    anchors = _anchors(question, english)
    readings = _part_readings(question)
    emphasised = set(_QUOTED.findall(question)) - set(_TITLE.findall(question))
    soft = tuple(a for a in anchors if a in emphasised and _CJK.search(a) and not _NUMBER.search(a) and not _LATIN.search(a))
    unit = ""
    m = _QUANTITY_ZH.search(question)
    if m:
        unit = m.group("unit")
    elif _PEOPLE_EN.search(question):
        unit = "人名位"
    elif _DAYS_EN.search(question):
        unit = "天日"
    pattern = re.compile(f"{_NUM}\\s*[{re.escape(unit)}]") if unit else None
    return QuestionKind(
        text=question,
        english=english,
        anchors=tuple(a for a in anchors if a not in soft),
        soft_anchors=soft,
        unit=unit,
        wants_list=bool(_LIST.search(question)),
        wants_sections=bool(_SECTIONS.search(question)),
        wants_aspects="方面" in question,
        wants_several=bool(_SEVERAL.search(question)),
        wants_reasons=bool(_HOW.search(question)),
        parts=tuple(r[0] for r in readings) or _coordinates(question),
        part_readings=readings,
        about_author=bool(_AUTHOR.search(question)),
        unit_pattern=pattern,
        constraints=constraints_of(question),
        wants=wanted_kind(question),
        shape=answer_shape(question),
    )
