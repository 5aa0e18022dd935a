"""Read a follow-up question in the context of the conversation: deterministic rewriting, no LLM.

A follow-up such as 「那四川呢？」, "what about Sichuan?", 「它有什么功能？」 or "the second one?"
only makes sense next to the previous turn. :func:`rewrite_question` turns it into a question
that stands on its own (and is what retrieval searches); a question that already stands on its
own comes back unchanged.

The rules, in order:

1. Elliptical questions (「那X呢？」, 「X呢？」, "what about X?", "and X?") take the previous
   question and put X where the previous question had a thing of the same kind: a place for a
   place, a year for a year, 「…中学」 for 「…中学」. When nothing of the same kind is found the
   previous question is kept in front: 「<previous>那X呢？」.
2. Ordinal references (「第二个」, "the second one", "source 2") are resolved to the n-th
   numbered item of the previous answer, or else to the sentence carrying its n-th citation.
3. Pronouns (它, 他们, 这个…, "it", "they"…) in a short question are replaced by the topic of the
   previous question (the part before its question word).
4. A short question that opens with 那/那么 or "and" but names no topic of its own gets the
   previous question in front of it.
"""

from __future__ import annotations

import logging
import re

from .questions import is_english

log = logging.getLogger(__name__)

History = list[tuple[str, str]]

# --- gazetteer: places that a follow-up swaps for one another -----------------------------------
_PLACES_ZH = (
    "川渝 成渝 渝东北 渝东南 主城都市区 主城区 重庆 四川 成都 北京 上海 天津 广东 广州 深圳 江苏 南京 "
    "浙江 杭州 湖北 武汉 湖南 长沙 陕西 西安 贵州 贵阳 云南 昆明 广西 河南 河北 山东 山西 福建 江西 安徽 "
    "辽宁 吉林 黑龙江 甘肃 青海 宁夏 新疆 西藏 内蒙古 海南 香港 澳门 台湾 全国 全市 全省 西部 东部 中部 "
    "渝中 江北 南岸 沙坪坝 九龙坡 大渡口 巴南 北碚 渝北 两江新区 西部科学城 万州 涪陵 永川 合川 江津 "
    "綦江 大足 璧山 铜梁 潼南 荣昌 长寿 南川 黔江 开州 梁平 武隆 城口 丰都 垫江 忠县 云阳 奉节 巫山 巫溪 "
    "石柱 秀山 酉阳 彭水 绵阳 德阳 宜宾 泸州 南充 达州 自贡 乐山 眉山 遂宁 内江 广安 雅安 资阳"
).split()
_PLACES_EN = (
    "Chengdu-Chongqing|Sichuan-Chongqing|Chongqing|Sichuan|Chengdu|Beijing|Shanghai|Tianjin|Guangdong|"
    "Guangzhou|Shenzhen|Jiangsu|Nanjing|Zhejiang|Hangzhou|Hubei|Wuhan|Hunan|Changsha|Shaanxi|Xi'an|"
    "Guizhou|Guiyang|Yunnan|Kunming|Guangxi|Henan|Hebei|Shandong|Shanxi|Fujian|Jiangxi|Anhui|Hainan|"
    "Hong Kong|Macao|Macau|Taiwan|Xinjiang|Tibet|China|the country|the city|the province"
)
_PLACE_ZH_RE = re.compile("|".join(sorted(map(re.escape, _PLACES_ZH), key=len, reverse=True)))
_PLACE_EN_RE = re.compile(rf"\b(?:{_PLACES_EN})\b", re.I)

_TIME_ZH_RE = re.compile(
    r"(?:\d{4}年(?:(?:上|下)半年|前?[一二三四1-4]季度|\d{1,2}月)?|(?:今|去|前|明)年(?:(?:上|下)半年)?|"
    r"(?:上|下)半年|前?[一二三四]季度|前三季度|\d{1,2}月份?|“十[一二三四五六七八九]五”(?:期间|时期)?)"
)
_TIME_EN_RE = re.compile(
    r"\b(?:(?:19|20)\d\d|last year|this year|next year|the first half(?: of (?:19|20)\d\d)?)\b",
    re.I,
)

# Nouns whose kind a follow-up keeps: 「那巴蜀中学呢？」 replaces 「…中学」 in the previous question.
_KIND_SUFFIXES = (
    "中学 小学 大学 学院 学校 医院 公司 集团 银行 企业 园区 新区 区 县 市 省 镇 村 街道 产业 行业 项目 "
    "大模型 模型 平台 基地 中心 工程 计划 行动 政策 会议 全会"
).split()
_CJK_RUN = r"[\u4e00-\u9fff0-9A-Za-z“”]"
_PHRASE_BREAK = set("的在和与及对为是将把被从向于了要")

_Q_WORDS_ZH = re.compile(
    r"什么|多少|哪些|哪个|哪里|哪儿|哪|几|多大|多高|多长|多远|多久|怎样|怎么样|怎么|如何|为何|为什么|吗|是否|何时|谁"
)
_TRAILING_VERBS_ZH = (
    "叫做 称为 名为 叫 是 为 有 要 将 会 能 可以 达到 达 增长 增加 提高 提升 下降 减少 占 包括 投资 开发 "
    "迈上 跃上 实现 完成 发布 推出 建设 打造 举办 召开 位于 在 由 被 的 共 约 一共 总共 同比 比"
).split()

_PRONOUNS_ZH = re.compile(r"它们|它|他们|她们|他|她|其|该(?=[\u4e00-\u9fff])|(?:这|那)(?:个|些|项|款|家|所|种|位)")
_PRONOUNS_EN = re.compile(r"\b(it|its|they|them|their|this|that|these|those|he|she|his|her)\b", re.I)

_CN_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_EN_ORD = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5,
}
_ORD_ZH_RE = re.compile(
    r"第\s*([一二两三四五六七八九十]|\d{1,2})\s*(个来源|条来源|篇文章|篇|个|项|条|点|种|家|位|款|处|段|句|则)"
    r"|(前者)|(后者)|(最后一个)"
)
_ORD_EN_RE = re.compile(
    r"\bthe\s+(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|1st|2nd|3rd|4th|5th|last)"
    r"(?:\s+(one|item|point|thing|source|article|passage|citation|reference|option))?\b"
    r"|\b(?:source|citation|reference|item|number|no\.)\s*#?\[?(\d{1,2})\]?|\[(\d{1,2})\]",
    re.I,
)
_SOURCE_WORDS = re.compile(r"来源|篇|source|article|passage|citation|reference", re.I)

_ELLIPSIS_ZH = re.compile(
    r"^(?:那么|那末|那|还有|而|然后)?\s*(?P<x>.{1,16}?)\s*(?:的情况|方面|的话|怎么样|如何|怎样|的)?\s*呢\s*[？?！!。.]*$"
)
_ELLIPSIS_EN = re.compile(
    r"^\s*(?:(?:and\s+)?(?:what|how)\s+about|and(?:\s+for|\s+in)?|what of)\s+(?P<x>.+?)\s*[?.!]*\s*$", re.I
)
_LEAD_ZH = re.compile(r"^(?:那么|那末|那)(?![曲坡])")
_MARKER = re.compile(r"\s*\[\d{1,3}\]")


def rewrite_question(question: str, history: History) -> str:
    """``question`` made to stand on its own, given the earlier ``(question, answer_text)`` turns.

    Deterministic. Returns ``question`` unchanged (stripped) when it needs no context or when
    there is no history."""
    q = (question or "").strip()
    if not q or not history:
        return q
    # Earlier follow-ups are resolved first, so that 「那四川呢？」 → 「重庆呢？」 chains work.
    resolved: list[tuple[str, str]] = []
    for prev_q, prev_a in history:
        prev_q = (prev_q or "").strip()
        resolved.append((_rewrite_one(prev_q, resolved) if resolved else prev_q, prev_a or ""))
    out = _rewrite_one(q, resolved)
    if out != q:
        log.info("follow-up rewritten: %r -> %r", q, out)
    return out


def _rewrite_one(q: str, history: History) -> str:
    """One question against already resolved history."""
    prev_q, prev_a = next(((pq, pa) for pq, pa in reversed(history) if pq), ("", ""))
    if not prev_q:
        return q
    english = is_english(q)

    # 2. ordinals first: they turn "the second one" into a thing that rule 1 or 3 can use.
    q_ord = _resolve_ordinal(q, prev_a, english)

    # 1. elliptical: 「那X呢？」 / "what about X?"
    m = (_ELLIPSIS_EN if english else _ELLIPSIS_ZH).match(q_ord)
    if m and not (not english and _Q_WORDS_ZH.search(m.group("x"))):
        x = m.group("x").strip().strip("“”\"'")
        x = re.sub(r"^(?:the\s+)?", "", x) if english and not _PLACE_EN_RE.match(x) else x
        if x:
            return _substitute(prev_q, x, english) or _prepend(prev_q, q_ord, english)

    if q_ord != q:
        # The ordinal was resolved inside a question with its own predicate: 「第二个是什么意思？」.
        return q_ord

    # 3. pronouns in a short question
    if _is_short(q, english):
        pron = (_PRONOUNS_EN if english else _PRONOUNS_ZH).search(q)
        if pron and not _names_own_topic(q, english):
            topic = _topic(prev_q, english)
            if topic:
                return _replace_pronoun(q, pron, topic, english)
            return _prepend(prev_q, q, english)

    # 4. 「那么…」 / "and …" opening a short question that names nothing of its own
    if _is_short(q, english) and not _names_own_topic(q, english):
        if (english and re.match(r"^\s*(?:and|so|then)\b", q, re.I)) or (not english and _LEAD_ZH.match(q)):
            return _prepend(prev_q, q, english)
    return q


# --- helpers -------------------------------------------------------------------------------------
def _is_short(q: str, english: bool) -> bool:
    return len(q.split()) <= 10 if english else len(q) <= 24


def _names_own_topic(q: str, english: bool) -> bool:
    """Whether the question names a place, a time or a proper noun of its own."""
    if english:
        words = re.findall(r"[A-Za-z][\w'-]*", q)
        return bool(_PLACE_EN_RE.search(q) or _TIME_EN_RE.search(q) or any(w[0].isupper() for w in words[1:]))
    return bool(_PLACE_ZH_RE.search(q) or _TIME_ZH_RE.search(q) or re.search(r"[《“「][^》”」]+[》”」]", q))


def _substitute(prev_q: str, x: str, english: bool) -> str | None:
    """The previous question with the thing of the same kind as ``x`` replaced by ``x``."""
    if english:
        for pattern in (_PLACE_EN_RE, _TIME_EN_RE):
            mx, mp = pattern.search(x), pattern.search(prev_q)
            if mx and mp and mx.group(0).lower() != mp.group(0).lower():
                return prev_q[: mp.start()] + mx.group(0) + prev_q[mp.end() :]
        return None
    x = re.sub(r"的$", "", x)
    for pattern in (_PLACE_ZH_RE, _TIME_ZH_RE):
        mx, mp = pattern.fullmatch(x), pattern.search(prev_q)
        if mx and mp and mp.group(0) != x:
            return prev_q[: mp.start()] + x + prev_q[mp.end() :]
    for suffix in _KIND_SUFFIXES:
        if x.endswith(suffix) and len(x) > len(suffix):
            span = _phrase_ending_with(prev_q, suffix)
            if span and prev_q[span[0] : span[1]] != x:
                return prev_q[: span[0]] + x + prev_q[span[1] :]
    # A place inside a longer X (「四川的增速」) still swaps for the previous place.
    mx, mp = _PLACE_ZH_RE.search(x), _PLACE_ZH_RE.search(prev_q)
    if mx and mp and mx.start() == 0 and mx.group(0) != mp.group(0) and len(x) <= 6:
        return prev_q[: mp.start()] + mx.group(0) + prev_q[mp.end() :]
    # What the previous question counted or asked for (「集聚了多少全职创业者」): X takes its place.
    mo = _ASKED_OBJECT.search(prev_q)
    if mo and len(x) >= 2 and not _Q_WORDS_ZH.search(x) and mo.group("obj") != x:
        return prev_q[: mo.start("obj")] + x + prev_q[mo.end("obj") :]
    return None


_ASKED_OBJECT = re.compile(r"(?:多少|几|哪些|什么)(?P<obj>[\u4e00-\u9fffA-Za-z]{2,12})(?=[？?。！!]|$)")


def _phrase_ending_with(text: str, suffix: str) -> tuple[int, int] | None:
    """Span of the noun phrase of ``text`` that ends with ``suffix`` (first occurrence)."""
    i = text.find(suffix)
    if i < 0:
        return None
    end = i + len(suffix)
    start = i
    while start > 0 and re.match(_CJK_RUN, text[start - 1]) and text[start - 1] not in _PHRASE_BREAK:
        start -= 1
    return (start, end)


def _prepend(prev_q: str, q: str, english: bool) -> str:
    """The previous question followed by this one: an honest merge when no rule fits better."""
    prev = prev_q.rstrip()
    q = q[:1].upper() + q[1:] if english else q
    if english:
        if prev and prev[-1] not in "?.!":
            prev += "?"
        return f"{prev} {q}"
    if prev and prev[-1] not in "？?。！!":
        prev += "？"
    return f"{prev}{q}"


def _topic(prev_q: str, english: bool) -> str:
    """The thing the previous question was about: its words before the question word."""
    if english:
        t = re.sub(r"[?.!]+$", "", prev_q.strip())
        t = re.sub(
            r"^(?:what|which|who|whom|whose|how(?:\s+(?:many|much|long|large|big|old))?|when|where|why)\s+"
            r"(?:\w+\s+)??(?:is|are|was|were|did|does|do|has|have|had|will|would|can|could|should)\s+",
            "",
            t,
            flags=re.I,
        )
        t = re.sub(r"\s+(?:called|named|known as|about|for|mean|do|grow|increase|reach)$", "", t, flags=re.I)
        return t.strip()
    q = prev_q.strip().rstrip("？?。！!")
    m = _Q_WORDS_ZH.search(q)
    t = q[: m.start()] if m else q
    changed = True
    while changed and t:
        changed = False
        for verb in _TRAILING_VERBS_ZH:
            if t.endswith(verb) and len(t) > len(verb) + 1:
                t = t[: -len(verb)]
                changed = True
    return t.strip("，, ")


def _replace_pronoun(q: str, pron: re.Match, topic: str, english: bool) -> str:
    """``q`` with the pronoun ``pron`` replaced by ``topic``."""
    word = pron.group(0)
    if english:
        low = word.lower()
        rep = f"{topic}'s" if low in ("its", "their", "his", "her") else topic
        if low in ("this", "that", "these", "those"):
            # "this project" → the topic stands for the whole noun phrase
            after = re.match(r"\s+([a-z]+)", q[pron.end() :])
            if after and after.group(1) not in ("is", "was", "are", "were", "do", "does", "mean", "means"):
                return q[: pron.start()] + topic + q[pron.end() + after.end() :]
        return q[: pron.start()] + rep + q[pron.end() :]
    if word.startswith(("这", "那")) or word == "该":
        # 「这个大模型」: prefer the previous question's phrase that ends with the same noun.
        rest = q[pron.end() :]
        for n in range(min(6, len(rest)), 0, -1):
            noun = rest[:n]
            if re.fullmatch(r"[\u4e00-\u9fff]+", noun) and topic.endswith(noun):
                return q[: pron.start()] + topic + rest[n:]
            if re.fullmatch(r"[\u4e00-\u9fff]+", noun):
                span = _phrase_ending_with(topic, noun)
                if span:
                    return q[: pron.start()] + topic[span[0] : span[1]] + rest[n:]
        return q[: pron.start()] + topic + ("的" if rest and not rest.startswith("的") else "") + rest
    if word == "其":
        return q[: pron.start()] + topic + "的" + q[pron.end() :]
    return q[: pron.start()] + topic + q[pron.end() :]


# --- ordinals --------------------------------------------------------------------------------------
def _resolve_ordinal(q: str, prev_answer: str, english: bool) -> str:
    """``q`` with "the n-th one" replaced by that item of the previous answer, when it has one."""
    if not prev_answer:
        return q
    if english:
        m = _ORD_EN_RE.search(q)
        if not m:
            return q
        word = (m.group(1) or "").lower()
        n = _EN_ORD.get(word, -1 if word == "last" else 0) if word else int(m.group(3) or m.group(4))
        wants_source = bool(m.group(2) and _SOURCE_WORDS.search(m.group(2))) or not word
    else:
        m = _ORD_ZH_RE.search(q)
        if not m:
            return q
        if m.group(3):
            n = 1
        elif m.group(4) or m.group(5):
            n = -1
        else:
            raw = m.group(1)
            n = int(raw) if raw.isdigit() else _CN_NUM.get(raw, 0)
        wants_source = bool(m.group(2) and _SOURCE_WORDS.search(m.group(2)))
    if n == 0:
        return q
    item = _nth_item(prev_answer, n, wants_source)
    if not item:
        return q
    quoted = f'"{item}"' if english else f"“{item}”"
    return q[: m.start()] + quoted + q[m.end() :]


def _nth_item(answer: str, n: int, wants_source: bool) -> str | None:
    """The n-th item (1-based; -1 = last) of a previous answer: a numbered item, else the
    sentence carrying the n-th citation."""
    items = [] if wants_source else _numbered_items(answer)
    if not items:
        items = _cited_sentences(answer, n if n > 0 else None)
        if n > 0:
            return items[0] if items else None
    if not items:
        return None
    if n == -1:
        return items[-1]
    return items[n - 1] if 0 < n <= len(items) else None


def _numbered_items(answer: str) -> list[str]:
    """Items of a numbered or enumerated list in ``answer``."""
    found: list[str] = []
    for pattern in (
        r"(?m)^\s*(?:\d{1,2}[.、)）]|[（(]\d{1,2}[)）]|[①②③④⑤⑥⑦⑧⑨⑩])\s*(.+?)\s*$",
        r"[一二三四五六七八九十]是([^；;。]+)",
        r"[①②③④⑤⑥⑦⑧⑨⑩]\s*([^①②③④⑤⑥⑦⑧⑨⑩；;。\n]+)",
    ):
        found = [_clean(x) for x in re.findall(pattern, answer)]
        found = [x for x in found if x]
        if len(found) >= 2:
            return found
    # 「包括A、B、C等」: a list of at least three short items in one sentence.
    for sent in re.split(r"[。！？!?\n]", _MARKER.sub("", answer)):
        parts = re.split(r"、", sent)
        if len(parts) >= 3:
            head = re.split(r"[，,：:]|包括|涵盖|聚焦|如|有|是|为", parts[0])[-1]
            tail = re.split(r"[，,；;等]|和|及|以及", parts[-1])[0]
            items = [_clean(x) for x in [head, *parts[1:-1], tail]]
            if all(0 < len(x) <= 20 for x in items):
                return items
    return []


def _cited_sentences(answer: str, n: int | None) -> list[str]:
    """The stretches of ``answer`` that end in citation ``[n]`` (all cited ones when n is None).

    Answers put markers right after what they cite: 「句子。[1]句子。[2]」 or "Sentence [1]."."""
    out = []
    for m in re.finditer(r"([^\[\]]+?)((?:\s*\[\d{1,3}\])+)", answer):
        marks = [int(x) for x in re.findall(r"\d+", m.group(2))]
        if n is None or n in marks:
            text = _clean(m.group(1))
            if text:
                out.append(text)
    return out


def _clean(text: str) -> str:
    """An item without citation markers, list punctuation or surrounding space; at most 60 chars."""
    t = _MARKER.sub("", text).strip(" \t，,；;。.：:、")
    return t if len(t) <= 60 else t[:60].rstrip() + "…"
