"""Read a follow-up question in the context of the conversation: deterministic rewriting, no LLM.

A follow-up such as 「那四川呢？」, "what about Sichuan?", 「它有什么功能？」, 「第二个呢？」 or
「不是重庆，是成都」 only makes sense next to the previous turn. :func:`rewrite_question` turns
it into a question that stands on its own (and is what retrieval searches); a question that
already stands on its own comes back unchanged.

Every follow-up is rewritten from the previous turn's *standalone* question (the earlier turns
are resolved first, in order), never from the text of the turns glued together, so a rewrite is
at most the previous standalone question with one slot changed: repeating a follow-up gives the
same rewrite, not a longer one.

The kinds, in order:

1. Corrections (「不是A，是B」, 「我是说B」, "no, I meant B"): B replaces A (or the thing of B's
   kind) in the previous standalone question.
2. Ordinals (「第二个」, "the second one", "source 2") are resolved to the n-th item of the previous
   answer (a numbered or enumerated list), or else to the sentence carrying its n-th citation.
3. Ellipsis (「那X呢？」, 「X呢？」, "what about X?", "and X?"): X takes the place of the thing of the
   same kind in the previous standalone question: a place for a place, a year for a year, a person
   for a person, an industry for an industry, 「…中学」 for 「…中学」, else what it counted. With no
   thing of that kind, X becomes an attribute of the previous question's topic (「<topic>的X如何？」).
4. Pronouns (它, 该…, 其, 其中, 他们, 这个…, "it", "they"…) in a short question are replaced by the
   topic of the previous question (its subject noun phrase), 他/她 by the person the previous
   question or answer named, 他们 by the persons named together, "them" by what was counted.
5. A short question that opens with its predicate (「同比增长了多少？」, 「是哪一年成立的？」), with
   那/那么 or with "and" takes the previous topic as its subject (an English one: the names it lacks).

Each kind is a rule of :mod:`rag.rules` (``followup_*``) that can be switched off.

Kinds of things come from a gazetteer of places (general geography, not fitted to any question
set), date patterns, jieba's part-of-speech tags (persons, organisations) and the head noun of a
phrase (产业/制造业/行业 are one kind).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

from .questions import MAX_READINGS, is_english, noun_phrases
from .rules import rule_on

log = logging.getLogger(__name__)

History = list[tuple[str, str]]
MAX_TURN_CHARS = 4000  # of an earlier question or answer that the rewriter reads


@dataclass(frozen=True)
class Rewrite:
    """A question as it stands on its own, and how it got there."""

    text: str
    kind: str = ""  # "", "correction", "ordinal", "ellipsis", "pronoun", "lead"
    topic: str = ""  # what later pronouns refer to
    # Other readings of a Chinese 它/其/该 or missing subject: each other noun phrase of the previous
    # question in the topic's place (tried by the engine only when the corpus does not answer ``text``).
    readings: tuple[str, ...] = ()


# --- gazetteer: places that a follow-up swaps for one another -----------------------------------
_PLACES_ZH = (
    "成渝地区双城经济圈 双城经济圈 川渝地区 成渝地区 川渝 成渝 渝东北 渝东南 主城都市区 主城区 重庆 四川 成都 北京 上海 "
    "天津 广东 广州 深圳 江苏 南京 浙江 杭州 湖北 武汉 湖南 长沙 陕西 西安 贵州 贵阳 云南 昆明 广西 河南 河北 "
    "山东 山西 福建 江西 安徽 辽宁 吉林 黑龙江 甘肃 青海 宁夏 新疆 西藏 内蒙古 海南 香港 澳门 台湾 全国 全市 全省 "
    "西部 东部 中部 欧洲 美国 日本 德国 意大利 渝中 江北 南岸 沙坪坝 九龙坡 大渡口 巴南 北碚 渝北 两江新区 西部科学城 "
    "万州 涪陵 永川 合川 江津 綦江 大足 璧山 铜梁 潼南 荣昌 长寿 南川 黔江 开州 梁平 武隆 城口 丰都 垫江 忠县 云阳 "
    "奉节 巫山 巫溪 石柱 秀山 酉阳 彭水 绵阳 德阳 宜宾 泸州 南充 达州 自贡 乐山 眉山 遂宁 内江 广安 雅安 资阳 凉山 宣汉 仁寿"
).split()
#: Places that name two or more places at once; 「川渝两地」 is one of them with its counter word.
_MULTI_PLACES = {"成渝地区双城经济圈", "双城经济圈", "川渝地区", "成渝地区", "川渝", "成渝"}
_MULTI_TAIL = re.compile(r"^(?:两地|两省市|两省|双方|地区)")
_PLACES_EN = (
    "Chengdu-Chongqing|Sichuan-Chongqing|Chongqing|Sichuan|Chengdu|Beijing|Shanghai|Tianjin|Guangdong|"
    "Guangzhou|Shenzhen|Jiangsu|Nanjing|Zhejiang|Hangzhou|Hubei|Wuhan|Hunan|Changsha|Shaanxi|Xi'an|"
    "Guizhou|Guiyang|Yunnan|Kunming|Guangxi|Henan|Hebei|Shandong|Shanxi|Fujian|Jiangxi|Anhui|Hainan|"
    "Hong Kong|Macao|Macau|Taiwan|Xinjiang|Tibet|Europe|Germany|Italy|China|the country|the city|the province"
)
_PLACE_ZH_RE = re.compile(
    "(?:" + "|".join(sorted(map(re.escape, _PLACES_ZH), key=len, reverse=True)) + ")(?:[县市省镇](?!委))?"
)
_PLACE_EN_RE = re.compile(rf"\b(?:{_PLACES_EN})\b", re.I)

_TIME_ZH_RE = re.compile(
    r"(?:\d{4}年(?:(?:上|下)半年|前?[一二三四1-4]季度|\d{1,2}月)?|(?:今|去|前|明)年(?:(?:上|下)半年)?|"
    r"(?:上|下)半年|前?[一二三四]季度|前三季度|\d{1,2}月份?|“十[一二三四五六七八九]五”(?:期间|时期)?)"
)
_TIME_EN_RE = re.compile(
    r"\b(?:(?:19|20)\d\d|last year|this year|next year|the first half(?: of (?:19|20)\d\d)?)\b",
    re.I,
)

# Head nouns that make a kind: 「那巴蜀中学呢？」 replaces 「…中学」 in the previous question. The
# first group are one kind: 「电子信息制造业」 stands for 「汽车产业」.
_INDUSTRY_HEADS = ("产业集群", "制造业集群", "产业", "制造业", "行业", "集群")
_KIND_SUFFIXES = (
    "中学 小学 大学 学院 学校 医院 公司 集团 银行 企业 园区 新区 基地 区 县 市 省 镇 村 街道 项目 "
    "大模型 模型 平台 中心 工程 计划 行动 政策 会议 全会 机制 工厂 品牌 措施 任务"
).split()
_CJK_RUN = r"[\u4e00-\u9fff0-9A-Za-z“”·]"
_PHRASE_BREAK = set("的在和与及对为是将把被从向于了要有")

_Q_WORDS_ZH = re.compile(
    r"什么|多少|哪些|哪个|哪里|哪儿|哪天|哪|几|多大|多高|多长|多远|多久|怎样|怎么样|怎么|如何|为何|为什么|吗|是否|何时|谁"
)
_TRAILING_VERBS_ZH = (
    "叫做 称为 名为 叫 是 为 有 要 将 会 能 可以 达到 达 增长 增加 提高 提升 下降 减少 占 包括 投资 开发 "
    "迈上 跃上 实现 完成 发布 推出 建设 打造 举办 召开 位于 在 由 被 的 共 约 一共 总共 同比 比 还 又 都 也"
).split()
# Modal words that open a predicate: 「川渝|要培育…」, 「长安汽车|计划在欧洲…」.
_MODALS = set("要 将 会 能 可以 应 应该 需要 计划 打算 准备 力争 还要 还将 将要 拟".split())
# Words after which a noun phrase stops being the subject (time words, adverbs, verbs…), by jieba tag.
_NOT_SUBJECT_TAGS = ("t", "d", "ad", "v", "p", "c", "u", "y", "r", "f", "q", "a")

_PRONOUNS_ZH = re.compile(
    r"它们|它|他们|她们|他|她|(?<![尤极与及])其(?![中他余实次])|该(?=[\u4e00-\u9fff])|(?:这|那)(?:一|个|些|项|款|家|所|种|位|次|条)"
)
_PRONOUNS_EN = re.compile(r"\b(it|its|they|them|their|this|that|these|those|he|she|his|her|him)\b", re.I)
_PERSON_PRONOUNS = {"他", "她", "he", "she", "his", "her", "him"}

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
    r"^(?:那么|那末|那|还有|而|然后)?\s*(?P<x>.{1,24}?)\s*(?:的情况|方面|的话|怎么样|如何|怎样|的)?\s*呢\s*[？?！!。.]*$"
)
_ELLIPSIS_EN = re.compile(
    r"^\s*(?:(?:and\s+)?(?:what|how)\s+about|and(?:\s+for|\s+in)?|what of)\s+(?P<x>.+?)\s*[?.!]*\s*$", re.I
)
_CORRECTION_ZH = (
    # 不是A，是B / 不是A而是B / 不对，不是A，是B
    re.compile(r"^(?:不对|错了)?[，,。\s]*不是(?P<a>[^，,。]{1,24}?)[，,、\s]*(?:而|我说的|我问的)?是(?P<b>[^，,。？?]{1,24})[。！!？?]*$"),
    # 我说的是B，不是A
    re.compile(r"^(?:不对|错了)?[，,。\s]*(?:我(?:是)?(?:说|问|指)的?是?|我想问的?是)(?P<b>[^，,。？?]{1,24})[，,\s]*不是(?P<a>[^，,。？?]{1,24})[。！!？?]*$"),
    # 不对，我是说B / 我指的是B
    re.compile(r"^(?:不对|错了|不是)?[，,。\s]*(?:我(?:是)?(?:说|问|指)的?是?|我想问的?是|应该是)(?P<b>[^，,。？?]{1,24})[。！!？?]*$"),
)
_CORRECTION_EN = (
    re.compile(r"^\s*(?:no|nope|sorry|wrong)?[,.!]?\s*not\s+(?P<a>.+?)\s*[,;]\s*(?:but\s+|i\s+meant\s+)?(?P<b>.+?)\s*[.!?]*\s*$", re.I),
    re.compile(r"^\s*(?:no|nope|sorry|wrong)?[,.!]?\s*i\s+(?:meant|mean|was asking about|said)\s+(?P<b>.+?)"
               r"(?:\s*,?\s*not\s+(?P<a>.+?))?\s*[.!?]*\s*$", re.I),
)
_LEAD_ZH = re.compile(r"^(?:那么|那末|那)(?![曲坡])")
_MARKER = re.compile(r"\s*\[\d{1,3}\]")


# --- the public entry points ---------------------------------------------------------------------
def rewrite_question(question: str, history: History) -> str:
    """``question`` made to stand on its own, given the earlier ``(question, answer_text)`` turns.

    Deterministic. Returns ``question`` unchanged (stripped) when it needs no context or when
    there is no history. The history's questions may be as asked or already rewritten."""
    return rewrite(question, history).text


def rewrite(question: str, history: History) -> Rewrite:
    """Like :func:`rewrite_question`, with the kind of rewrite and the topic it carries."""
    q = (question or "").strip()
    if not q or not history:
        return Rewrite(q)
    frames = standalone_history(history)
    out = _rewrite_one(q, frames)
    if out.text != q:
        log.info("follow-up rewritten (%s): %r -> %r", out.kind, q, out.text)
    return out


def standalone_history(history: History) -> list[tuple[Rewrite, str]]:
    """Each earlier turn's standalone question (resolved in order) with its answer text."""
    frames: list[tuple[Rewrite, str]] = []
    for item in history:
        item = tuple(item or ())
        prev_q = str(item[0] or "").strip()[:MAX_TURN_CHARS] if item else ""
        prev_a = str(item[1] or "")[:MAX_TURN_CHARS] if len(item) > 1 else ""
        if not prev_q:
            continue
        frames.append((_rewrite_one(prev_q, frames) if frames else _standalone(prev_q), prev_a))
    return frames


def _standalone(q: str) -> Rewrite:
    return Rewrite(q, "", _topic(q, is_english(q)))


def _rewrite_one(q: str, frames: list[tuple[Rewrite, str]]) -> Rewrite:
    """One question against the already resolved earlier turns."""
    if not frames:
        return _standalone(q)
    prev, prev_a = frames[-1]
    prev_q = prev.text
    english = is_english(q)
    topic = prev.topic or _topic(prev_q, english)

    # 1. corrections: 「不是A，是B」
    fixed = _correction(q, prev_q, english) if rule_on("followup_correction") else None
    if fixed is not None:
        return Rewrite(fixed, "correction", _topic(fixed, english))

    # 2. ordinals first: they turn "the second one" into a thing the other rules can use.
    q_ord, item = _resolve_ordinal(q, prev_a, english) if rule_on("followup_ordinal") else (q, "")

    # 3. elliptical: 「那X呢？」 / "what about X?"
    m = (_ELLIPSIS_EN if english else _ELLIPSIS_ZH).match(q_ord)
    if m and rule_on("followup_ellipsis") and not (not english and _Q_WORDS_ZH.search(m.group("x"))):
        x = m.group("x").strip()
        if item:
            text = f'What is said about "{item}"?' if english else f"关于“{item}”，文章是怎么说的？"
            return Rewrite(text, "ordinal", item)
        x = x if re.fullmatch(r"“[^“”]{1,20}”", x) else x.strip("“”\"'")
        if not english:  # 「它的客流量呢？」: an attribute of the previous topic
            x = re.sub(r"^(?:它们|它|其|该)的?", "", x) or x
        x = re.sub(r"^(?:the\s+)?", "", x) if english and not _PLACE_EN_RE.match(x) else x
        if x and not (english and _WH_EN.match(x)):
            out = _substitute_back(frames, x, english) or _attribute(topic, x, english)
            if out and out != prev_q:
                return Rewrite(out, "ellipsis", _topic(out, english))
            if out == prev_q:
                return prev

    if item:
        # The ordinal was resolved inside a question with its own predicate: 「第二个是什么意思？」.
        return Rewrite(q_ord, "ordinal", item)

    # 4. pronouns in a short question
    if _is_short(q, english) and rule_on("followup_pronoun"):
        pron = (_PRONOUNS_EN if english else _PRONOUNS_ZH).search(q)
        opens = pron is not None and not q[: pron.start()].strip(" ,，") or bool(pron and _LEAD_ZH.fullmatch(q[: pron.start()]))
        if pron and (opens or not _names_own_topic(q[: pron.start()] + q[pron.end():], english)):
            target = topic
            counted = re.match(r"^\s*how many\s+([a-z][\w-]*(?:\s+[a-z][\w-]*)?)\s+(?:did|do|does|has|have|had|are|were|will)\b",
                               prev_q, re.I) if english else None
            if counted and pron.group(0).lower() in ("them", "they", "these", "those"):
                target = f"the {counted.group(1)} of {topic}" if topic else f"the {counted.group(1)}"
            elif pron.group(0).lower() in _PERSON_PRONOUNS:
                target = _person(prev_q) or _person(_MARKER.sub("", prev_a), titled_only=True) or topic
            elif pron.group(0) in ("他们", "她们"):
                target = next((p for f, _a in reversed(frames) if (p := _persons(f.text))), "") or topic
            rest = q[pron.end():].strip()
            if len(rest) >= 3 and prev.kind == "" and prev_q.endswith(rest):
                return prev  # the same question again (the history holds it rewritten): no 「…的目标的目标」
            out = _replace_pronoun(q, pron, target, english, prev_q) if target or not english else q
            if out != q:
                # A person's pronoun already names whom the previous turn named: no other readings.
                person = pron.group(0).lower() in _PERSON_PRONOUNS or pron.group(0) in ("他们", "她们")
                others = () if english or person else tuple(
                    _replace_pronoun(q, pron, n, english) for n in _others(prev_q, target))
                return Rewrite(out, "pronoun", target, _distinct(out, others))

    # 其中X: X among what the previous question asked about
    if not english and q.startswith("其中") and _is_short(q, english) and topic and rule_on("followup_pronoun"):
        return Rewrite(topic + "中" + q[2:].lstrip("，,"), "pronoun", topic)

    if not rule_on("followup_subjectless"):
        return _standalone(q)

    # 5. 「同比增长了多少？」「是哪一年成立的？」: a short question with no subject of its own takes
    # the previous topic as its subject.
    if not english and topic and len(q) <= 16 and _lacks_subject(q) and not q.startswith(topic):
        return Rewrite(topic + q, "lead", topic, _distinct(topic + q, tuple(n + q for n in _others(prev_q, topic))))

    # 6. 「那么…」 / "and …" opening a short question that names nothing of its own
    if english and topic and _is_short(q, english) and re.match(r"^\s*(?:and|so|then)\b", q, re.I):
        rest = re.sub(r"^\s*(?:and|so|then)\b[\s,]*", "", q, flags=re.I)
        names = [n for n in _names_en(prev_q) if n.lower() not in rest.lower()]
        if _TIME_EN_RE.search(rest):  # its own year replaces the previous one
            names = [n for n in names if not _TIME_EN_RE.fullmatch(n)]
        if _WH_EN.match(rest) and names:
            rest = rest.rstrip("?.! ")
            return Rewrite(f"{rest[:1].upper()}{rest[1:]} ({', '.join(names)})?", "lead", topic)
    if _is_short(q, english) and not _names_own_topic(q, english) and topic:
        if english and re.match(r"^\s*(?:and|so|then)\b", q, re.I):
            rest = re.sub(r"^\s*(?:and|so|then)\b[\s,]*", "", q, flags=re.I)
            if _WH_EN.match(rest):
                return _standalone(q)
            return Rewrite(_attribute(topic, rest, True) or q, "lead", topic)
        lead = None if english else _LEAD_ZH.match(q)
        if lead:
            rest = q[lead.end():].lstrip("，, ")
            if rest and not rest.startswith(topic):
                return Rewrite(topic + rest, "lead", topic)
    return _standalone(q)


_WH_EN = re.compile(r"^\s*(?:what|which|who|whom|whose|how|when|where|why)\b", re.I)


def _others(prev_q: str, topic: str) -> list[str]:
    """The previous question's noun phrases other than ``topic`` (and not inside it)."""
    return [n for n in noun_phrases(prev_q) if n not in topic]


def _distinct(text: str, others: tuple[str, ...]) -> tuple[str, ...]:
    """Up to two readings besides ``text``, once each."""
    return tuple(r for r in dict.fromkeys(others) if r != text)[: MAX_READINGS - 1]


def _names_en(q: str) -> list[str]:
    """The places and capitalised names of an English question, in order, once each."""
    inner = re.sub(r"\s*\([^)]*\)\s*(?=[?.!]*$)", "", q)  # an earlier "(names)" is not repeated
    names = [m.group(0) for m in _PLACE_EN_RE.finditer(inner)]
    words = inner.split(maxsplit=1)[1] if " " in inner else ""
    names += [n for n in re.findall(r"\b[A-Z][\w'·-]*(?:\s+[A-Z][\w'·-]*)*", words) if not _PLACE_EN_RE.fullmatch(n)]
    names += re.findall(r"(?<![\w.])(?:19|20)\d\d(?![\w.])", inner)
    names += [m.group(1) for m in re.finditer(r"\(([^)]*)\)\s*[?.!]*$", q) for _ in [0]]
    out: list[str] = []
    for n in ", ".join(names).split(", "):
        if n and n not in out:
            out.append(n)
    return out


def _substitute_back(frames: list[tuple[Rewrite, str]], x: str, english: bool) -> str | None:
    """:func:`_substitute` on the previous standalone question; when that question holds nothing
    of X's kind, on the latest earlier one that does (「他还说了什么？」 then 「那涪陵呢？」)."""
    prev_q = frames[-1][0].text
    # Only names (places, times, persons) are looked for further back: 「他还说了什么？」 then 「那涪陵呢？」.
    back = frames if english or _kind_zh(re.sub(r"的$", "", x)) in ("place", "time", "person") else frames[-1:]
    for loose in (False, True):  # gazetteer places first, then the ones jieba guesses (「长安」 is a city too)
        for frame, _ in reversed(back):
            out = _substitute(frame.text, x, english, insert=False, loose=loose)
            if out is not None:
                return out
    return _substitute(prev_q, x, english)


# --- kinds of things ------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[tuple[str, str], ...]:
    """jieba's (word, part-of-speech) pairs of ``text``."""
    import jieba
    import jieba.posseg as pseg

    jieba.setLogLevel(logging.WARNING)
    return tuple((w.word, w.flag) for w in pseg.cut(text))


def _spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, flag) of each jieba token of ``text``."""
    out, i = [], 0
    for word, flag in _tokens(text):
        j = text.find(word, i)
        if j < 0:
            continue
        out.append((j, j + len(word), flag))
        i = j + len(word)
    return out


_TITLED_NAME = re.compile(
    r"(?:书记|主任|院长|校长|教授|经理|总裁|董事长|总编辑|负责人|博士|主席|部长|局长|县长|市长|省长|记者|研究员|工程师|设计师|员)"
    r"([\u4e00-\u9fff]{2,3}?)(?=表示|说|介绍|认为|指出|透露|强调|建议|现场|因|在|，|,|。|是|挪用|受到)"
)


def _person(text: str, titled_only: bool = False) -> str | None:
    """The first person ``text`` names: a name after a title (「总编辑杨元华表示」), else one that
    jieba tags as a person (two or three characters, not a place)."""
    m = _TITLED_NAME.search(text[:600])
    if m:
        return m.group(1)
    if titled_only:
        return None
    for word, flag in _tokens(text[:400]):
        if flag == "nr" and 2 <= len(word) <= 3 and re.fullmatch(r"[\u4e00-\u9fff]+", word) \
                and not _PLACE_ZH_RE.match(word):
            return word
    return None


def _persons(text: str) -> str:
    """Two or more persons named together (「李珮、艾群博」), or ""."""
    m = re.search(r"[\u4e00-\u9fff]{2,3}(?:、[\u4e00-\u9fff]{2,3})+", text)
    if m and all(_tokens(p) and _tokens(p)[0][1] == "nr" for p in m.group(0).split("、")):
        return m.group(0)
    return ""


def _kind_zh(x: str) -> str:
    """The kind of thing ``x`` names: place, time, person, org, industry, noun:<head>, or other."""
    if _PLACE_ZH_RE.fullmatch(x) or _place_spans(x) == [(0, len(x))]:
        return "place"
    if re.fullmatch(r"“[^“”]{1,20}”", x):
        return "quoted"
    if _TIME_ZH_RE.fullmatch(x):
        return "time"
    toks = _tokens(x)
    if len(toks) == 1 and toks[0][1] == "ns":
        return "place"
    if len(toks) == 1 and toks[0][1] == "nr" and 2 <= len(x) <= 3:
        return "person"
    if any(x.endswith(h) and len(x) > len(h) for h in _INDUSTRY_HEADS):
        return "industry"
    for suffix in _KIND_SUFFIXES:
        if x.endswith(suffix) and len(x) > len(suffix):
            return f"noun:{suffix}"
    if len(toks) == 1 and toks[0][1] == "nt":
        return "org"
    return "other"


def _place_spans(text: str, loose: bool = True) -> list[tuple[int, int]]:
    """Spans of the places of ``text``: gazetteer names (with a city jieba finds right after
    them: 「意大利都灵」), else the places jieba tags."""
    out = []
    for m in _PLACE_ZH_RE.finditer(text):
        s, e = m.span()
        nxt = next(((a, b) for a, b, flag in _spans(text) if a == e and flag in ("ns", "nr") and 2 <= b - a <= 3), None)
        out.append((s, nxt[1] if nxt else e))
    if not out and loose:
        out = [(s, e) for s, e, flag in _spans(text) if flag == "ns" and e - s >= 2]
    return out


def _place_span(text: str, single: bool = False, loose: bool = True) -> tuple[int, int] | None:
    """The first place of ``text``; with ``single``, the first that names one place (「成都」, not 「川渝」)."""
    spans = _place_spans(text, loose)
    if single:
        for s, e in spans:
            if text[s:e] not in _MULTI_PLACES:
                return (s, e)
    return spans[0] if spans else None


def _substitute(prev_q: str, x: str, english: bool, insert: bool = True, loose: bool = True) -> str | None:
    """The previous question with the thing of the same kind as ``x`` replaced by ``x`` (a place
    or time it has none of is put in front, with ``insert``)."""
    if english:
        for pattern in (_PLACE_EN_RE, _TIME_EN_RE):
            mx, mp = pattern.search(x), pattern.search(prev_q)
            if mx and mp and mx.group(0).lower() != mp.group(0).lower():
                return prev_q[: mp.start()] + mx.group(0) + prev_q[mp.end():]
            if mx and mp:
                return prev_q
        # "the automotive industry" for "the electronic information manufacturing industry": same head noun
        head = re.search(r"([a-z]+)$", x.strip(), re.I)
        if head and len(x.split()) >= 2:
            mp = re.search(rf"\bthe\s+(?:[\w-]+\s+){{0,5}}?{re.escape(head.group(1))}\b", prev_q, re.I)
            if mp:
                return prev_q[: mp.start()] + "the " + x.strip() + prev_q[mp.end():]
        return None
    x = re.sub(r"的$", "", x)
    kind = _kind_zh(x)
    if kind == "place":
        span = _place_span(prev_q, single=x not in _MULTI_PLACES, loose=loose)
        if span is None:
            return x + prev_q if insert else None  # the previous question, now about that place
        s, e = span
        if prev_q[s:e] in _MULTI_PLACES and x not in _MULTI_PLACES:
            tail = _MULTI_TAIL.match(prev_q[e:])  # 「川渝两地」 → 「四川」, not 「四川两地」
            e += tail.end() if tail else 0
        return prev_q[:s] + x + prev_q[e:]
    if kind == "time":
        m = _TIME_ZH_RE.search(prev_q)
        return prev_q[: m.start()] + x + prev_q[m.end():] if m else (x + prev_q if insert else None)
    if kind == "quoted":
        found = list(re.finditer(r"“[^“”]{1,20}”", prev_q))
        if found:  # the last quoted term is the one asked about: 「“1+5+N”机制中的“1”」
            m = found[-1]
            return prev_q[: m.start()] + x + prev_q[m.end():]
        return None
    if kind == "person":
        p = _person(prev_q)
        if p:
            i = prev_q.find(p)
            return prev_q[:i] + x + prev_q[i + len(p):]
    if kind == "industry":
        for head in _INDUSTRY_HEADS:
            span = _phrase_ending_with(prev_q, head, skip_place=True)
            if span:
                return prev_q[: span[0]] + x + prev_q[span[1]:]
    if kind.startswith("noun:"):
        span = _phrase_ending_with(prev_q, kind[5:], last=True)
        if span:
            return prev_q[: span[0]] + x + prev_q[span[1]:]
    if kind == "org":
        for s, e, flag in _spans(prev_q):
            if flag == "nt":
                return prev_q[:s] + x + prev_q[e:]
    # A place at the head of a longer X (「四川的增速」): the place swaps, the rest is an attribute.
    mx = _PLACE_ZH_RE.match(x)
    if mx and len(x) <= 8 and mx.end() < len(x):
        swapped = _substitute(prev_q, mx.group(0), english, insert, loose)
        rest = x[mx.end():].lstrip("的")
        if swapped and rest:
            return _attribute(_topic(swapped, False), rest, False)
    # What the previous question counted or asked for (「集聚了多少全职创业者」): X takes its place.
    mo = _ASKED_OBJECT.search(prev_q)
    if mo and kind != "other" or mo and len(x) >= 2 and _is_noun(x):
        return prev_q[: mo.start("obj")] + x + prev_q[mo.end("obj"):]
    return None


_ASKED_OBJECT = re.compile(r"(?:多少|几)(?P<obj>[\u4e00-\u9fffA-Za-z]{2,12})(?=[？?。！!]|$)")


def _is_noun(x: str) -> bool:
    toks = _tokens(x)
    return bool(toks) and toks[-1][1].startswith("n") and not _Q_WORDS_ZH.search(x)


def _attribute(topic: str, x: str, english: bool) -> str | None:
    """``x`` asked of ``topic``: 「<topic>的X如何？」 / "What about the X of <topic>?"."""
    if not topic or not x:
        return None
    if english:
        x = x.rstrip("?.! ")
        return f"What about the {x} of {topic}?"
    x = x.rstrip("？?。！!")
    if x.startswith(topic):
        return None
    return f"{topic}的{x}如何？"


def _phrase_ending_with(text: str, suffix: str, skip_place: bool = False, last: bool = False) -> tuple[int, int] | None:
    """Span of the noun phrase of ``text`` that ends with ``suffix`` (first occurrence); with
    ``skip_place`` the place that opens the phrase stays outside it (「川渝|汽车产业」)."""
    i = text.rfind(suffix) if last else text.find(suffix)
    if i < 0:
        return None
    end = i + len(suffix)
    start = i
    while start > 0 and re.match(_CJK_RUN, text[start - 1]) and text[start - 1] not in _PHRASE_BREAK \
            and not text[:start].endswith(suffix):
        start -= 1
    if skip_place:
        while True:
            m = _PLACE_ZH_RE.match(text, start)
            if not m or m.end() >= i:
                break
            start = m.end()
            tail = _MULTI_TAIL.match(text[start:])
            start += tail.end() if tail else 0
    if start == i and skip_place and suffix in ("产业", "集群", "行业"):
        return None  # 「汽车产业」's head alone is not the phrase
    return (start, end)


_SUBJECTLESS_START = re.compile(r"^(?:是|还|又|也|要|将|会|能|共|一共|总共|同比|环比|第[一二三四五六七八九十\d]+[个项条点种家位款处段句则])")


def _lacks_subject(q: str) -> bool:
    """Whether a Chinese question opens with its predicate (a verb, an adverb, 是, an ordinal) and
    names no place, time, person, organisation or quoted term of its own."""
    if _SUBJECTLESS_START.match(q):
        return True
    if _names_own_topic(q, False):
        return False
    toks = _tokens(q)
    if any(flag in ("nr", "ns", "nt", "nz") for _w, flag in toks):
        return False
    first = toks[0][1] if toks else ""
    return first in ("v", "d", "c", "p", "ad", "vd")


def _is_short(q: str, english: bool) -> bool:
    return len(q.split()) <= 10 if english else len(q) <= 24


def _names_own_topic(q: str, english: bool) -> bool:
    """Whether the question names a place, a time or a proper noun of its own."""
    if english:
        words = re.findall(r"[A-Za-z][\w'-]*", q)
        return bool(_PLACE_EN_RE.search(q) or _TIME_EN_RE.search(q) or any(w[0].isupper() for w in words[1:]))
    return bool(_PLACE_ZH_RE.search(q) or _TIME_ZH_RE.search(q) or re.search(r"[《“「][^》”」]+[》”」]", q))


def _topic(prev_q: str, english: bool) -> str:
    """The thing a question is about: its subject noun phrase (the words before its question
    word, without the verbs, time words and adverbs that end them)."""
    if english:
        t = re.sub(r"[?.!]+$", "", prev_q.strip())
        m = re.match(
            r"^(?:what|which|who|whom|whose|how(?:\s+(?:many|much|long|large|big|old))?|when|where|why)\s+"
            r"(?:[\w'-]+\s+){0,3}?(?P<aux>is|are|was|were|did|does|do|has|have|had|will|would|can|could|should)\s+",
            t,
            flags=re.I,
        )
        if m:
            t = t[m.end():]
            if m.group("aux").lower() in ("did", "does", "do", "will", "would", "can", "could", "should", "has",
                                          "have", "had"):
                # "did Changan Automobile sell …": a named subject ends where the lowercase verb begins
                named = re.match(r"^(?:the\s+)?(?:[A-Z][\w'·-]*\s*)+", t)
                if named:
                    t = named.group(0)
        t = re.sub(r"^what about the\s+", "", t, flags=re.I)
        t = re.sub(r"\s+(?:called|named|known as|about|for|mean|do|grow|increase|reach|\w+ed)$", "", t, flags=re.I)
        return t.strip()
    q = prev_q.strip().rstrip("？?。！!")
    m = _Q_WORDS_ZH.search(q)
    t = q[: m.start()] if m else q
    t = re.sub(r"^(?:关于|请问|那么|那)", "", t)
    # A preposition after the subject starts the predicate: 「长安汽车计划|在欧洲建设…」.
    cut = next((s for s, e, flag in _spans(t) if s >= 2 and (flag in ("p", "d", "t") or t[s:e] in _MODALS)), None)
    t = t[:cut] if cut else t
    changed = True
    while changed and t:
        changed = False
        for verb in _TRAILING_VERBS_ZH:
            if t.endswith(verb) and len(t) > len(verb) + 1:
                t = t[: -len(verb)]
                changed = True
        spans = _spans(t)
        if len(spans) > 1 and _not_subject(spans[-1][2]) and not _TIME_ZH_RE.fullmatch(t[spans[-1][0]:]):
            t = t[: spans[-1][0]]
            changed = True
        elif len(spans) > 1 and _TIME_ZH_RE.search(t) and _TIME_ZH_RE.search(t).end() == len(t):
            t = t[: _TIME_ZH_RE.search(t).start()]
            changed = True
    return t.strip("，, ")


def _not_subject(flag: str) -> bool:
    return flag in _NOT_SUBJECT_TAGS or flag.startswith("u")


def _replace_pronoun(q: str, pron: re.Match, topic: str, english: bool, prev_q: str = "") -> str:
    """``q`` with the pronoun ``pron`` replaced by ``topic`` (「这个X」: by the previous question's
    phrase that ends in X, when it has one)."""
    word = pron.group(0)
    if english:
        low = word.lower()
        rep = f"{topic}'s" if low in ("its", "their", "his", "her") else topic
        if low in ("this", "that", "these", "those"):
            # "this project" → the topic stands for the whole noun phrase
            after = re.match(r"\s+([a-z]+)", q[pron.end():])
            if after and after.group(1) not in ("is", "was", "are", "were", "do", "does", "mean", "means"):
                return q[: pron.start()] + topic + q[pron.end() + after.end():]
        return q[: pron.start()] + rep + q[pron.end():]
    if word.startswith(("这", "那")) or word == "该":
        # 「这个大模型」: prefer the previous question's phrase that ends with the same noun.
        rest = q[pron.end():]
        for n in range(min(6, len(rest)), 0, -1):
            noun = rest[:n]
            if re.fullmatch(r"[\u4e00-\u9fff]+", noun) and topic.endswith(noun):
                return q[: pron.start()] + topic + rest[n:]
            if re.fullmatch(r"[\u4e00-\u9fff]+", noun) and n >= 2 or noun in ("县", "市", "区", "省", "镇", "村"):
                for where in (topic, prev_q):
                    span = _phrase_ending_with(where, noun)
                    if span:
                        phrase = re.sub(r"^(?:多少|几)[个项家条位种款所次]?", "", where[span[0]: span[1]])
                        if len(phrase) > len(noun) and not _Q_WORDS_ZH.search(phrase):
                            if where is prev_q and topic and not phrase.startswith(topic):
                                phrase = f"{topic}的{phrase}"  # 「这些任务」 → 「川渝的工作任务」
                            return q[: pron.start()] + phrase + rest[n:]
        if not topic:
            return q
        return q[: pron.start()] + topic + ("的" if rest and not rest.startswith("的") else "") + rest
    if not topic:
        return q
    if word == "其":
        return q[: pron.start()] + topic + "的" + q[pron.end():]
    return q[: pron.start()] + topic + q[pron.end():]


def _correction(q: str, prev_q: str, english: bool) -> str | None:
    """The previous question corrected by 「不是A，是B」 / "no, I meant B", or None."""
    for pattern in _CORRECTION_EN if english else _CORRECTION_ZH:
        m = pattern.match(q)
        if not m:
            continue
        a = (m.groupdict().get("a") or "").strip(" \"'“”")
        b = m.group("b").strip(" \"'“”")
        if not b:
            continue
        if a:
            i = prev_q.lower().find(a.lower()) if english else prev_q.find(a)
            if i >= 0:
                return prev_q[:i] + b + prev_q[i + len(a):]
        out = _substitute(prev_q, b, english)
        if out:
            return out
    return None


# --- ordinals --------------------------------------------------------------------------------------
def _resolve_ordinal(q: str, prev_answer: str, english: bool) -> tuple[str, str]:
    """``q`` with "the n-th one" replaced by that item of the previous answer, and the item
    ("" when there is none)."""
    if not prev_answer:
        return q, ""
    if english:
        m = _ORD_EN_RE.search(q)
        if not m:
            return q, ""
        word = (m.group(1) or "").lower()
        n = _EN_ORD.get(word, -1 if word == "last" else 0) if word else int(m.group(3) or m.group(4))
        wants_source = bool(m.group(2) and _SOURCE_WORDS.search(m.group(2))) or not word
    else:
        m = _ORD_ZH_RE.search(q)
        if not m:
            return q, ""
        if m.group(3):
            n = 1
        elif m.group(4) or m.group(5):
            n = -1
        else:
            raw = m.group(1)
            n = int(raw) if raw.isdigit() else _CN_NUM.get(raw, 0)
        wants_source = bool(m.group(2) and _SOURCE_WORDS.search(m.group(2)))
    if n == 0:
        return q, ""
    item = _nth_item(prev_answer, n, wants_source)
    if not item:
        return q, ""
    quoted = f'"{item}"' if english else f"“{item}”"
    return q[: m.start()] + quoted + q[m.end():], item


def _nth_item(answer: str, n: int, wants_source: bool) -> str | None:
    """The n-th item (1-based; -1 = last) of a previous answer: a numbered item, else the
    sentence carrying the n-th citation."""
    items = [] if wants_source else _numbered_items(answer)
    if not items:
        if not wants_source:
            return None  # 「第一项」 with no list in the answer: the item is not known
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
    # 「A；B；C」: clauses of one answer separated by semicolons.
    parts = [_clean(x) for x in re.split(r"[；;]", _MARKER.sub("", answer))]
    parts = [x for x in parts if x]
    return parts if len(parts) >= 3 else []


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
