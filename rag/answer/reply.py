"""The reply as clients receive it: one typed JSON object, the same from the web API (``/ask``,
``/v1/chat/completions``' ``yuwen`` field), the CLI (``rag ask --json``) and Python
(``to_reply(engine.ask(...))``).

The types are ``TypedDict``s so that the object is plain JSON and its schema is documented by the
types themselves (Gradio's ``view_api()`` reads them)."""

from __future__ import annotations

import re
from typing import TypedDict

from .types import Answer, Citation


class Span(TypedDict):
    """One cited stretch of a passage: ``passage[start:end] == text == article.text[article_start:article_end]``."""

    text: str
    start: int  # in the passage
    end: int
    article_start: int  # in the article's clean text (what `rag show ARTICLE_ID` prints)
    article_end: int


class Source(TypedDict):
    """A passage the answer cites (or, for a refusal, one of the nearest passages)."""

    n: int  # the number of its [n] markers in ``text``
    article_id: str
    title: str
    byline: str
    file: str  # the source page in the corpus folder
    line_start: int  # the page's lines the passage spans (1-based, inclusive)
    line_end: int
    passage_id: str
    passage: str  # the passage's text: article.text[passage_start:passage_end]
    passage_start: int
    passage_end: int
    quote: str  # the cited words (the spans' texts joined); empty for a nearest passage the text does not cite
    spans: list[Span]
    score: float  # its retrieval score


class Sentence(TypedDict):
    """One sentence a language model wrote, as checked against the passages it cites."""

    text: str
    supported: bool
    score: float
    citations: list[int]


class Reply(TypedDict):
    """The answer to one question."""

    question: str  # as asked
    rewritten: str  # as searched: a follow-up made standalone with the history (else the question)
    rewritten_by: str  # who made ``rewritten``: "rules" or "llm" ("" when the question stood alone)
    rewrite_note: str  # why a language model's rewrite was not used, else ""
    text: str  # the answer with [n] markers, or the refusal
    refused: bool  # no answer found: ``nearest`` holds the closest passages
    partial: bool  # refused, but ``text`` says what the articles state instead (another year, place…)
    reason: str  # why it was refused, for people checking the system ("" when answered)
    backend: str  # what wrote ``text``: extractive or llm
    llm: str  # the language model asked, when one was
    fallback_reason: str  # why the language model's answer was not given (the extractive one is), else ""
    mode: str  # retrieval: hybrid, dense or bm25
    k: int  # passages retrieved
    confidence: float  # calibrated probability that the passages answer the question
    support: float | None  # llm: share of its sentences their passages support
    citations: list[Source]  # the sources ``text``'s [n] markers point to, in order
    nearest: list[Source]  # when refused: the nearest passages (empty otherwise)
    sentences: list[Sentence]  # llm: its sentences as checked
    seconds: float
    first_token_seconds: float | None  # llm: from asking to its first piece of reply


class HistoryTurn(TypedDict):
    """One earlier turn of a conversation, as ``/ask`` takes it."""

    question: str
    answer: str


_MARK = re.compile(r"\[(\d+)\]")


def cited_numbers(text: str) -> list[int]:
    """The [n] markers of ``text``, each once, in order of first use."""
    return list(dict.fromkeys(int(m) for m in _MARK.findall(text)))


def source(c: Citation) -> Source:
    """The JSON of one citation: its spans placed in the passage and in the article."""
    spans = [Span(text=c.passage[s - c.start:e - c.start], start=s - c.start, end=e - c.start,
                  article_start=s, article_end=e)
             for s, e in c.highlights if c.start <= s <= e <= c.end]
    joiner = " " if c.passage.isascii() else "…"
    return Source(
        n=c.n, article_id=c.article_id, title=c.title, byline=c.byline, file=c.file,
        line_start=c.line_start, line_end=c.line_end, passage_id=c.chunk_id, passage=c.passage,
        passage_start=c.start, passage_end=c.end, quote=joiner.join(s["text"] for s in spans),
        spans=spans, score=round(float(c.score), 6),
    )


def to_reply(answer: Answer) -> Reply:
    """The one JSON object every client gets for ``answer``."""
    sources = [source(c) for c in answer.citations]
    if answer.refused:
        used = set(cited_numbers(answer.text))
        citations = [s for s in sources if s["n"] in used]  # a partial answer cites what it states instead
        nearest = sources
    else:
        citations, nearest = sources, []
    sentences = [Sentence(text=s["text"], supported=bool(s["supported"]), score=round(float(s["score"]), 4),
                          citations=[int(n) for n in s["citations"]]) for s in answer.sentences]
    return Reply(
        question=answer.question, rewritten=answer.rewritten, rewritten_by=answer.rewritten_by,
        rewrite_note=answer.rewrite_note, text=answer.text, refused=answer.refused,
        partial=answer.partial, reason=answer.reason, backend=answer.backend, llm=answer.llm,
        fallback_reason=answer.fallback_reason, mode=answer.mode, k=answer.k,
        confidence=round(float(answer.confidence), 4), support=answer.support, citations=citations,
        nearest=nearest, sentences=sentences, seconds=answer.seconds, first_token_seconds=answer.first_token_seconds,
    )


def history_pairs(history: object) -> list[tuple[str, str]]:
    """Earlier turns as the engine reads them, from ``[{"question", "answer"}, …]`` or ``[[q, a], …]``
    (ValueError saying what a turn must be otherwise)."""
    if history in (None, "", []):
        return []
    if not isinstance(history, (list, tuple)):
        raise ValueError("history must be a list of earlier turns, each {\"question\": …, \"answer\": …}.")
    pairs = []
    for turn in history:
        if isinstance(turn, dict):
            q, a = turn.get("question"), turn.get("answer", "")
        elif isinstance(turn, (list, tuple)) and len(turn) == 2:
            q, a = turn
        else:
            raise ValueError("each history turn must be {\"question\": …, \"answer\": …} or [question, answer].")
        if not isinstance(q, str) or not isinstance(a, str):
            raise ValueError("a history turn's question and answer must be text.")
        if q.strip():
            pairs.append((q.strip(), a))
    return pairs
