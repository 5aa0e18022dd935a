"""The answer-backend seam: one small protocol, and a registry of the backends by name."""

from __future__ import annotations

from typing import Callable, Iterator, Protocol

from .evidence import Evidence
from .extractive import AnswerPolicy
from .extractive import answer as extractive_answer
from .reader import Reader
from .types import Answer


class AnswerBackend(Protocol):
    """Turns the gathered evidence into an answer (or a refusal that says why)."""

    name: str

    def answer(self, evidence: Evidence, policy: AnswerPolicy, reader: Reader) -> Answer: ...

    def stream(self, evidence: Evidence, policy: AnswerPolicy, reader: Reader) -> Iterator[str | Answer]:
        """Pieces of the reply as they are written, then the final :class:`Answer`."""
        ...


class Extractive:
    """The passages' own units, chosen by the learned reader; needs no language model."""

    name = "extractive"

    def __init__(self, **options):  # the options of other backends (llm=…, embedder=…) do not concern it
        pass

    def answer(self, evidence: Evidence, policy: AnswerPolicy, reader: Reader) -> Answer:
        return extractive_answer(evidence, policy, threshold=reader.threshold, margin=reader.margin, reader=reader)

    def stream(self, evidence: Evidence, policy: AnswerPolicy, reader: Reader) -> Iterator[str | Answer]:
        yield self.answer(evidence, policy, reader)  # whole at once: nothing to wait for


def _llm(**options) -> AnswerBackend:
    from .llm import LLMAnswerer  # imported on use: it brings the chat models and the verifier

    return LLMAnswerer(**options)


BACKENDS: dict[str, Callable[..., AnswerBackend]] = {"extractive": Extractive, "llm": _llm}


def get_backend(name: str, **options) -> AnswerBackend:
    """The backend registered as ``name``, made with ``options`` (KeyError naming the choices otherwise)."""
    if name not in BACKENDS:
        raise KeyError(f"unknown answer backend '{name}': choose one of {', '.join(BACKENDS)}")
    return BACKENDS[name](**options)
