"""The generative answer backend: a chat model writes the answer from the numbered passages, the
tokens stream out as they come, and the finished reply is checked sentence by sentence
(``verify.py``) before it becomes the answer. Any failure of the model gives the extractive
answer with the reason in ``fallback_reason``; with no evidence the model is not called."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Callable, Iterator

import numpy as np

from ..chat import ChatError, ChatModel, load_chat_model
from ..embedders import Embedder
from .evidence import Evidence
from .extractive import AnswerPolicy, citation, decline
from .extractive import answer as extractive_answer
from .prompt import NO_INFO, Shown, build_messages, strip_scaffolding
from .reader import Reader
from .types import Answer
from .verify import Passage, SentenceCheck, VerifierParams, default_params, split_claims, verify

log = logging.getLogger(__name__)

PROMPT_TOKENS = 3000  # passages, instructions and question together, in the model's tokens
ANSWER_TOKENS = 400  # the reply's limit

SentenceVectors = Callable[[str, int, int], "np.ndarray | None"]


class LLMAnswerer:
    """The ``llm`` answer backend over one chat model (named by a spec, loaded on first use)."""

    name = "llm"

    def __init__(
        self,
        llm: str | ChatModel | None = None,
        embedder: Embedder | None = None,
        sentence_vectors: SentenceVectors | None = None,
        prompt_tokens: int = PROMPT_TOKENS,
        answer_tokens: int = ANSWER_TOKENS,
        params: VerifierParams | None = None,
    ):
        self.llm = llm
        self.embedder = embedder
        self.sentence_vectors = sentence_vectors
        self.prompt_tokens = prompt_tokens
        self.answer_tokens = answer_tokens
        self.params = params

    def answer(self, evidence: Evidence, policy: AnswerPolicy, reader: Reader) -> Answer:
        final = None
        for item in self.stream(evidence, policy, reader):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def _model(self) -> ChatModel:
        return self.llm if self.llm is not None and not isinstance(self.llm, str) else load_chat_model(self.llm)

    def stream(self, ev: Evidence, policy: AnswerPolicy, reader: Reader) -> Iterator[str | Answer]:
        """The reply's pieces as the model writes them, then the verified :class:`Answer`."""
        if not ev.hits or not ev.units or ev.probability < reader.threshold:
            yield replace(decline(ev), backend="extractive")  # no evidence: the model is not called
            return

        def fallback(why: str, **extra) -> Answer:
            log.warning("LLM backend: %s; answering extractively", why)
            answer = extractive_answer(ev, policy, threshold=reader.threshold, margin=reader.margin, reader=reader)
            return replace(answer, backend="extractive", fallback_reason=why, **extra)

        started = time.perf_counter()
        try:
            model = self._model()
        except ChatError as exc:
            yield fallback(str(exc))
            return
        budget = min(self.prompt_tokens, model.context_tokens - self.answer_tokens)
        messages, shown = build_messages(ev.question, ev.hits, ev.articles, model.count_tokens, budget)
        if not shown:
            yield fallback(f"no passage fits the model's prompt budget ({budget} tokens)")
            return
        pieces: list[str] = []
        first = None
        try:
            for piece in model.stream(messages, max_tokens=self.answer_tokens):
                if first is None:
                    first = time.perf_counter() - started
                pieces.append(piece)
                yield piece
        except ChatError as exc:
            yield fallback(str(exc), llm=model.name)
            return
        except Exception as exc:  # a backend bug must not cost the reader an answer
            log.exception("chat model %s failed", model.name)
            yield fallback(f"the language model failed ({type(exc).__name__}: {exc})", llm=model.name)
            return
        reply = "".join(pieces).strip()
        timing = {"llm": model.name, "first_token_seconds": round(first, 4) if first is not None else None}
        if not reply:
            yield fallback("the language model replied with nothing", **timing)
            return
        claims = split_claims(strip_scaffolding(reply))
        if NO_INFO in reply and not any(c.cited for c in claims):
            yield replace(decline(ev, "the language model found no answer in the passages"), backend="llm", **timing)
            return
        if not claims:
            yield fallback("the language model's reply holds no sentence", **timing)
            return
        passages = self._passages(ev, shown)
        vectors = self._claim_vectors([c.text for c in claims])
        checks = verify(claims, passages, vectors, self.params or default_params())
        support = round(sum(c.supported for c in checks) / len(checks), 4)
        sentences = [_check_json(c) for c in checks]
        if not any(c.supported for c in checks):
            yield fallback(f"none of the language model's {len(checks)} sentences is supported by the passages",
                           sentences=sentences, support=support, **timing)
            return
        yield compose(ev, shown, checks, sentences, support, timing)

    def _passages(self, ev: Evidence, shown: list[Shown]) -> list[Passage]:
        out = []
        for s in shown:
            hit = ev.hits[s.hit]
            units = [u for u in ev.units if u.hit == s.hit and s.start <= u.start and u.end <= s.end]
            units.sort(key=lambda u: u.start)
            sentences = [(u.start, u.end, u.text) for u in units]
            vecs = None
            if self.embedder is not None and sentences:
                got = [self.sentence_vectors(hit.chunk.article_id, a, b) if self.sentence_vectors else None
                       for a, b, _ in sentences]
                missing = [i for i, v in enumerate(got) if v is None]
                if missing:
                    for i, v in zip(missing, self.embedder.encode_passages([sentences[i][2] for i in missing])):
                        got[i] = v
                vecs = np.stack([np.asarray(v, dtype=np.float32) for v in got])
            out.append(Passage(s.n, s.text, sentences, vecs))
        return out

    def _claim_vectors(self, texts: list[str]) -> np.ndarray | None:
        if self.embedder is None or not texts:
            return None
        return np.asarray(self.embedder.encode_queries(texts), dtype=np.float32)


def _check_json(c: SentenceCheck) -> dict:
    """A sentence as ``Answer.sentences`` carries it (citations as numbered in the prompt until composed)."""
    return {"text": c.text, "supported": c.supported, "score": c.score, "citations": list(c.cited),
            "dropped": list(c.dropped), "moved": bool(c.moved_from) and c.supported}


def compose(ev: Evidence, shown: list[Shown], checks: list[SentenceCheck], sentences: list[dict], support: float,
            timing: dict) -> Answer:
    """The verified answer: each sentence followed by its (renumbered) citations, citations in order of use."""
    numbers: dict[int, int] = {}  # shown number -> citation number
    highlights: dict[int, list[tuple[int, int]]] = {}
    parts = []
    for c, d in zip(checks, sentences):
        for n in c.cited:
            numbers.setdefault(n, len(numbers) + 1)
        if c.span and c.source in c.cited and c.span not in highlights.setdefault(c.source, []):
            highlights[c.source].append(c.span)
        d["citations"] = [numbers[n] for n in c.cited]
        parts.append(c.text + "".join(f"[{numbers[n]}]" for n in c.cited))
    by_n = {s.n: s for s in shown}
    cites = [citation(num, ev.hits[by_n[n].hit], ev.articles, sorted(highlights.get(n, [])))
             for n, num in sorted(numbers.items(), key=lambda kv: kv[1])]
    joiner = " " if ev.kind.english else ""
    return Answer(ev.question, ev.question, joiner.join(parts), False, cites, round(ev.probability, 4), backend="llm",
                  sentences=sentences, support=support, **timing)
