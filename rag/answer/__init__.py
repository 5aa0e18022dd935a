"""The answer layer: evidence gathered once (candidate units scored by the learned reader, and the
calibrated probability that they answer), then one backend that writes the reply from it."""

from .backends import BACKENDS, AnswerBackend, get_backend
from .evidence import Evidence, gather
from .extractive import REFUSAL_EN, REFUSAL_ZH, AnswerPolicy
from .features import IdfTable
from .reader import Reader, ReaderError, load_reader
from .reply import Reply, Source, Span, to_reply
from .types import Answer, Citation

__all__ = [
    "Answer", "AnswerBackend", "AnswerPolicy", "BACKENDS", "Citation", "Evidence", "IdfTable", "REFUSAL_EN",
    "REFUSAL_ZH", "Reader", "ReaderError", "Reply", "Source", "Span", "gather", "get_backend", "load_reader", "to_reply",
]
