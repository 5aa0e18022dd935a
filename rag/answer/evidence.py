"""The evidence for one question, gathered once: the candidate answer units of the retrieved
passages, each scored by the learned reader, and the calibrated probability that they answer the
question; with what is missing when they do not (a constraint no passage states)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np

from ..documents import Article
from ..embedders import Embedder
from ..embedders import query_vector as cached_query_vector
from ..questions import Constraint, QuestionKind, constraints_of
from ..retrieve import Hit
from ..rules import rule_on
from ..units import answer_units
from .features import IdfTable, QuestionView, Unit, evidence_features, normalise, unit_features
from .reader import Reader, sigmoid

SentenceVectors = Callable[[str, int, int], "np.ndarray | None"]


@dataclass
class Evidence:
    """What the answer backends are handed: the question's analysis, its passages, the scored
    candidate units (best first), and the probability that they hold the answer."""

    question: str
    kind: QuestionKind
    hits: list[Hit]
    articles: dict[str, Article]
    units: list[Unit] = field(default_factory=list)  # best first
    probability: float = 0.0
    reason: str = ""  # why the evidence falls short, when it does
    missing: tuple[Constraint, ...] = ()  # constraints of the question that no passage states
    parts: tuple[str, ...] = ()  # sub-questions the answer must cover
    part_best: list[Unit] = field(default_factory=list)  # the best unit of each sub-question
    query_vector: np.ndarray | None = None
    neighbours: dict[tuple[str, int], str] = field(default_factory=dict, repr=False)

    @property
    def best(self) -> Unit | None:
        return self.units[0] if self.units else None


def candidate_units(
    hits: Sequence[Hit], articles: dict[str, Article], with_notes: bool = False, whole: frozenset[str] = frozenset()
) -> tuple[list[Unit], dict[tuple[str, int], str]]:
    """The answer units inside the retrieved passages (all of an article's for those in
    ``whole``; the author note too when ``with_notes``), each once, under its best-ranked
    passage; and the text of every unit of those articles by (article id, position)."""
    seen: set[tuple[str, int]] = set()
    out: list[Unit] = []
    neighbours: dict[tuple[str, int], str] = {}
    units_of: dict[str, list[tuple[int, int, bool]]] = {}
    for i, hit in enumerate(hits):
        c = hit.chunk
        article = articles.get(c.article_id)
        if article is None:
            continue
        if c.article_id not in units_of:
            units_of[c.article_id] = answer_units(article)
            for n, (s, e, _) in enumerate(units_of[c.article_id]):
                neighbours[(c.article_id, n)] = article.text[s:e]
        for n, (s, e, lead) in enumerate(units_of[c.article_id]):
            inside = (c.start <= s and e <= c.end) or c.article_id in whole
            is_note = bool(article.note) and article.text[s:e].strip() in article.note
            if not inside and not (with_notes and is_note):
                continue
            if (c.article_id, s) in seen:
                continue
            seen.add((c.article_id, s))
            out.append(Unit(hit=i, article_id=c.article_id, start=s, end=e, text=article.text[s:e], order=n,
                            lead=lead, note=is_note))
    return out, neighbours


def embed_units(
    units: Sequence[Unit], qv: np.ndarray | None, embedder: Embedder | None, stored: SentenceVectors | None
) -> None:
    """Set each unit's cosine to the question: stored sentence vectors where the index has them."""
    if qv is None or embedder is None or not units:
        return
    vecs = [stored(u.article_id, u.start, u.end) if stored else None for u in units]
    missing = [i for i, v in enumerate(vecs) if v is None]
    if missing:
        for i, v in zip(missing, embedder.encode_passages([units[i].text for i in missing])):
            vecs[i] = v
    for u, d in zip(units, np.stack(vecs) @ qv):
        u.dense = float(d)


def score_units(
    kind: QuestionKind,
    units: list[Unit],
    neighbours: dict[tuple[str, int], str],
    hits: Sequence[Hit],
    articles: dict[str, Article],
    idf: IdfTable,
    reader: Reader,
) -> tuple[QuestionView, np.ndarray]:
    """Compute every unit's features and the reader's score for it (in place)."""
    q = QuestionView.of(kind, idf)
    texts = {a: articles[a].text for a in {u.article_id for u in units} if a in articles}
    rows = unit_features(q, units, neighbours, hits, texts)
    for u, row, s in zip(units, rows, reader.unit_scores(rows)):
        u.features = row.tolist()
        u.score = float(s)
    return q, rows


def missing_constraints(q: QuestionView, hits: Sequence[Hit], best: Unit | None, articles: dict[str, Article]) -> tuple[Constraint, ...]:
    """The question's constraints that the best unit's article does not state."""
    if best is None:
        return tuple(q.kind.constraints)
    article = articles.get(best.article_id)
    text = normalise(article.text) if article else normalise(hits[best.hit].chunk.embed_text())
    return tuple(c for c in q.kind.constraints if normalise(c.text) not in text)


_NUMERAL = re.compile(r"[\d〇零一二三四五六七八九十百]")


def stated_instead(c: Constraint, unit: Unit) -> list[str]:
    """What the unit states of the kind of ``c`` instead (another year, another place): the unit's
    own constraints of that kind, found as a question's are, so whole dates and names, not the
    search tokens' pieces of words; a date or number asked is answered by dates or numbers, not by
    time words (正在, 当时)."""
    numeral = bool(_NUMERAL.search(c.text))
    same = [d.text for d in constraints_of(unit.text)
            if d.kind == c.kind and (d.kind not in ("time", "number") or bool(_NUMERAL.search(d.text)) == numeral)]
    return [s for s in dict.fromkeys(same) if normalise(s) != normalise(c.text)][:2]


def gather(
    question: str,
    kind: QuestionKind,
    hits: Sequence[Hit],
    articles: dict[str, Article],
    embedder: Embedder | None,
    idf: IdfTable,
    reader: Reader,
    query_vector: np.ndarray | None = None,
    sentence_vectors: SentenceVectors | None = None,
    whole: frozenset[str] = frozenset(),
) -> Evidence:
    """Score the candidate units of ``hits`` and the evidence as a whole."""
    hits = list(hits)
    ev = Evidence(question=question, kind=kind, hits=hits, articles=articles)
    if not hits:
        ev.reason = "nothing was retrieved"
        return ev
    qv = query_vector
    if qv is None and embedder is not None:
        qv = cached_query_vector(embedder, question)
    ev.query_vector = qv
    units, neighbours = candidate_units(hits, articles, with_notes=kind.about_author, whole=whole)
    embed_units(units, qv, embedder, sentence_vectors)
    q, rows = score_units(kind, units, neighbours, hits, articles, idf, reader)
    ev.probability = reader.probability(evidence_features(q, units, rows, hits, idf))
    if kind.english and rule_on("english_dense"):
        best_dense = max((h.dense for h in hits if h.dense is not None), default=None)
        ev.probability = 0.0 if best_dense is None else sigmoid(60 * (best_dense - 0.74))
    order = sorted(range(len(units)), key=lambda i: -units[i].score)
    ev.units = [units[i] for i in order]
    ev.neighbours = neighbours
    ev.missing = missing_constraints(q, hits, ev.best, articles)
    if ev.probability < reader.threshold:
        ev.reason = _why(ev)
    return ev


def with_parts(
    ev: Evidence,
    parts: Sequence[str],
    embedder: Embedder | None,
    idf: IdfTable,
    reader: Reader,
    sentence_vectors: SentenceVectors | None = None,
    floor: float | None = None,
) -> Evidence:
    """``ev`` with the best unit of each sub-question: the same candidates, scored for the part.
    ``floor`` (every sub-question's evidence passed on its own): the probability is at least this."""
    from ..questions import analyse

    if floor is not None and floor > ev.probability:
        ev.probability = floor
        if ev.probability >= reader.threshold:
            ev.reason = ""
    ev.parts = tuple(parts)
    ev.part_best = []
    for part in parts:
        units = [replace(u) for u in ev.units]
        qv = cached_query_vector(embedder, part) if embedder is not None else None
        embed_units(units, qv, embedder, sentence_vectors)
        score_units(analyse(part), units, ev.neighbours, ev.hits, ev.articles, idf, reader)
        if units:
            i = max(range(len(units)), key=lambda i: units[i].score)
            ev.part_best.append(ev.units[i])
    return ev


def _why(ev: Evidence) -> str:
    if not ev.units:
        return "the passages hold no sentence that could answer"
    if ev.missing:
        return "no passage states " + "、".join(c.text for c in ev.missing)
    return "the passages are not about this question"
