"""Compose a cited answer from retrieved passages, or decline when the evidence is too weak.

The default backend is extractive: every sentence of the answer is a sentence of a retrieved
passage, so every claim is the source's own words, followed by the number of its citation.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

from .documents import Article
from .embedders import Embedder
from .embedders import query_vector as cached_query_vector
from .lexical import tokenize
from .questions import QuestionKind, analyse
from .retrieve import Hit
from .units import answer_units

REFUSAL_ZH = "资料中没有找到与该问题直接相关的内容。以下是最接近的段落，仅供参考："
REFUSAL_EN = "The articles do not contain an answer to this question. The closest passages are listed below for reference."

SentenceVectors = Callable[[str, int, int], "np.ndarray | None"]


@dataclass
class Citation:
    """A cited passage: where it lives and which of its sentences the answer used."""

    n: int
    chunk_id: str
    article_id: str
    title: str
    byline: str
    file: str
    line_start: int
    line_end: int
    passage: str
    start: int
    end: int
    highlights: list[tuple[int, int]] = field(default_factory=list)  # spans in article.text
    score: float = 0.0


@dataclass
class Answer:
    """The reply to one question: text with [n] markers and the citations they point to."""

    question: str
    rewritten: str
    text: str
    refused: bool
    citations: list[Citation]
    confidence: float = 0.0  # the evidence signal in [0, 1]; below the policy's floor the answer is declined
    reason: str = ""  # why it was declined, for people checking the system
    seconds: float = 0.0
    mode: str = "hybrid"
    backend: str = "extractive"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AnswerPolicy:
    """How sentences are chosen and when to decline."""

    max_sentences: int = 3
    max_chars: int = 320
    list_sentences: int = 6
    list_chars: int = 640
    margin: float = 0.04  # keep sentences scoring within this of the best one
    lexical_weight: float = 0.5
    # A sentence often leaves out the subject its headline names (任《四库全书》总裁官。 under
    # 曹文埴): question words found only in the article's title count this much of a word in the
    # sentence itself.
    title_weight: float = 0.5
    # A question naming a 《title》 or “name” wants sentences from passages that mention it.
    off_topic_penalty: float = 0.05
    min_confidence: float = 0.5
    several_articles: int = 3  # articles a 分别/两篇 question may draw its answer from


@dataclass
class _Sentence:
    hit: int  # index into hits
    article_id: str
    start: int  # span in article.text
    end: int
    text: str
    lead: bool = False  # opens a paragraph that goes on after it
    note: bool = False  # the author note
    dense: float = 0.0
    lexical: float = 0.0
    score: float = 0.0


_ENUM = re.compile(r"^(?:[一二三四五六七八九十]是|第[一二三四五六七八九十]|首先|其次|再次|最后|[（(]?[一二三四五六七八九十\d][)）、.])")


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


class IdfTable:
    """Inverse document frequency of the index's BM25 vocabulary."""

    def __init__(self, bm25):
        self.n_docs = max(1, int(bm25.scores.get("num_docs", 1)))
        self.df = np.diff(np.asarray(bm25.scores["indptr"]))
        self.vocab = bm25.vocab_dict
        self.max_idf = math.log(1 + (self.n_docs + 0.5) / 0.5)

    def __call__(self, token: str) -> float:
        i = self.vocab.get(token)
        if i is None or i >= len(self.df):
            return self.max_idf  # unseen in the corpus: as specific as a term can be
        df = float(self.df[i])
        return math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))

    def known(self, token: str) -> bool:
        i = self.vocab.get(token)
        return i is not None and i < len(self.df) and self.df[i] > 0


def _coverage(q_tokens: Sequence[str], text_tokens: set[str], idf: IdfTable) -> float:
    total = sum(idf(t) for t in q_tokens)
    if total <= 0:
        return 0.0
    return sum(idf(t) for t in q_tokens if t in text_tokens) / total


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


# Above this topic confidence a missing emphasis quote (数字文化“走出去”) does not refuse.
_STRONG_TOPIC = 0.9


def evidence_confidence(kind: QuestionKind, hits: Sequence[Hit], idf: IdfTable) -> tuple[float, str]:
    """A score in [0, 1] that the passages hold an answer, and the reason when they do not.

    Topic: the best dense cosine and how much of the question's specific vocabulary the best
    passages hold (weighted by IDF). Then the hard checks: the numbers and names the question
    insists on must stand in one passage, and the thing a quantity question measures must be
    a word the corpus knows."""
    if not hits:
        return 0.0, "nothing was retrieved"
    best_dense = max((h.dense for h in hits if h.dense is not None), default=None)
    if kind.english:
        # Only the dense signal crosses languages; e5-small puts on-topic English questions
        # at cosine ~0.76+ to Chinese passages.
        signal = 0.0 if best_dense is None else (best_dense - 0.74) * 60
        coverage = 0.0
    else:
        q_tokens = list(dict.fromkeys(tokenize(kind.text)))
        coverage = max((_coverage(q_tokens, set(tokenize(h.chunk.embed_text())), idf) for h in hits[:5]), default=0.0)
        signal = (coverage - 0.35) * 8
        if best_dense is not None:
            signal += (best_dense - 0.84) * 40
    confidence = _sigmoid(signal)
    # Normalised passage texts only when some anchor must be looked up in them.
    texts = [_norm(h.chunk.embed_text()) for h in hits] if kind.anchors or kind.soft_anchors else []
    # An emphasis quote the passages do hold counts as an anchor; one they lack refuses only
    # when the passages are not clearly on topic.
    soft_found = [a for a in kind.soft_anchors if any(_norm(a) in t for t in texts)]
    soft_missing = [a for a in kind.soft_anchors if a not in soft_found]
    if soft_missing and confidence < _STRONG_TOPIC:
        return min(confidence, 0.1), f"no passage mentions {', '.join(soft_missing)}"
    anchors = kind.anchors + tuple(soft_found)
    if anchors:
        # One passage must hold them all, unless the question asks about several things at once.
        together = any(all(_norm(a) in t for a in anchors) for t in texts)
        spread = all(any(_norm(a) in t for t in texts) for a in anchors)
        if not (together or (kind.wants_several and spread)):
            missing = [a for a in anchors if not any(_norm(a) in t for t in texts)]
            return min(confidence, 0.1), f"no passage mentions {', '.join(missing) or ' and '.join(anchors)} together"
    unknown = [w for w in kind.measured if not idf.known(w)]
    if unknown:
        return min(confidence, 0.1), f"the articles never mention {'、'.join(unknown)}"
    if confidence < 0.5:
        return confidence, "the passages are not about this question"
    return confidence, ""


def _candidates(
    hits: Sequence[Hit], articles: dict[str, Article], with_notes: bool, whole: set[str] = frozenset()
) -> list[_Sentence]:
    """Answer sentences inside the retrieved passages (all of an article's for those in ``whole``)."""
    seen: set[tuple[str, int]] = set()
    out = []
    units_of: dict[str, list[tuple[int, int, bool]]] = {}
    for i, hit in enumerate(hits):
        c = hit.chunk
        article = articles.get(c.article_id)
        if article is None:
            continue
        if c.article_id not in units_of:
            units_of[c.article_id] = answer_units(article)
        for s, e, lead in units_of[c.article_id]:
            inside = (c.start <= s and e <= c.end) or c.article_id in whole
            is_note = bool(article.note) and article.text[s:e].strip() in article.note
            if not inside and not (with_notes and is_note):
                continue
            if (c.article_id, s) in seen:
                continue
            seen.add((c.article_id, s))
            out.append(
                _Sentence(hit=i, article_id=c.article_id, start=s, end=e, text=article.text[s:e], lead=lead, note=is_note)
            )
    return out


def _score(
    kind: QuestionKind,
    sentences: list[_Sentence],
    hits: Sequence[Hit],
    embedder: Embedder | None,
    idf: IdfTable,
    policy: AnswerPolicy,
    query_vector: np.ndarray | None,
    stored: SentenceVectors | None,
) -> None:
    # Words of a quoted title name the document, which answer sentences seldom repeat.
    topic = {t for q in kind.quoted for t in tokenize(q)}
    q_tokens = [t for t in dict.fromkeys(tokenize(kind.text)) if t not in topic]
    dense = np.zeros(len(sentences), dtype=np.float32)
    if embedder is not None and sentences:
        q = query_vector if query_vector is not None else cached_query_vector(embedder, kind.text)
        vecs: list[np.ndarray | None] = [
            stored(s.article_id, s.start, s.end) if stored else None for s in sentences
        ]
        missing = [i for i, v in enumerate(vecs) if v is None]
        if missing:
            fresh = embedder.encode_passages([sentences[i].text for i in missing])
            for i, v in zip(missing, fresh):
                vecs[i] = v
        dense = np.stack(vecs) @ q
    token_sets = [set(tokenize(s.text)) for s in sentences]
    # A question word that most candidate sentences share (the topic, a title they all repeat)
    # tells them apart less than one only a few hold: weigh words by rarity among the candidates.
    n = len(sentences)
    local = {t: math.log((n + 1) / (sum(t in ts for ts in token_sets) + 0.5)) for t in q_tokens}
    weight = lambda t: idf(t) * max(local.get(t, 0.0), 0.0)  # noqa: E731
    total = sum(weight(t) for t in q_tokens) or 1.0
    title_tokens = {i: set(tokenize(hits[i].chunk.title)) for i in {s.hit for s in sentences}}
    quoted = [_norm(q) for q in kind.quoted]
    on_topic = {i: all(q in _norm(hits[i].chunk.embed_text()) for q in quoted) if quoted else True for i in title_tokens}
    for s, d, ts in zip(sentences, dense, token_sets):
        s.dense = float(d)
        if kind.english:
            s.lexical = 0.0
        else:
            own = sum(weight(t) for t in q_tokens if t in ts)
            titled = sum(weight(t) for t in q_tokens if t not in ts and t in title_tokens[s.hit])
            s.lexical = (own + policy.title_weight * titled) / total
        s.score = s.dense + policy.lexical_weight * s.lexical - 0.005 * s.hit
        if not on_topic[s.hit]:
            s.score -= policy.off_topic_penalty
        if kind.unit_pattern and kind.unit_pattern.search(s.text):
            s.score += 0.03  # states a quantity in the unit the question asks for
        if kind.about_author and s.note:
            s.score += 0.1


def _select(
    kind: QuestionKind,
    sentences: list[_Sentence],
    policy: AnswerPolicy,
    part_best: Sequence[_Sentence] = (),
    top_articles: frozenset[str] | set[str] = frozenset(),
) -> list[_Sentence]:
    """The sentences of the answer: the best, the best for each sub-question, the items of a
    list, then any within ``margin`` of the best while the length budget lasts. Empty when a
    quantity question finds no sentence stating that quantity."""
    if not sentences:
        return []
    ranked = sorted(sentences, key=lambda s: -s.score)
    best = ranked[0]
    wide = kind.wants_list or kind.wants_several or bool(part_best)
    limit = policy.list_sentences if wide else policy.max_sentences
    budget = policy.list_chars if wide or kind.wants_reasons else policy.max_chars
    chosen: list[_Sentence] = []

    def take(s: _Sentence) -> None:
        if all(s is not c for c in chosen):
            chosen.append(s)

    if kind.unit_pattern:
        # A quantity question is answered by a sentence that states a quantity in its unit, from
        # an article the retriever put first: a count from another story (400人次 of trainees) is
        # no answer to this one's question (a factory's employees).
        stating = [
            s for s in ranked
            if kind.unit_pattern.search(s.text) and s.article_id in top_articles and s.score >= best.score - 3 * policy.margin
        ]
        if not stating:
            return []
        take(stating[0])
    take(best)
    for s in part_best:
        take(s)
    if kind.wants_several:
        # 「分别」「两篇」: the best sentence of each of the next articles, when it is close enough.
        best_of: dict[str, _Sentence] = {}
        for s in ranked:
            best_of.setdefault(s.article_id, s)
        for s in list(best_of.values())[1 : policy.several_articles]:
            if s.score >= best.score - 3 * policy.margin:
                take(s)
    if kind.wants_list:
        for s in _list_items(kind, best, sentences, policy):
            take(s)
    used = sum(len(s.text) for s in chosen)
    for s in ranked[1:]:
        if len(chosen) >= limit or s.score < best.score - policy.margin:
            break
        if used + len(s.text) <= budget:
            before = len(chosen)
            take(s)
            used += len(s.text) if len(chosen) > before else 0
    if not kind.wants_list:
        chosen += _continuations(chosen, sentences, budget - used)
    return chosen


def _continuations(chosen: list[_Sentence], sentences: list[_Sentence], room: int) -> list[_Sentence]:
    """The sentence after each chosen paragraph lead: a heading such as 「二是推动数字技术赋能
    国际传播创新。」 says what, the sentence after it says how."""
    out: list[_Sentence] = []
    for lead in [s for s in chosen if s.lead]:
        after = sorted((s for s in sentences if s.article_id == lead.article_id and s.start > lead.start), key=lambda s: s.start)
        nxt = after[0] if after else None
        if nxt is None or nxt.lead or len(nxt.text) > room or any(nxt is c for c in chosen + out):
            continue
        out.append(nxt)
        room -= len(nxt.text)
    return out


def _list_items(kind: QuestionKind, best: _Sentence, sentences: list[_Sentence], policy: AnswerPolicy) -> list[_Sentence]:
    """For a question that asks for several items: the enumeration (一是…二是…) of the best
    sentence's paragraph, or the parallel paragraph leads of its article (the first paragraph,
    an introduction, excepted)."""
    article = sorted((s for s in sentences if s.article_id == best.article_id), key=lambda s: s.start)
    if not article:
        return []
    para = [s for s in article if _same_paragraph(best, s, article)]
    enum = [s for s in para if s is not best and _ENUM.search(s.text)]
    leads = [s for s in article if s.lead and s.start > article[0].start and s is not best]
    floor = best.score - 3 * policy.margin
    if len(enum) >= 2 and not kind.wants_aspects:
        # The best sentence stands in a paragraph that enumerates (着力探索…实践路径。…一是…二是…):
        # for 「通过哪些途径」 its items answer, more specifically than the article's sections; for
        # 「从哪几个方面论述」 the sections do.
        return enum[: policy.list_sentences - 1]
    if (kind.wants_sections or best.lead) and len(leads) >= 2 and sum(s.score >= floor for s in leads) >= 2:
        return leads[: policy.list_sentences - 1]
    if len(enum) >= 2:
        return enum[: policy.list_sentences - 1]
    return []


def _same_paragraph(a: _Sentence, b: _Sentence, article: list[_Sentence]) -> bool:
    """Whether no paragraph lead stands between the two sentences."""
    lo, hi = sorted((a.start, b.start))
    return not any(s.lead and lo < s.start <= hi for s in article)


def decline(
    question: str, hits: Sequence[Hit], articles: dict[str, Article], kind: QuestionKind, confidence: float, reason: str
) -> Answer:
    """The plain refusal, with the nearest passages as its (unhighlighted) sources."""
    nearest = [_citation(i + 1, h, articles, []) for i, h in enumerate(hits)]
    text = REFUSAL_EN if kind.english else REFUSAL_ZH
    return Answer(question, question, text, True, nearest, round(confidence, 4), reason)


def _citation(n: int, hit: Hit, articles: dict[str, Article], highlights: list[tuple[int, int]]) -> Citation:
    c = hit.chunk
    article = articles.get(c.article_id)
    # The cited span grows to cover a highlighted author note outside the passage.
    start = min([c.start] + [s for s, _ in highlights])
    end = max([c.end] + [e for _, e in highlights])
    lines = article.lines_for(start, end) if article else (0, 0)
    passage = article.text[start:end] if article else c.text
    return Citation(
        n=n,
        chunk_id=c.id,
        article_id=c.article_id,
        title=c.title,
        byline=article.byline if article else "",
        file=c.file,
        line_start=lines[0],
        line_end=lines[1],
        passage=passage,
        start=start,
        end=end,
        highlights=sorted(highlights),
        score=hit.score,
    )


def extractive_answer(
    question: str,
    hits: Sequence[Hit],
    articles: dict[str, Article],
    embedder: Embedder | None,
    idf: IdfTable,
    policy: AnswerPolicy = AnswerPolicy(),
    query_vector: np.ndarray | None = None,
    sentence_vectors: SentenceVectors | None = None,
    parts: Sequence[str] | None = None,
) -> Answer:
    """An answer made of the passages' own sentences, each followed by its citation ``[n]``;
    a plain refusal with the nearest passages when the evidence is too weak. ``parts``: the
    sub-questions the answer must cover (default: those the question's wording shows)."""
    kind = analyse(question)
    confidence, reason = evidence_confidence(kind, hits, idf)
    if not hits or confidence < policy.min_confidence:
        return decline(question, hits, articles, kind, confidence, reason)

    whole = set(list(dict.fromkeys(h.chunk.article_id for h in hits))[:2]) if kind.wants_list else set()
    sentences = _candidates(hits, articles, with_notes=kind.about_author, whole=whole)
    _score(kind, sentences, hits, embedder, idf, policy, query_vector, sentence_vectors)
    part_best = []
    parts = kind.parts if parts is None else tuple(parts)
    if parts and embedder is not None:
        # Each sub-question gets its own best sentence, so that the answer covers every part.
        whole_scores = [s.score for s in sentences]
        for part in parts:
            _score(analyse(part), sentences, hits, embedder, idf, policy, None, sentence_vectors)
            part_best.append(max(sentences, key=lambda s: s.score))
        for s, score in zip(sentences, whole_scores):
            s.score = score
    top_articles = set(list(dict.fromkeys(h.chunk.article_id for h in hits))[:2])
    chosen = _select(kind, sentences, policy, part_best, top_articles)
    if not chosen:
        return decline(question, hits, articles, kind, 0.1, f"no passage states a quantity in {kind.unit}")
    # Read in the order the articles tell it: article by first use, then position in the article.
    first_use: dict[str, int] = {}
    for s in sorted(chosen, key=lambda s: -s.score):
        first_use.setdefault(s.article_id, len(first_use))
    chosen.sort(key=lambda s: (first_use[s.article_id], s.start))

    numbers: dict[int, int] = {}
    highlights: dict[int, list[tuple[int, int]]] = {}
    pieces = []
    for s in chosen:
        n = numbers.setdefault(s.hit, len(numbers) + 1)
        highlights.setdefault(s.hit, []).append((s.start, s.end))
        pieces.append(f"{s.text}[{n}]")
    citations = [_citation(n, hits[i], articles, highlights[i]) for i, n in sorted(numbers.items(), key=lambda kv: kv[1])]
    joiner = " " if kind.english else ""
    return Answer(question, question, joiner.join(pieces), False, citations, round(confidence, 4))


def _llm_answer(*args, **kwargs) -> Answer:
    from .llm import llm_answer  # imported on use: it needs tiktoken and a configured server

    return llm_answer(*args, **kwargs)


# The answer-backend seam: name -> function with the signature of ``extractive_answer``.
# "llm" asks an OpenAI-compatible chat server (YUWEN_LLM_URL) and falls back to extractive.
BACKENDS: dict[str, Callable[..., Answer]] = {"extractive": extractive_answer, "llm": _llm_answer}
