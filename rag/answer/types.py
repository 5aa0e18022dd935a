"""The records an answer is made of: the reply and the passages it cites."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
    confidence: float = 0.0  # calibrated probability that the passages answer the question
    reason: str = ""  # why it was declined (or why a fallback answered), for people checking the system
    seconds: float = 0.0
    mode: str = "hybrid"
    k: int = 0  # passages retrieved
    backend: str = "extractive"
    partial: bool = False  # declined, but says what the articles do state (another year, place…)
    fallback_reason: str = ""  # why the language model's answer was not given (the extractive one was instead)
    llm: str = ""  # the chat model asked, when one was
    sentences: list[dict] = field(default_factory=list)  # the model's sentences as checked: text, supported, score, citations
    support: float | None = None  # share of the model's sentences that their cited passages support
    first_token_seconds: float | None = None  # from asking the model to its first piece of reply
    rewritten_by: str = ""  # who wrote ``rewritten`` for a follow-up: "rules" or "llm" ("" with no history)
    rewrite_note: str = ""  # why the language model's rewrite was not used, when it was not

    def as_dict(self) -> dict:
        return asdict(self)
