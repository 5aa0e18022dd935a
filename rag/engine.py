"""The question-answering engine: an opened index plus its embedder, with one `ask` call."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .answer import BACKENDS, Answer, AnswerPolicy, Evidence, IdfTable, Reader, gather, get_backend, load_reader
from .answer.evidence import with_parts
from .chunking import ChunkSettings
from .config import Settings
from .documents import Article
from .embedders import Embedder, EmbedderError, load_embedder, query_vector, query_vectors
from .indexing import build_index, describe_update
from .ingest import read_text
from .questions import QuestionKind, analyse
from .rules import RULES, rule_on, unknown_rules
from .retrieve import MODES, Hit, retrieve, widen
from .store import (
    IndexIncompatibleError,
    IndexMissingError,
    corpus_fingerprint,
    describe_corpus_change,
)
from .stores import Store, open_store

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000

__all__ = [
    "Engine",
    "QuestionError",
    "IndexMissingError",
    "IndexIncompatibleError",
    "EmbedderError",
    "build_index",
]


class QuestionError(ValueError):
    """The question cannot be asked as it is (empty, too long, not text)."""


def check_question(question: object) -> str:
    """The question stripped, or QuestionError saying what is wrong with it."""
    if not isinstance(question, str):
        raise QuestionError("The question must be text.")
    q = question.strip()
    try:
        q.encode("utf-8")
    except UnicodeEncodeError:
        raise QuestionError("The question is not valid text (it holds bytes that are not UTF-8): retype it. "
                            "/ 问题含有无效字符，请重新输入。") from None
    if not q:
        raise QuestionError("The question is empty: type a question about the articles. / 问题为空，请输入问题。")
    if len(q) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"The question is {len(q):,} characters long; at most {MAX_QUESTION_CHARS:,} are accepted. "
            f"Ask about one thing at a time. / 问题过长（{len(q)} 字），上限为 {MAX_QUESTION_CHARS} 字。"
        )
    return q


def check_k(k: object) -> int:
    """``k`` as a number of passages, or QuestionError saying what ``k`` must be."""
    try:
        n = int(k)  # type: ignore[arg-type]
        if isinstance(k, float) and n != k:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise QuestionError(f"k (the number of passages) must be a whole number from 1 to 50, not {str(k)[:20]!r}.") from None
    if not 1 <= n <= 50:
        raise QuestionError("The number of passages must be between 1 and 50.")
    return n


@dataclass
class Engine:
    """An index opened for questions. Open once per process; ``ask`` is safe across threads."""

    reader: Store
    embedder: Embedder
    corpus_dir: Path
    warnings: list[str] = field(default_factory=list)
    policy: AnswerPolicy = field(default_factory=AnswerPolicy)
    model: Reader = field(default_factory=load_reader)  # the learned reader (rag/answer/reader.json)

    @classmethod
    def open(
        cls,
        index_dir: Path | str | None = None,
        corpus_dir: Path | str | None = None,
        embedder: str | None = None,
        chunking: ChunkSettings | None = None,
        model: Reader | None = None,
    ) -> "Engine":
        """Open the index in ``index_dir`` for questions.

        The configured embedder and chunker (arguments, else YUWEN_* settings, else defaults) must
        be the ones the index was built with, or IndexIncompatibleError says how to rebuild. A
        corpus changed since the build only adds a warning."""
        settings = Settings()
        index_dir = Path(index_dir or settings.index_dir)
        corpus_dir = Path(corpus_dir or settings.corpus_dir)
        reader = open_store(index_dir)
        # One query at a time: FAISS's thread team only adds waiting (10-50x slower under load,
        # benchmarks/RESULTS.md); concurrent users are served by the web app's own workers.
        from .vectors import set_threads

        set_threads(1)
        m = reader.manifest
        wanted = embedder or settings.embedder
        if wanted != m.embedder:
            raise IndexIncompatibleError(
                f"The index in {index_dir}/ was built with embedder '{m.embedder}' but '{wanted}' is configured. "
                f"Rebuild it with `rag index --embedder {wanted}`, or ask with `--embedder {m.embedder}`."
            )
        chunk_cfg = (chunking or settings.chunking).as_dict()
        if chunk_cfg != m.chunking:
            raise IndexIncompatibleError(
                f"The index in {index_dir}/ was chunked with {m.chunking}, but {chunk_cfg} is configured. "
                "Rebuild it with `rag index`."
            )
        embedder_model = load_embedder(m.embedder)
        if embedder_model.id != m.embedder_id or embedder_model.dim != m.dim:
            raise IndexIncompatibleError(
                f"The index in {index_dir}/ holds {m.dim}-d vectors of '{m.embedder_id}', but '{m.embedder}' now "
                f"loads '{embedder_model.id}' ({embedder_model.dim}-d). Rebuild it with `rag index`."
            )
        warnings = []
        if corpus_dir.is_dir():
            change = describe_corpus_change(m.corpus, corpus_fingerprint(corpus_dir))
            if change:
                warnings.append(f"{change}; run `rag index --corpus {corpus_dir} --index {index_dir}` to update it.")

        model = model or load_reader(settings.reader)
        fitted_for = model.card.get("embedder")
        if fitted_for and fitted_for != m.embedder_id:
            log.warning("the answer reader was fitted with embedder '%s'; with '%s' its answer probabilities are not "
                        "calibrated (refit it with `rag train --embedder ...`)", fitted_for, m.embedder_id)
        if unknown_rules():
            warnings.append(f"YUWEN_RULES_OFF names no rule {', '.join(unknown_rules())}; the rules are {', '.join(RULES)}")
        for w in warnings:
            log.warning(w)
        return cls(reader=reader, embedder=embedder_model, corpus_dir=corpus_dir, warnings=warnings,
                   model=model)

    @property
    def manifest(self):
        return self.reader.manifest

    @property
    def idf(self) -> IdfTable:
        # Kept on the reader, so that a replaced build's files are released with it.
        table = getattr(self.reader, "_idf_table", None)
        if table is None:
            table = self.reader._idf_table = IdfTable.from_counts(*self.reader.document_frequencies())
        return table

    def refreshed(self) -> "Engine":
        """This engine, or one opened on the newer build ``CURRENT`` names (checked at most once
        a second). The embedder and reader are shared; a newer build that cannot be opened is
        logged and this one goes on answering."""
        if not self.reader.changed():
            return self
        self.reader.recheck_after(30.0)  # one opener at a time, however long a large build takes to open
        try:
            fresh = Engine.open(self.reader.index_dir, self.corpus_dir, embedder=self.manifest.embedder,
                                chunking=ChunkSettings(**self.manifest.chunking), model=self.model)
        except Exception as exc:
            log.warning("a newer build is not usable, answering from %s: %s", self.reader.build_name, exc)
            self.reader.recheck_after(30.0)
            return self
        log.info("switched to %s", fresh.reader.build_name)
        return fresh

    def query_vector(self, question: str) -> np.ndarray:
        """The question's embedding, cached: the UI and the answerer both need it."""
        return query_vector(self.embedder, question)

    def search(
        self, question: str, k: int = 5, mode: str = "hybrid", hidden: Iterable[str] = (), cosines: bool = False
    ) -> list[Hit]:
        """The ``k`` best passages for ``question``; the articles in ``hidden`` are left out.
        ``cosines``: give every hit its cosine to the question, in BM25 mode too (the answer layer reads it)."""
        q = check_question(question)
        qv = self.query_vector(q) if mode != "bm25" or cosines else None
        rows = self.reader.rows_of_articles(hidden) if hidden else frozenset()
        return retrieve(self.reader, self.embedder, q, k=k, mode=mode, query_vector=qv, hidden=rows)

    def _hits_for(
        self, question: str, kind: QuestionKind, k: int, mode: str, hidden: tuple[str, ...] = (),
        ranking: list[Hit] | None = None,
    ) -> tuple[list[Hit], tuple[str, ...], float | None]:
        """The passages an answer reads, and the sub-questions it must cover: the question's top
        ``k``, widened for a question that asks several things (A和B分别…, two sub-questions,
        两篇文章…) so that each has its evidence. A sub-question whose own passages fail the
        evidence check adds nothing (it would only bring in off-topic sentences); a part read
        several ways (what its 它 stands for) is taken in its likeliest reading. Second: the parts
        as taken. Third: the least evidence probability of the sub-questions when every one passed
        the check, else None. ``ranking``: the question's own top ``k``, when already searched."""
        split = kind.parts if rule_on("sub_questions") else ()
        several = kind.wants_several and rule_on("several_articles")
        if not (split or several):
            own = ranking if ranking is not None else self.search(question, k=k, mode=mode, hidden=hidden, cosines=True)
            return own, (), None
        readings = [(p,) for p in split]
        if split and kind.part_readings and rule_on("antecedent_readings"):
            readings = list(kind.part_readings)
        texts = [check_question(q) for q in (question, *(r for rs in readings for r in rs))]
        query_vectors(self.embedder, texts)  # one batch for all
        deeper = self.search(question, k=3 * k, mode=mode, hidden=hidden, cosines=True)
        parts, rankings, floor = [], [], 1.0
        for options in readings:
            # A part read several ways (what its 它 stands for): the reading the corpus answers best.
            p, part, ranking = max((self._part_evidence(r, k, mode, hidden) for r in options), key=lambda t: t[0])
            if p >= self.model.threshold:
                parts.append(part)
                rankings.append(ranking)
                floor = min(floor, p)
        # Every part answered: the whole is too, however its joined wording matches one passage.
        floor = floor if split and len(parts) == len(split) else None
        return widen(deeper[:k], rankings, deeper[k:] if several else []), tuple(parts), floor

    def _likeliest(
        self, text: str, others: tuple[str, ...], k: int, mode: str, hidden: tuple[str, ...]
    ) -> tuple[str, list[Hit]]:
        """A follow-up's rewrite ``text`` when its evidence passes, else the likeliest of it and its
        ``others`` readings (the rewriter's choice is kept whenever the corpus answers it); with
        the reading's top ``k``."""
        query_vectors(self.embedder, [check_question(q) for q in (text, *others)])  # one batch for all
        tried = [self._part_evidence(text, k, mode, hidden)]
        if tried[0][0] < self.model.threshold:
            tried += [self._part_evidence(r, k, mode, hidden) for r in others]
        _, reading, ranking = max(tried, key=lambda t: t[0])
        return reading, ranking

    def _part_evidence(self, part: str, k: int, mode: str, hidden: tuple[str, ...]) -> tuple[float, str, list[Hit]]:
        """A sub-question's evidence probability, the sub-question and its ranking."""
        ranking = self.search(part, k=k, mode=mode, hidden=hidden, cosines=True)
        return self.evidence(part, ranking).probability, part, ranking

    def evidence(self, question: str, hits: list[Hit], parts: tuple[str, ...] = (), floor: float | None = None) -> Evidence:
        """The scored evidence that ``hits`` give for ``question`` (and each sub-question's best unit);
        ``floor``: the probability is at least this (every sub-question answered)."""
        kind = analyse(question)
        whole = frozenset()
        if kind.wants_list and rule_on("list_items"):
            whole = frozenset(list(dict.fromkeys(h.chunk.article_id for h in hits))[:2])
        # Every article the evidence reads is one of the hits' (``whole`` names some of them).
        articles = self.reader.articles_of(h.chunk.article_id for h in hits)
        ev = gather(question, kind, hits, articles, self.embedder, self.idf, self.model,
                    query_vector=self.query_vector(question), sentence_vectors=self.reader.sentence_vector, whole=whole)
        if parts:
            with_parts(ev, parts, self.embedder, self.idf, self.model, self.reader.sentence_vector, floor=floor)
        return ev

    def ask(
        self,
        question: str,
        k: int = 5,
        mode: str = "hybrid",
        backend: str = "extractive",
        history: list[tuple[str, str]] | None = None,
        hidden: Iterable[str] = (),
        llm: str | None = None,
    ) -> Answer:
        """Answer ``question`` from the corpus with citations (or decline). ``history`` holds the
        earlier (question, answer) turns, so that a follow-up is read in their context. ``llm``
        names a chat model (``openai``, ``transformers:FOLDER``…) and implies ``backend="llm"``."""
        final = None
        for item in self.ask_stream(question, k=k, mode=mode, backend=backend, history=history, hidden=hidden, llm=llm):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def ask_stream(
        self,
        question: str,
        k: int = 5,
        mode: str = "hybrid",
        backend: str = "extractive",
        history: list[tuple[str, str]] | None = None,
        hidden: Iterable[str] = (),
        llm: str | None = None,
    ) -> Iterator[str | Answer]:
        """Like :meth:`ask`, but first yields the pieces of a generated reply as the model writes
        them (none for the extractive backend); the last item is the verified :class:`Answer`."""
        started = time.perf_counter()
        asked = check_question(question)
        if llm:
            backend = "llm"
        if mode not in MODES:
            raise QuestionError(f"Unknown retrieval mode '{mode}': choose one of {', '.join(MODES)}.")
        if backend not in BACKENDS:
            raise QuestionError(f"Unknown answer backend '{backend}': choose one of {', '.join(BACKENDS)}.")
        k = check_k(k)
        rewritten, rewritten_by, rewrite_note, ranking = asked, "", "", None
        if history:  # a follow-up: the language model rewrites it when one answers, else the rules
            from .followup_llm import standalone

            done = standalone(asked, list(history), use_llm=backend == "llm", llm=llm)
            rewritten, rewritten_by, rewrite_note = done.text, done.by, done.note
            if done.readings and rule_on("antecedent_readings"):
                rewritten, ranking = self._likeliest(rewritten, done.readings, int(k), mode, tuple(hidden))
        hits, parts, floor = self._hits_for(rewritten, analyse(rewritten), int(k), mode, tuple(hidden), ranking)
        evidence = self.evidence(rewritten, hits, parts, floor)
        chosen = get_backend(backend, llm=llm, embedder=self.embedder, sentence_vectors=self.reader.sentence_vector)
        for item in chosen.stream(evidence, self.policy, self.model):
            if isinstance(item, Answer):
                yield replace(item, question=asked, rewritten=rewritten, mode=mode, k=k, rewritten_by=rewritten_by,
                              rewrite_note=rewrite_note, seconds=round(time.perf_counter() - started, 4))
                return
            yield item

    def articles(self) -> list[Article]:
        """Every article in the index, in corpus order."""
        return list(self.reader.articles().values())

    def article(self, article_id: str) -> Article:
        """One article by id (KeyError when there is none)."""
        return self.reader.articles_of([article_id])[article_id]

    def page_text(self, file: str) -> str:
        """The original text of a source page, as the corpus holds it now."""
        path = (self.corpus_dir / file).resolve()
        if self.corpus_dir.resolve() not in path.parents:
            raise KeyError(file)
        return read_text(path)

    def status(self) -> dict:
        """What the index holds and how fresh it is."""
        m = self.manifest
        return {
            "embedder": m.embedder_id,
            "precision": {"index": m.embedder_precision or "fp32", "queries": self.embedder.precision},
            "dim": m.dim,
            "articles": m.articles,
            "chunks": m.chunks,
            "built_at": m.built_at,
            "vector_index": m.vector_kind,
            "chunking": m.chunking,
            "stale": bool(self.warnings),
            "warnings": list(self.warnings),
            "index_dir": str(self.reader.index_dir),
            "build": self.reader.build_name,
            "integrity": getattr(self.reader, "integrity", None) or ("checksums verified on open" if self.manifest.files and self.reader.verified_fully
                          else "sizes verified on open (`rag status --check` verifies checksums)" if self.manifest.files
                          else "no checksums (built by an older version; `rag index --full` adds them)"),
            "last_update": describe_update(self.manifest),
            "corpus_dir": str(self.corpus_dir),
        }


