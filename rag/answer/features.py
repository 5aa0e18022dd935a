"""The numbers the learned reader reads: one row per candidate answer unit, and one row per
question for the evidence as a whole. Training (``train.py``) and answering compute them with
these same functions, so a fitted model sees at run time exactly what it was fitted on."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import jieba.posseg as pseg
import numpy as np

from ..lexical import Frequencies, tokenize
from ..questions import QuestionKind
from ..rules import rule_on

# Words a question uses about the article itself, not about what it reports.
FRAME_WORDS = frozenset("文章 两篇 本文 全文 作者 报道 论述 阐述 方面 哪几个 介绍 提到 提及 文中 资料 分别 回答 结合".split())

# The tag of a dictionary word, as jieba's part-of-speech tagger would give it; a word the
# dictionary lacks is most often a name the tagger's HMM pieced together.
_TAGS = pseg.dt.word_tag_tab
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")
_DIGIT = re.compile(r"\d|[一二三四五六七八九十百千万亿两]+[个名位种项次倍条件家座所年]|%|％")
_YEAR = re.compile(r"\d{1,4}\s*年|\d{1,2}\s*月|\d{1,2}\s*[日号]|世纪|年代|[一二三四五六七八九十〇零]{2,4}年")


@lru_cache(maxsize=65536)
def _kinds(token: str) -> frozenset[str]:
    """What kinds of thing a token can be: person, place, org, time, number, name."""
    tag = _TAGS.get(token)
    out = set()
    if tag is None:
        if _CJK.match(token) and 2 <= len(token) <= 4:
            out.add("person")  # out of the dictionary: most often a name
    elif tag.startswith("nr"):
        out.add("person")
    elif tag == "ns":
        out.add("place")
    elif tag == "nt":
        out.add("org")
    elif tag == "t":
        out.add("time")
    elif tag in ("nz", "eng"):
        out.add("name")
    if _DIGIT.search(token):
        out.add("number")
    if _YEAR.search(token):
        out.add("time")
    return frozenset(out)


@lru_cache(maxsize=65536)
def unit_tokens(text: str) -> frozenset[str]:
    """The search tokens of a unit's text, cached: units recur across questions."""
    return frozenset(tokenize(text))


@lru_cache(maxsize=65536)
def unit_kinds(text: str) -> dict[str, frozenset[str]]:
    """The unit's tokens of each kind (kind -> tokens), for answer-type matching."""
    out: dict[str, set[str]] = {}
    for t in tokenize(text, keep_stopwords=True):
        for k in _kinds(t):
            out.setdefault(k, set()).add(t)
    if _YEAR.search(text):
        out.setdefault("time", set()).update(m.group(0) for m in _YEAR.finditer(text))
    return {k: frozenset(v) for k, v in out.items()}


def normalise(text: str) -> str:
    """``text`` without whitespace, lower-cased: the form in which strings are looked up in passages."""
    return re.sub(r"\s+", "", text).lower()


_TITLE_QUALIFIER = re.compile(r"\s*[(（_].*$")
_QUESTION_CHARS = set("什么哪谁几多少为何吗呢怎样如")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")


@lru_cache(maxsize=65536)
def bigrams(text: str) -> frozenset[str]:
    """The pairs of adjacent Chinese characters of ``text``: a match that word segmentation
    cannot miss (the same words cut two ways still share their pairs)."""
    return frozenset(run[i : i + 2] for run in _CJK_RUN.findall(text) for i in range(len(run) - 1))


def trigrams(text: str) -> frozenset[str]:
    """The runs of three characters of ``text`` (normalised)."""
    return frozenset(text[i : i + 3] for i in range(len(text) - 2))


def longest_run(question: str, text: str) -> int:
    """The length of the longest run of ``question``'s characters that ``text`` repeats: reading
    comprehension questions most often copy a phrase of the sentence that answers them."""
    best = 0
    for i in range(len(question)):
        while i + best < len(question) and question[i : i + best + 1] in text:
            best += 1
    return best


_QUESTION_PUNCT = re.compile(r"[？?。！!，,、：:；;“”\"'（）()\s]")


def question_chars(question: str) -> str:
    """The question normalised, its punctuation left out: the form runs and triples are read in."""
    return _QUESTION_PUNCT.sub("", normalise(question))


def question_bigrams(question: str) -> frozenset[str]:
    """The question's character pairs, without those of its question words (什么, 哪一, 多少…)."""
    return frozenset(b for b in bigrams(question) if not (set(b) & _QUESTION_CHARS))


class IdfTable:
    """Inverse document frequency of the index's BM25 vocabulary, from a bm25s index or from each
    token's document frequency (``df``) and the number of documents (``n_docs``)."""

    def __init__(self, bm25=None, *, df: Frequencies | None = None, n_docs: int = 1):
        if bm25 is not None:
            from ..bm25 import index_frequencies

            df, n_docs = index_frequencies(bm25)
        if df is None:
            raise TypeError("IdfTable needs a bm25s index, or df and n_docs")
        self.df = df
        self.n_docs = max(1, int(n_docs))
        self.max_idf = math.log(1 + (self.n_docs + 0.5) / 0.5)

    @classmethod
    def from_counts(cls, df: Frequencies, n_docs: int) -> "IdfTable":
        """The table of a corpus of ``n_docs`` documents whose token ``t`` is in ``df.get(t)`` of them."""
        return cls(df=df, n_docs=n_docs)

    def __call__(self, token: str) -> float:
        df = self.df.get(token) or 0
        if df <= 0:
            return self.max_idf  # unseen in the corpus: as specific as a term can be
        return math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))

    def known(self, token: str) -> bool:
        return (self.df.get(token) or 0) > 0

    def prefetch(self, tokens: Sequence[str]) -> None:
        """Have the frequencies of ``tokens`` at hand: a table kept in a store reads them in one call."""
        fetch = getattr(self.df, "prefetch", None)
        if fetch is not None:
            fetch(tokens)


@dataclass
class Unit:
    """One candidate answer unit: a sentence (or clause) of a retrieved passage."""

    hit: int  # index into the hits
    article_id: str
    start: int  # span in article.text
    end: int
    text: str
    order: int  # position among the article's units
    lead: bool = False  # opens a paragraph that goes on after it
    note: bool = False  # the author note
    dense: float = 0.0
    score: float = 0.0  # the reader's logit that this unit holds the answer
    features: list[float] = field(default_factory=list)


UNIT_FEATURES = (
    "dense",  # cosine of question and unit
    "dense_gap",  # best unit's cosine minus this one's
    "lexical",  # IDF-weighted share of the question's words in the unit
    "lexical_gap",
    "lexical_local",  # the same with words weighted also by their rarity among the candidates
    "lexical_local_gap",
    "context",  # the same over the unit and its two neighbours
    "title_only",  # share of question words found only in the article's title
    "hit_rank",  # 1 / (1 + rank of its passage)
    "hit_dense",  # cosine of question and passage
    "first_in_passage",
    "log_chars",
    "novelty",  # share of the unit's words the question does not use
    "wanted_kind",  # holds a word of the kind asked for (a name for 谁, a year for 哪一年…) the question lacks
    "wants_other",
    "bigram",  # share of the question's character pairs in the unit
    "bigram_context",  # … in the unit and its two neighbours
    "focus_context",  # IDF-weighted share of the question's words not in the title, in the unit and neighbours
    "constraints_in_unit",  # share of the question's constraints the unit states
    "constraints_in_article",  # … that the unit's article states
    "quantity_in_unit",  # states a number in the unit the question asks for (多少项)
    "run_unit",  # the longest run of the question's characters the unit repeats (share of the question)
    "run_passage",  # … that the unit's passage repeats
    "run_unit_chars",  # the unit's run in characters (up to 12)
    "trigram",  # share of the question's character triples in the unit
    "trigram_passage",  # … in the unit's passage
    "shape_asked",  # the question asks for an answer of a shape (a cause, a quantity, a rank, a means)
    "shape_in_unit",  # the unit has that shape
    "shape_in_passage",  # the unit's passage has it
    "conflict",  # share of the question's constraints the unit lacks while stating another of the same kind
)


@dataclass
class QuestionView:
    """What the features need of the question, computed once."""

    kind: QuestionKind
    tokens: tuple[str, ...]
    weights: dict[str, float]  # IDF of each token
    total: float
    constraints: tuple[str, ...]  # normalised constraint texts
    pairs: frozenset[str] = frozenset()  # character pairs (question words left out)

    @classmethod
    def of(cls, kind: QuestionKind, idf: IdfTable) -> "QuestionView":
        topic = {t for q in kind.quoted for t in tokenize(q)}
        if rule_on("frame_words"):
            topic |= FRAME_WORDS
        tokens = tuple(t for t in dict.fromkeys(tokenize(kind.text)) if t not in topic) or tuple(dict.fromkeys(tokenize(kind.text)))
        if isinstance(idf, IdfTable):
            idf.prefetch(tokens)
        weights = {t: idf(t) for t in tokens}
        return cls(kind, tokens, weights, sum(weights.values()) or 1.0, tuple(normalise(c.text) for c in kind.constraints),
                   question_bigrams(kind.text))

    def coverage(self, tokens: frozenset[str] | set[str]) -> float:
        return sum(w for t, w in self.weights.items() if t in tokens) / self.total

    def focus(self, tokens: frozenset[str] | set[str], title: frozenset[str]) -> tuple[float, float]:
        """IDF-weighted share of the question's words outside ``title`` that ``tokens`` hold,
        and the rarest such word they lack (as a share of the rarest possible): the words that
        tell this question apart from others about the same article."""
        focus = {t: w for t, w in self.weights.items() if t not in title}
        total = sum(focus.values())
        if total <= 0:
            return 1.0, 0.0
        missing = [w for t, w in focus.items() if t not in tokens]
        return sum(w for t, w in focus.items() if t in tokens) / total, max(missing, default=0.0)

    def pair_share(self, text_pairs: frozenset[str] | set[str]) -> float:
        return len(self.pairs & text_pairs) / len(self.pairs) if self.pairs else 0.0


def unit_features(
    q: QuestionView,
    units: Sequence[Unit],
    neighbours: dict[tuple[str, int], str],
    hits: Sequence,
    article_texts: dict[str, str],
) -> np.ndarray:
    """A row of :data:`UNIT_FEATURES` per unit. ``neighbours`` maps (article id, order) to the text
    of that unit of the article, so a unit's context can be read."""
    if not units:
        return np.zeros((0, len(UNIT_FEATURES)), dtype=np.float32)
    kind = q.kind
    q_set = set(tokenize(kind.text, keep_stopwords=True))
    toks = [unit_tokens(u.text) for u in units]
    lex = np.array([q.coverage(t) for t in toks])
    # A question word most candidates share (the topic) tells them apart less than one few hold.
    n = len(units)
    local = {t: w * max(math.log((n + 1) / (sum(t in ts for ts in toks) + 0.5)), 0.0) for t, w in q.weights.items()}
    local_total = sum(local.values()) or 1.0
    lex_local = np.array([sum(w for t, w in local.items() if t in ts) / local_total for ts in toks])
    dense = np.array([u.dense for u in units])
    titles = {i: unit_tokens(hits[i].chunk.title) for i in {u.hit for u in units}}
    art_norm = {a: normalise(t) for a, t in article_texts.items()}
    n_con = len(q.constraints)
    q_chars = question_chars(kind.text)
    q_tri = trigrams(q_chars)
    shape = kind.shape if rule_on("answer_shape") else None
    passage_text = {i: hits[i].chunk.embed_text() for i in {u.hit for u in units}}
    passage_norm = {i: normalise(t) for i, t in passage_text.items()}
    passage_run = {i: longest_run(q_chars, t) for i, t in passage_norm.items()}
    passage_tri = {i: len(q_tri & trigrams(t)) / len(q_tri) if q_tri else 0.0 for i, t in passage_norm.items()}
    passage_shape = {i: float(bool(shape and shape.search(t))) for i, t in passage_text.items()}
    rows = []
    for u, t, lx, ll in zip(units, toks, lex, lex_local):
        ctx = set(t)
        ctx_pairs = set(bigrams(u.text))
        for d in (-1, 1):
            other = neighbours.get((u.article_id, u.order + d))
            if other:
                ctx |= unit_tokens(other)
                ctx_pairs |= bigrams(other)
        title_only = q.coverage(titles[u.hit] - t)
        novelty = len(t - q_set) / max(len(t), 1)
        kinds = unit_kinds(u.text)
        wanted = 0.0
        if kind.wants != "other":
            wanted = float(bool(kinds.get(kind.wants, frozenset()) - q_set))
        un = normalise(u.text)
        run = longest_run(q_chars, un)
        c_unit = sum(c in un for c in q.constraints) / n_con if n_con else 1.0
        art = art_norm.get(u.article_id, "")
        c_art = sum(c in art for c in q.constraints) / n_con if n_con else 1.0
        hit = hits[u.hit]
        rows.append([
            u.dense,
            float(dense.max() - u.dense),
            lx,
            float(lex.max() - lx),
            ll,
            float(lex_local.max() - ll),
            q.coverage(ctx),
            title_only,
            1.0 / (1 + u.hit),
            hit.dense if hit.dense is not None else 0.0,
            float(hit.chunk.start <= u.start and not any(
                x.hit == u.hit and x.start < u.start for x in units)),
            math.log1p(len(u.text)),
            novelty,
            wanted,
            float(kind.wants == "other"),
            q.pair_share(bigrams(u.text)),
            q.pair_share(ctx_pairs),
            q.focus(ctx, titles[u.hit])[0],
            c_unit,
            c_art,
            float(bool(kind.unit_pattern and kind.unit_pattern.search(u.text))),
            run / max(len(q_chars), 1),
            passage_run[u.hit] / max(len(q_chars), 1),
            min(run, 12) / 12,
            len(q_tri & trigrams(un)) / len(q_tri) if q_tri else 0.0,
            passage_tri[u.hit],
            float(shape is not None),
            float(bool(shape and shape.search(u.text))),
            passage_shape[u.hit],
            _conflicts(kind.constraints, un, kinds),
        ])
    return np.asarray(rows, dtype=np.float32)


EVIDENCE_FEATURES = (
    "best_score",  # the reader's logit for the best unit
    "score_gap",  # best minus second best
    "best_dense",  # cosine of the best unit
    "best_lexical",
    "best_context",
    "best_constraints_unit",
    "best_constraints_article",
    "passage_dense",  # best passage cosine
    "passage_coverage",  # IDF-weighted share of the question's words in the best passage
    "all_coverage",  # … in all retrieved passages together
    "missing_idf",  # the rarest question word no retrieved passage holds (share of the maximum IDF)
    "missing_constraints",  # constraints no retrieved passage states
    "anchors_missing",  # a number, Latin name or 《title》 of the question no passage holds
    "english",
    "n_constraints",
    "wanted_in_best",
    "best_bigram",
    "best_bigram_context",
    "best_focus_context",
    "passage_focus",  # focus coverage of the best unit's passage
    "passage_focus_missing",  # the rarest focus word the best unit's passage lacks (share of the maximum IDF)
    "top3_focus",  # the best focus coverage among the three best units (with their neighbours)
    "top3_bigram",
    "dense_x_focus",  # the best unit's cosine times its focus coverage: close in meaning and in words at once
    "title_in_question",  # the question names the best unit's article by its title
    "title_pairs_in_question",  # share of that title's character pairs the question holds
    "best_run",  # the best unit's run of question characters (share of the question)
    "best_run_passage",
    "top3_run",
    "max_run_passage",  # the longest run in any retrieved passage
    "best_trigram",
    "max_trigram_passage",
    "shape_asked",
    "best_shape",
    "best_shape_passage",
    "top3_shape",
    "conflict_unit",  # share of the question's constraints the best unit lacks while it states another of that kind
    "conflict_passage",  # … that its passage lacks while it states another of that kind (2009年 asked, 2010年 stated)
)


def conflicts(constraints: Sequence, text: str) -> float:
    """The share of ``constraints`` (:class:`~rag.questions.Constraint`) that ``text`` does not
    state while it states something else of the same kind: the mark of a near miss, where the
    article answers the same question about another year, place or person."""
    return _conflicts(constraints, normalise(text), unit_kinds(text)) if constraints else 0.0


def _conflicts(constraints: Sequence, norm: str, kinds: dict[str, frozenset[str]]) -> float:
    """:func:`conflicts` from the text's normalised form and kinds, when the caller has them already."""
    if not constraints:
        return 0.0
    return sum(normalise(c.text) not in norm and bool(kinds.get(c.kind)) for c in constraints) / len(constraints)


def evidence_features(
    q: QuestionView, units: Sequence[Unit], unit_rows: np.ndarray, hits: Sequence, idf: IdfTable
) -> np.ndarray:
    """The row of :data:`EVIDENCE_FEATURES` for a question, its units (scored) and its hits."""
    if not hits or not units:
        empty = dict.fromkeys(EVIDENCE_FEATURES, 0.0)
        empty.update(best_score=-10.0, missing_idf=1.0, missing_constraints=len(q.constraints), anchors_missing=1.0,
                     english=float(q.kind.english), n_constraints=len(q.constraints), passage_focus_missing=1.0)
        return np.array(list(empty.values()), dtype=np.float32)
    order = np.argsort([-u.score for u in units])
    b = int(order[0])
    second = units[int(order[1])].score if len(units) > 1 else units[b].score - 5.0
    col = {name: i for i, name in enumerate(UNIT_FEATURES)}
    row = unit_rows[b]
    passages = [h.chunk.embed_text() for h in hits]
    tok_sets = [unit_tokens(p) for p in passages]
    everything = frozenset().union(*tok_sets)
    missing = [idf(t) for t in q.tokens if t not in everything]
    normed = [normalise(p) for p in passages]
    missing_c = sum(not any(c in p for p in normed) for c in q.constraints)
    anchors = q.kind.anchors
    anchors_missing = float(any(not any(normalise(a) in p for p in normed) for a in anchors))
    dense_values = [h.dense for h in hits if h.dense is not None]
    home = hits[units[b].hit].chunk
    focus, focus_missing = q.focus(unit_tokens(home.embed_text()), unit_tokens(home.title))
    subject = normalise(_TITLE_QUALIFIER.sub("", home.title))  # 雅芳河 (汉普郡) is named as 雅芳河
    title_pairs = bigrams(home.title)
    return np.array([
        units[b].score,
        units[b].score - second,
        row[col["dense"]],
        row[col["lexical"]],
        row[col["context"]],
        row[col["constraints_in_unit"]],
        row[col["constraints_in_article"]],
        max(dense_values) if dense_values else 0.0,
        max(q.coverage(t) for t in tok_sets),
        q.coverage(everything),
        max(missing) / idf.max_idf if missing else 0.0,
        missing_c,
        anchors_missing,
        float(q.kind.english),
        len(q.constraints),
        row[col["wanted_kind"]],
        row[col["bigram"]],
        row[col["bigram_context"]],
        row[col["focus_context"]],
        focus,
        focus_missing / idf.max_idf,
        max(unit_rows[int(i)][col["focus_context"]] for i in order[:3]),
        max(unit_rows[int(i)][col["bigram_context"]] for i in order[:3]),
        row[col["dense"]] * row[col["focus_context"]],
        float(bool(subject) and subject in normalise(q.kind.text)),
        len(title_pairs & bigrams(q.kind.text)) / len(title_pairs) if title_pairs else 0.0,
        row[col["run_unit"]],
        row[col["run_passage"]],
        max(unit_rows[int(i)][col["run_unit"]] for i in order[:3]),
        float(unit_rows[:, col["run_passage"]].max()),
        row[col["trigram"]],
        float(unit_rows[:, col["trigram_passage"]].max()),
        row[col["shape_asked"]],
        row[col["shape_in_unit"]],
        row[col["shape_in_passage"]],
        max(unit_rows[int(i)][col["shape_in_unit"]] for i in order[:3]),
        row[col["conflict"]],
        conflicts(q.kind.constraints, home.embed_text()),
    ], dtype=np.float32)
