"""The chat-model seam: one small protocol, a registry of the backends, and the spec that picks one.

A spec names a backend and, after a colon, its model: ``openai`` (the server and model of
``YUWEN_LLM_URL`` / ``YUWEN_LLM_MODEL``), ``openai:qwen2.5:7b``, ``transformers:./models/Qwen2.5-0.5B-Instruct``,
``transformers:Qwen/Qwen2.5-0.5B-Instruct``; a bare existing folder or ``.gguf`` file means ``transformers``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}


class ChatError(RuntimeError):
    """A chat model could not be used; the message is one line that says what to do."""


class ChatModel(Protocol):
    """Writes a reply to chat messages, piece by piece, and counts tokens as its model does."""

    name: str
    context_tokens: int  # prompt + reply tokens the model takes at most

    def stream(self, messages: Sequence[Message], max_tokens: int = 512, temperature: float = 0.0) -> Iterator[str]:
        """The reply as it is generated (pieces of text); ChatError when the model fails."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's prompt."""
        ...


def _openai(model: str) -> ChatModel:
    from .openai import OpenAIChat

    return OpenAIChat.from_env(model)


def _transformers(model: str) -> ChatModel:
    from .transformers import load_transformers_chat

    return load_transformers_chat(model)


#: Backends by name; each takes the model part of the spec ("" when none was given).
CHAT_MODELS: dict[str, Callable[[str], ChatModel]] = {"openai": _openai, "transformers": _transformers}

_loaded: dict[str, ChatModel] = {}
_lock = threading.Lock()


def default_spec() -> str:
    """``YUWEN_LLM``, else ``openai`` when ``YUWEN_LLM_URL`` names a server, else empty (no LLM configured)."""
    spec = os.environ.get("YUWEN_LLM", "").strip()
    if spec:
        return spec
    return "openai" if os.environ.get("YUWEN_LLM_URL", "").strip() else ""


def parse_spec(spec: str) -> tuple[str, str]:
    """``(backend, model)`` of a spec such as ``openai:qwen2.5:7b`` or ``transformers:./folder``."""
    spec = spec.strip()
    if not spec:
        raise ChatError("No language model configured: pass --llm openai (with YUWEN_LLM_URL set) or "
                        "--llm transformers:PATH_TO_MODEL_FOLDER, or set YUWEN_LLM.")
    kind, _, model = spec.partition(":")
    if kind in CHAT_MODELS:
        return kind, model.strip()
    if Path(spec).expanduser().exists():
        return "transformers", spec
    raise ChatError(f"Unknown language model '{spec}': use {' or '.join(k + ':MODEL' for k in CHAT_MODELS)}, "
                    "or the path of a local model folder.")


def load_chat_model(spec: str | None = None) -> ChatModel:
    """The chat model of ``spec`` (default :func:`default_spec`), loaded once per process and spec."""
    spec = (spec if spec is not None else default_spec()).strip()
    kind, model = parse_spec(spec)
    key = f"{kind}:{model}"
    if kind == "openai":  # cheap to make, and it reads the server settings of the environment now
        return CHAT_MODELS[kind](model)
    with _lock:
        if key not in _loaded:
            _loaded[key] = CHAT_MODELS[kind](model)
        return _loaded[key]
