"""The answer-backend seam: one small protocol, and a registry of the backends by name."""

from __future__ import annotations

from typing import Callable, Protocol

from .evidence import Evidence
from .extractive import AnswerPolicy
from .extractive import answer as extractive_answer
from .reader import Reader
from .types import Answer


class AnswerBackend(Protocol):
    """Turns the gathered evidence into an answer (or a refusal that says why)."""

    name: str

    def answer(self, evidence: Evidence, policy: AnswerPolicy, reader: Reader) -> Answer: ...


class Extractive:
    """The passages' own units, chosen by the learned reader; needs no language model."""

    name = "extractive"

    def answer(self, evidence: Evidence, policy: AnswerPolicy, reader: Reader) -> Answer:
        return extractive_answer(evidence, policy, threshold=reader.threshold, margin=reader.margin)


class ChatServer:
    """An OpenAI-compatible chat server (YUWEN_LLM_URL) writes the answer; every sentence must
    cite a passage it was shown, and any failure falls back to the extractive answer."""

    name = "llm"

    def answer(self, evidence: Evidence, policy: AnswerPolicy, reader: Reader) -> Answer:
        from ..llm import llm_answer  # imported on use: it needs tiktoken and a configured server

        return llm_answer(evidence, policy, reader)


BACKENDS: dict[str, Callable[[], AnswerBackend]] = {"extractive": Extractive, "llm": ChatServer}


def get_backend(name: str) -> AnswerBackend:
    """The backend registered as ``name`` (KeyError naming the choices otherwise)."""
    if name not in BACKENDS:
        raise KeyError(f"unknown answer backend '{name}': choose one of {', '.join(BACKENDS)}")
    return BACKENDS[name]()
