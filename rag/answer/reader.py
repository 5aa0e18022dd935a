"""The learned reader: a logistic model that scores each candidate unit (does it hold the answer?)
and one that gives the calibrated probability that the retrieved evidence answers the question.
Both are plain numbers in ``reader.json`` beside this file, fitted by ``rag train``; scoring is a
dot product, so answering needs no machine-learning library."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .features import EVIDENCE_FEATURES, UNIT_FEATURES

log = logging.getLogger(__name__)

MODEL_FILE = Path(__file__).with_name("reader.json")


class ReaderError(RuntimeError):
    """The reader's parameters cannot be read or do not fit the features of this version."""


@dataclass(frozen=True)
class Linear:
    """A standardised logistic model: ``sigmoid(((x - mean) / scale) · coef + intercept)``."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logits(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros(0)
        return ((np.asarray(rows, dtype=np.float64) - self.mean) / self.scale) @ self.coef + self.intercept

    def as_dict(self) -> dict:
        return {
            "features": list(self.features),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "coef": [round(float(v), 6) for v in self.coef],
            "intercept": round(float(self.intercept), 6),
        }

    @classmethod
    def from_dict(cls, d: dict, expected: tuple[str, ...]) -> "Linear":
        if tuple(d["features"]) != expected:
            raise ReaderError(
                f"the reader was fitted on features {d['features']}, but this version computes {list(expected)}: "
                "refit it with `rag train`"
            )
        arr = lambda k: np.asarray(d[k], dtype=np.float64)  # noqa: E731
        return cls(tuple(d["features"]), arr("mean"), arr("scale"), arr("coef"), float(d["intercept"]))


@dataclass(frozen=True)
class Reader:
    """The fitted unit scorer, evidence model and decision threshold."""

    unit: Linear
    evidence: Linear
    threshold: float = 0.5  # below this answer probability the reply is a refusal
    margin: float = 1.0  # further units join the best one when their logit is within this
    card: dict = field(default_factory=dict, compare=False)

    def unit_scores(self, rows: np.ndarray) -> np.ndarray:
        return self.unit.logits(rows)

    def probability(self, row: np.ndarray) -> float:
        return sigmoid(float(self.evidence.logits(np.asarray(row)[None, :])[0]))

    def as_dict(self) -> dict:
        return {
            "unit": self.unit.as_dict(),
            "evidence": self.evidence.as_dict(),
            "threshold": round(self.threshold, 4),
            "margin": round(self.margin, 4),
            "card": self.card,
        }

    def save(self, path: Path | str) -> Path:
        """Write the parameters as JSON, atomically."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".partial")
        tmp.write_text(json.dumps(self.as_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def untrained(cls) -> "Reader":
        """A reader with no opinion (every unit alike, probability 0.5): for collecting data to fit one."""
        def flat(names: tuple[str, ...]) -> Linear:
            n = len(names)
            return Linear(names, np.zeros(n), np.ones(n), np.zeros(n), 0.0)

        return cls(unit=flat(UNIT_FEATURES), evidence=flat(EVIDENCE_FEATURES), threshold=0.0)

    @classmethod
    def from_dict(cls, d: dict) -> "Reader":
        return cls(
            unit=Linear.from_dict(d["unit"], UNIT_FEATURES),
            evidence=Linear.from_dict(d["evidence"], EVIDENCE_FEATURES),
            threshold=float(d.get("threshold", 0.5)),
            margin=float(d.get("margin", 1.0)),
            card=d.get("card", {}),
        )


def sigmoid(x: float) -> float:
    """The logistic function, clipped so that no logit overflows."""
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


@lru_cache(maxsize=4)
def load_reader(path: str | None = None) -> Reader:
    """The reader fitted by ``rag train`` (``reader.json`` beside this module unless ``path``)."""
    p = Path(path) if path else MODEL_FILE
    try:
        return Reader.from_dict(json.loads(p.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise ReaderError(f"the reader's parameters {p} are missing: fit them with `rag train`") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ReaderError(f"the reader's parameters {p} are damaged ({exc}): refit them with `rag train`") from exc
