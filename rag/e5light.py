"""multilingual-e5-small without torch: the BERT forward pass in numpy over the e5 folder's weights.

:func:`rag.e5convert.ensure_e5_model` writes a sentence-transformers folder (BertModel, mean
pooling, normalisation). Importing sentence-transformers and torch to load it costs 8–10 s,
which an update that embeds eight passages pays in full; this module computes the same vectors
(max abs difference ~1e-7; tests/test_e5light.py compares them) from the same
``model.safetensors`` (memory-mapped, so only the rows of the words a text uses are read) and
``tokenizer.json`` (:mod:`rag.unigram`: the ids of the ``tokenizers`` library, which the fast
tokenizer of transformers wraps), ready in about half a second from a cold start. Texts are
packed without padding and split into one group per core; numpy's BLAS is held to one thread
meanwhile (:class:`_blas_threads`).

:class:`LightEncoder` offers the part of ``SentenceTransformer``'s API that
:class:`rag.embedders.Embedder` uses (``encode``, ``tokenizer``, ``max_seq_length``,
``get_sentence_embedding_dimension``), so the embedder seam is unchanged. Only folders that fit
exactly (a ``bert`` encoder, absolute positions, GELU, mean pooling with normalisation, a
``PreTrainedTokenizerFast`` tokenizer) are accepted; :func:`fits` says whether a folder does.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

_ST_MODULES = [
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
]


class LightEncoderError(RuntimeError):
    """The folder is not one this encoder computes exactly."""


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))


def fits(folder: Path | str) -> bool:
    """Whether ``folder`` is a sentence-transformers BERT mean-pooling folder this module encodes exactly."""
    try:
        _check(Path(folder))
        return True
    except (LightEncoderError, OSError, ValueError, KeyError):
        return False


def _check(folder: Path) -> tuple[dict, int]:
    """The folder's BERT config and max sequence length; LightEncoderError when it does not fit."""
    modules = _read_json(folder / "modules.json")
    if [m["type"].replace(".base.modules.", ".models.") for m in modules] != _ST_MODULES or modules[0]["path"]:
        raise LightEncoderError(f"{folder}: modules are not Transformer, Pooling, Normalize")
    pooling = _read_json(folder / modules[1]["path"] / "config.json")
    modes = {k: v for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    if modes != {"pooling_mode_mean_tokens": True} or not pooling.get("include_prompt", True):
        raise LightEncoderError(f"{folder}: pooling is not plain mean pooling")
    config = _read_json(folder / "config.json")
    if (
        config.get("model_type") != "bert"
        or config.get("hidden_act") != "gelu"
        or config.get("position_embedding_type", "absolute") != "absolute"
        or config.get("is_decoder")
        or config["hidden_size"] % config["num_attention_heads"]
    ):
        raise LightEncoderError(f"{folder}: not a plain BERT encoder")
    tok_config = _read_json(folder / "tokenizer_config.json")
    if tok_config.get("tokenizer_class") != "PreTrainedTokenizerFast" or tok_config.get("do_lower_case"):
        raise LightEncoderError(f"{folder}: the tokenizer is not tokenizer.json as written")
    st_config = _read_json(folder / "sentence_bert_config.json")
    if st_config.get("do_lower_case"):
        raise LightEncoderError(f"{folder}: lower-cases its input")
    max_len = min(
        int(st_config.get("max_seq_length") or tok_config.get("model_max_length") or 512),
        int(tok_config.get("model_max_length") or 10**9),
        int(config["max_position_embeddings"]),
    )
    return config, max_len


class _Weights:
    """The tensors of a float32 ``.safetensors`` file as read-only numpy views of one memory map."""

    def __init__(self, path: Path):
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        self._data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
        self._header = {k: v for k, v in header.items() if k != "__metadata__"}

    def __getitem__(self, name: str) -> np.ndarray:
        info = self._header[name]
        if info["dtype"] != "F32":
            raise LightEncoderError(f"tensor {name} is {info['dtype']}, not F32")
        start, end = info["data_offsets"]
        return np.asarray(self._data[start:end]).view("<f4").reshape(info["shape"])


class _Tokenizer:
    """``tokenizer(text, add_special_tokens=True)["input_ids"]``, as a transformers tokenizer answers
    (untruncated): :mod:`rag.unigram` for a Unigram tokenizer.json, else the ``tokenizers`` library."""

    def __init__(self, path: Path):
        from .unigram import UnigramTokenizer, UnsupportedTokenizer

        try:
            self._unigram: UnigramTokenizer | None = UnigramTokenizer(path)
        except (UnsupportedTokenizer, OSError, ValueError, KeyError, TypeError) as exc:
            log.info("tokenising with the tokenizers library: %s", exc)
            from tokenizers import Tokenizer

            self._unigram = None
            self._library = Tokenizer.from_file(str(path))
            self._library.no_truncation()
            self._library.no_padding()

    def ids(self, text: str, add_special_tokens: bool = True) -> list[int]:
        if self._unigram is not None:
            return self._unigram.ids(text, add_special_tokens)
        return self._library.encode(text, add_special_tokens=add_special_tokens).ids

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": self.ids(text, add_special_tokens)}


_ONE_ENCODE = threading.Lock()  # one encode at a time: each already uses every core


def _threads() -> int:
    """Threads an encode uses: ``OMP_NUM_THREADS`` when set (as torch reads it), else the usable cores."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _groups(lengths: list[int], batch_size: int, workers: int) -> list[list[int]]:
    """Text positions in groups of about equal token counts: at least one group per ``batch_size``
    texts and one per worker. Longest first, each to the lightest group (packed batches pad
    nothing, so which texts share a group changes no vector)."""
    n = len(lengths)
    count = min(n, max(-(-n // batch_size), workers))
    groups: list[list[int]] = [[] for _ in range(count)]
    load = [0] * count
    for i in sorted(range(n), key=lambda i: -lengths[i]):
        g = min(range(count), key=load.__getitem__)
        groups[g].append(i)
        load[g] += lengths[i]
    return groups


_BLAS = None  # threadpoolctl's view of the BLAS libraries loaded (numpy's), found once per process


class _blas_threads:
    """Limit numpy's BLAS to ``n`` threads inside the block: the encoder parallelises over groups
    of texts itself, and BLAS threads that spin-wait make a busy machine many times slower."""

    def __init__(self, n: int):
        self.n, self._limits = n, None

    def __enter__(self):
        global _BLAS
        if _BLAS is None:
            try:
                from threadpoolctl import ThreadpoolController

                _BLAS = ThreadpoolController().select(user_api="blas")
            except ImportError:  # pragma: no cover - a dependency; without it BLAS keeps its threads
                _BLAS = False
        self._limits = _BLAS.limit(limits=self.n) if _BLAS else None
        return self

    def __exit__(self, *exc):
        if self._limits is not None:
            self._limits.restore_original_limits()


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    x = x - mean
    var = np.mean(x * x, axis=-1, keepdims=True)
    x *= 1.0 / np.sqrt(var + eps)
    x *= weight
    x += bias
    return x


# Abramowitz & Stegun 7.1.26: erf(z) = 1 - t (a1 + t (a2 + … t a5)) exp(-z²), t = 1 / (1 + p z), for
# z >= 0, within 1.5e-7 (6e-7 in float32 arithmetic, about torch's own float32 erf). Three times
# faster than scipy.special.erf, and the GELU was over half of each feed-forward block's time.
_AS_P = np.float32(0.3275911)
_AS = [np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)]
_SQRT_HALF = np.float32(0.7071067811865476)


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact (erf) GELU, x Φ(x), of float32 ``x`` (overwritten)."""
    z = np.abs(x)
    z *= _SQRT_HALF
    t = z * _AS_P
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * _AS[0]
    for a in _AS[1:]:
        poly += a
        poly *= t
    z *= z
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z
    poly *= 0.5  # poly = 1 - Φ(|x|) = Φ(-|x|)
    poly *= x  # x Φ(-|x|): GELU for x < 0; for x >= 0, x Φ(x) = x - x Φ(-x)
    negative = x < 0
    x -= poly
    np.copyto(x, poly, where=negative)
    return x


class LightEncoder:
    """A sentence-transformers BERT mean-pooling folder, computed in numpy (float32, CPU)."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        self.config, self.max_seq_length = _check(self.folder)
        self._weights = _Weights(self.folder / "model.safetensors")
        self._tokenizer: _Tokenizer | None = None
        self._layers = [self._layer(i) for i in range(int(self.config["num_hidden_layers"]))]

    # -- the part of SentenceTransformer's API that Embedder uses

    @property
    def tokenizer(self) -> _Tokenizer:
        if self._tokenizer is None:
            self._tokenizer = _Tokenizer(self.folder / "tokenizer.json")
        return self._tokenizer

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.config["hidden_size"])

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        normalize_embeddings: bool = True,
        convert_to_numpy: bool = True,
        show_progress_bar: bool = False,
    ) -> np.ndarray:
        """One float32 row per text: mean-pooled last hidden states, unit length when ``normalize_embeddings``."""
        ids = [self._truncate(self.tokenizer.ids(t)) for t in texts]
        out = np.zeros((len(ids), self.get_sentence_embedding_dimension()), dtype=np.float32)
        workers = _threads()
        groups = _groups([len(x) for x in ids], max(1, batch_size), workers)
        with _ONE_ENCODE, _blas_threads(1):
            if workers == 1 or len(groups) == 1:
                results = map(self._forward, ([ids[i] for i in g] for g in groups))
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(min(workers, len(groups))) as pool:
                    results = list(pool.map(self._forward, ([ids[i] for i in g] for g in groups)))
            for g, vecs in zip(groups, results):
                out[g] = vecs
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    # -- the model

    def _truncate(self, ids: list[int]) -> list[int]:
        """Ids cut to ``max_seq_length`` keeping the closing special token, as the fast tokenizer truncates."""
        if len(ids) <= self.max_seq_length:
            return ids
        return ids[: self.max_seq_length - 1] + ids[-1:]

    def _layer(self, i: int) -> dict[str, np.ndarray]:
        w, p = self._weights, f"encoder.layer.{i}."
        qkv = np.concatenate([w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")])
        qkv_bias = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
        return {
            "qkv": qkv.T, "qkv_b": qkv_bias,
            "out": w[p + "attention.output.dense.weight"].T,
            "out_b": w[p + "attention.output.dense.bias"],
            "ln1_w": w[p + "attention.output.LayerNorm.weight"], "ln1_b": w[p + "attention.output.LayerNorm.bias"],
            "ff1": w[p + "intermediate.dense.weight"].T, "ff1_b": w[p + "intermediate.dense.bias"],
            "ff2": w[p + "output.dense.weight"].T, "ff2_b": w[p + "output.dense.bias"],
            "ln2_w": w[p + "output.LayerNorm.weight"], "ln2_b": w[p + "output.LayerNorm.bias"],
        }

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        """Mean-pooled last hidden states of the token id lists ``batch`` (packed: no padding)."""
        cfg, w = self.config, self._weights
        eps = float(cfg.get("layer_norm_eps", 1e-12))
        heads = int(cfg["num_attention_heads"])
        hidden = int(cfg["hidden_size"])
        head_dim = hidden // heads
        lengths = [len(ids) for ids in batch]
        bounds = np.cumsum([0, *lengths])
        flat = np.fromiter((t for ids in batch for t in ids), dtype=np.int64, count=int(bounds[-1]))
        positions = np.concatenate([np.arange(n) for n in lengths])
        x = w["embeddings.word_embeddings.weight"][flat] + w["embeddings.position_embeddings.weight"][positions]
        x += w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        scale = np.float32(1.0 / np.sqrt(head_dim))
        for layer in self._layers:
            qkv = x @ layer["qkv"]
            qkv += layer["qkv_b"]
            context = np.empty_like(x)
            for s, e in zip(bounds[:-1], bounds[1:]):
                q, k, v = (qkv[s:e, j * hidden : (j + 1) * hidden].reshape(e - s, heads, head_dim).transpose(1, 0, 2)
                           for j in range(3))
                scores = (q * scale) @ k.transpose(0, 2, 1)
                scores -= scores.max(axis=-1, keepdims=True)
                np.exp(scores, out=scores)
                scores /= scores.sum(axis=-1, keepdims=True)
                context[s:e] = (scores @ v).transpose(1, 0, 2).reshape(e - s, hidden)
            attn = context @ layer["out"]
            attn += layer["out_b"]
            attn += x
            x = _layer_norm(attn, layer["ln1_w"], layer["ln1_b"], eps)
            h = x @ layer["ff1"]
            h += layer["ff1_b"]
            h = _gelu(h)
            y = h @ layer["ff2"]
            y += layer["ff2_b"]
            y += x
            x = _layer_norm(y, layer["ln2_w"], layer["ln2_b"], eps)
        return np.add.reduceat(x, bounds[:-1], axis=0) / np.asarray(lengths, dtype=np.float32)[:, None]
