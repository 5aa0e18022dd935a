"""Chat models for the generative answer backend: one protocol, a registry, and two backends
(``openai``: an OpenAI-compatible server; ``transformers``: a local causal LM)."""

from .base import CHAT_MODELS, ChatError, ChatModel, Message, default_spec, load_chat_model, parse_spec

__all__ = ["CHAT_MODELS", "ChatError", "ChatModel", "Message", "default_spec", "load_chat_model", "parse_spec"]
