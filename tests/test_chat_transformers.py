"""The transformers chat backend on a tiny causal LM the test builds (random weights, own tokenizer
and chat template): real token streaming, generation limits, loading once, clear errors."""

from __future__ import annotations

import time

import pytest

from rag.chat import ChatError, load_chat_model
from rag.chat.transformers import TransformersChat, load_transformers_chat
from tests.tiny_lm import build_tiny_lm

MESSAGES = [{"role": "system", "content": "只根据资料回答。"}, {"role": "user", "content": "大桥多长？"}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm") / "model")


def test_reply_streams_token_by_token_within_the_limit(tiny):
    model = load_chat_model(f"transformers:{tiny}")
    assert len(list(model.stream(MESSAGES, max_tokens=12))) > 1
    longest = max(len(model.tokenizer.decode([i])) for i in range(len(model.tokenizer)))
    assert 0 < len("".join(model.stream(MESSAGES, max_tokens=1))) <= longest  # one token, no more


def test_the_model_is_loaded_once_per_process(tiny):
    assert load_chat_model(f"transformers:{tiny}") is load_chat_model(f"transformers:{tiny}")
    assert load_chat_model(str(tiny)).name == f"transformers:{tiny}"  # a bare folder means transformers


def test_prompt_uses_the_models_own_chat_template(tiny):
    model = load_chat_model(f"transformers:{tiny}")
    prompt = model.prompt(MESSAGES)
    assert prompt.startswith("<s>system\n只根据资料回答。</s>") and prompt.endswith("<s>assistant\n")


def test_a_model_without_chat_template_gets_plain_turns(tmp_path):
    model = load_transformers_chat(str(build_tiny_lm(tmp_path / "base", chat_template=False)))
    assert model.prompt(MESSAGES) == "只根据资料回答。\n\n大桥多长？\n\n回答："
    assert list(model.stream(MESSAGES, max_tokens=3))


def test_a_reader_that_stops_early_stops_the_generation(tiny):
    model = load_chat_model(f"transformers:{tiny}")
    stream = model.stream(MESSAGES, max_tokens=500)
    next(stream)
    started = time.perf_counter()
    stream.close()
    assert time.perf_counter() - started < 5
    assert model._lock.acquire(timeout=1)  # the next question can use the model at once
    model._lock.release()


def test_prompt_longer_than_the_context_is_refused(tiny):
    model = TransformersChat(load_chat_model(f"transformers:{tiny}").model, load_chat_model(f"transformers:{tiny}").tokenizer,
                             "tiny", context_tokens=8)
    with pytest.raises(ChatError, match="more than the model's 8"):
        list(model.stream(MESSAGES))


def test_hub_name_without_network_fails_fast_saying_how_to_use_a_folder(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(ChatError) as err:
        load_chat_model("transformers:nobody-has/this-model-7b")
    assert time.perf_counter() - started < 10
    assert "local folder" in str(err.value) and "--llm transformers:./models/this-model-7b" in str(err.value)


def test_missing_folder_is_one_clear_line(tmp_path):
    with pytest.raises(ChatError, match="not a model folder"):
        load_chat_model(f"transformers:{tmp_path / 'nothing-here'}")
