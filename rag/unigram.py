"""A Unigram ``tokenizer.json`` that opens in a tenth of a second, with the ids ``tokenizers`` gives.

``tokenizers.Tokenizer.from_file`` takes about a second for multilingual-e5's 250 000-piece
Unigram vocabulary (it builds a trie of every piece), which a command that tokenises one edited
article pays in full. Here the pieces and scores are read from a small JSON cache written beside
the folder the first time; normalisation and pre-tokenisation stay with the ``tokenizers``
library (the file's own normaliser and pre-tokeniser, loaded without the vocabulary), and the
best segmentation of each pre-token is the same Viterbi search as the library's
``Unigram::encode_optimized`` (same scores in float64, same order of candidates, same tie
rule, unknown characters fused). The cache is a ``marshal`` file (the fastest form Python reads a
dict of 250 000 strings in, about 0.15 s), keyed by the Python version and the source file's
size and time, and rebuilt whenever it does not match. Texts holding an added token (``<s>``, ``<mask>``…), and all
texts once a process has tokenised more than :data:`HANDOVER_CHARS` characters (a full build),
go to the library's own tokenizer, loaded then.
"""

from __future__ import annotations

import json
import logging
import marshal
import os
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

CACHE_VERSION = 1
_PYTHON = list(sys.version_info[:2])  # marshal's format may change between Python versions
HANDOVER_CHARS = 60_000  # beyond this much text the library's tokenizer is faster despite its load
_UNK_PENALTY = 10.0  # tokenizers' K_UNK_PENALTY: an unknown character scores min_score - 10


class UnsupportedTokenizer(ValueError):
    """The tokenizer.json is not a Unigram model with a plain ``<s> A </s>`` template."""


def cache_path(tokenizer_json: Path) -> Path:
    """Where the pieces of ``tokenizer_json`` are cached: beside its folder, named after it."""
    return tokenizer_json.parent.parent / f"{tokenizer_json.parent.name}.unigram-cache.marshal"


def _source_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _build_cache(tokenizer_json: Path) -> dict:
    spec = json.loads(tokenizer_json.read_text("utf-8"))
    model = spec.get("model") or {}
    if model.get("type") != "Unigram" or model.get("byte_fallback") or model.get("unk_id") is None:
        raise UnsupportedTokenizer(f"{tokenizer_json}: not a Unigram model with an unknown piece and no byte fallback")
    template = (spec.get("post_processor") or {}).get("single") or []
    kinds = [next(iter(step)) for step in template]
    if spec.get("post_processor", {}).get("type") != "TemplateProcessing" or kinds != [
        "SpecialToken", "Sequence", "SpecialToken"
    ]:
        raise UnsupportedTokenizer(f"{tokenizer_json}: not a <s> A </s> template")
    specials = spec["post_processor"]["special_tokens"]
    first, last = (specials[template[i]["SpecialToken"]["id"]]["ids"] for i in (0, 2))
    skeleton = {**spec, "added_tokens": [], "post_processor": None, "decoder": None, "truncation": None,
                "padding": None, "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]]}}
    pieces = [p for p, _ in model["vocab"]]
    longest: dict[str, int] = {}  # first character -> longest piece starting with it
    for p in pieces:
        if p and len(p) > longest.get(p[0], 0):
            longest[p[0]] = len(p)
    return {
        "version": CACHE_VERSION,
        "python": _PYTHON,
        "source": _source_key(tokenizer_json),
        "skeleton": json.dumps(skeleton, ensure_ascii=False),
        "ids": {p: i for i, p in enumerate(pieces)},
        "scores": [float(s) for _, s in model["vocab"]],
        "longest": longest,
        "unk_id": model["unk_id"],
        "added": [t["content"] for t in spec.get("added_tokens", [])],
        "first": first,
        "last": last,
    }


def _load_cache(tokenizer_json: Path) -> dict:
    """The cached pieces of ``tokenizer_json``, written (atomically) when missing or stale."""
    path = cache_path(tokenizer_json)
    try:
        cached = marshal.loads(path.read_bytes())
        if (cached.get("version"), cached.get("python"), cached.get("source")) == (
            CACHE_VERSION, _PYTHON, _source_key(tokenizer_json)
        ):
            return cached
    except (OSError, ValueError, EOFError, TypeError, AttributeError):
        pass
    cached = _build_cache(tokenizer_json)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(marshal.dumps(cached))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is an ordinary file
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache: works, only not faster next time
        log.info("cannot cache %s (%s)", path, exc)
    return cached


class UnigramTokenizer:
    """``ids(text)``: the token ids of ``tokenizers.Tokenizer.from_file(path).encode(text)``, without
    loading the library's tokenizer unless a text needs it."""

    def __init__(self, tokenizer_json: Path | str):
        from tokenizers import Tokenizer

        self.path = Path(tokenizer_json)
        c = _load_cache(self.path)
        self._skeleton = Tokenizer.from_str(c["skeleton"])
        self._ids: dict[str, int] = c["ids"]
        self._scores: list[float] = c["scores"]
        self._unk = int(c["unk_id"])
        self._unk_score = min(self._scores) - _UNK_PENALTY
        self._longest: dict[str, int] = c["longest"]
        self._added = [t for t in c["added"] if t]
        self._first, self._last = list(c["first"]), list(c["last"])
        self._library = None
        self._chars = 0

    @property
    def library(self):
        """The ``tokenizers`` tokenizer of the same file (loaded on first use: about a second)."""
        if self._library is None:
            from tokenizers import Tokenizer

            self._library = Tokenizer.from_file(str(self.path))
            self._library.no_truncation()
            self._library.no_padding()
        return self._library

    def ids(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text`` (with ``<s>``/``</s>`` when ``add_special_tokens``), untruncated."""
        self._chars += len(text)
        if self._library is not None or self._chars > HANDOVER_CHARS or any(t in text for t in self._added):
            return self.library.encode(text, add_special_tokens=add_special_tokens).ids
        out = []
        for piece, _ in self._skeleton.pre_tokenizer.pre_tokenize_str(self._skeleton.normalizer.normalize_str(text)):
            out.extend(self._viterbi(piece))
        return self._first + out + self._last if add_special_tokens else out

    def _viterbi(self, s: str) -> list[int]:
        """The best segmentation of ``s``: tokenizers' ``Unigram::encode_optimized``, step for step."""
        n = len(s)
        ids, scores, longest, unk = self._ids, self._scores, self._longest, self._unk
        best = [0.0] * (n + 1)
        start = [-1] * (n + 1)
        piece_of = [0] * (n + 1)
        for i in range(n):
            here = best[i]
            single = False
            for j in range(i + 1, min(n, i + longest.get(s[i], 0)) + 1):  # pieces by increasing length
                pid = ids.get(s[i:j])
                if pid is None:
                    continue
                score = scores[pid] + here
                if start[j] < 0 or score > best[j]:
                    best[j], start[j], piece_of[j] = score, i, pid
                if j == i + 1:
                    single = True
            if not single:
                score = self._unk_score + here
                if start[i + 1] < 0 or score > best[i + 1]:
                    best[i + 1], start[i + 1], piece_of[i + 1] = score, i, unk
        tokens: list[str] = []
        unknown: list[str] = []  # consecutive unknown characters, fused into one token
        j = n
        while j > 0:
            i = start[j]
            if piece_of[j] == unk:
                unknown.append(s[i:j])
            else:
                if unknown:
                    tokens.append("".join(reversed(unknown)))
                    unknown = []
                tokens.append(s[i:j])
            j = i
        if unknown:
            tokens.append("".join(reversed(unknown)))
        tokens.reverse()
        return [ids.get(t, unk) for t in tokens]
