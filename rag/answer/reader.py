"""The learned reader: a linear model (optionally with boosted trees grown from its scores) that
scores each candidate unit (does it hold the answer?) and one (logistic, or boosted trees) that
gives the calibrated probability that the retrieved evidence answers the question. Both are
plain numbers in ``reader.json`` beside this file, fitted by ``rag train``; scoring is a dot
product or a walk down small trees in numpy, so answering needs no machine-learning library."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .features import EVIDENCE_FEATURES, UNIT_FEATURES
from .neighbours import JOIN_FEATURES

log = logging.getLogger(__name__)

MODEL_FILE = Path(__file__).with_name("reader.json")


class ReaderError(RuntimeError):
    """The reader's parameters cannot be read or do not fit the features of this version."""


def _check_features(d: dict, expected: tuple[str, ...]) -> None:
    """ReaderError unless the model ``d`` was fitted on the features this version computes."""
    if tuple(d["features"]) != expected:
        raise ReaderError(f"the reader was fitted on features {d['features']}, but this version computes "
                          f"{list(expected)}: refit it with `rag train`")


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
        _check_features(d, expected)
        arr = lambda k: np.asarray(d[k], dtype=np.float64)  # noqa: E731
        return cls(tuple(d["features"]), arr("mean"), arr("scale"), arr("coef"), float(d["intercept"]))


@dataclass(frozen=True)
class Trees:
    """Gradient-boosted regression trees on the raw features (the logit is the baseline plus one
    leaf value per tree); ``x <= threshold`` goes left, as scikit-learn's predictor does."""

    features: tuple[str, ...]
    baseline: float
    trees: tuple[dict[str, np.ndarray], ...]  # feature, threshold, left, right, leaf, value per node

    def __post_init__(self) -> None:
        # Every tree's nodes in one set of arrays (children as global indices), so all trees are
        # walked at once: a question's probability costs a few numpy steps, not one per tree.
        starts = np.cumsum([0] + [len(t["leaf"]) for t in self.trees])[:-1]
        cat = lambda k: np.concatenate([t[k] for t in self.trees]) if self.trees else np.zeros(0)  # noqa: E731
        flat = {k: cat(k) for k in ("feature", "threshold", "leaf", "value")}
        flat["left"] = np.concatenate([t["left"] + s for t, s in zip(self.trees, starts)]) if self.trees else np.zeros(0)
        flat["right"] = np.concatenate([t["right"] + s for t, s in zip(self.trees, starts)]) if self.trees else np.zeros(0)
        flat["feature"] = flat["feature"].astype(np.int64)
        flat["leaf"] = flat["leaf"].astype(bool)
        flat["left"] = flat["left"].astype(np.int64)
        flat["right"] = flat["right"].astype(np.int64)
        object.__setattr__(self, "_flat", flat)
        object.__setattr__(self, "_roots", starts.astype(np.int64))

    def logits(self, rows: np.ndarray) -> np.ndarray:
        x = np.nan_to_num(np.atleast_2d(np.asarray(rows, dtype=np.float64)))
        if x.shape[0] == 0:
            return np.zeros(0)
        f = self._flat
        node = np.broadcast_to(self._roots, (x.shape[0], len(self._roots))).copy()
        row = np.arange(x.shape[0])[:, None]
        inner = ~f["leaf"][node]
        while inner.any():
            left = x[row, f["feature"][node]] <= f["threshold"][node]
            node = np.where(inner, np.where(left, f["left"][node], f["right"][node]), node)
            inner = ~f["leaf"][node]
        return self.baseline + f["value"][node].sum(axis=1)

    def as_dict(self) -> dict:
        def tree(t: dict[str, np.ndarray]) -> dict:
            return {"feature": t["feature"].tolist(), "threshold": [round(float(v), 7) for v in t["threshold"]],
                    "left": t["left"].tolist(), "right": t["right"].tolist(), "leaf": t["leaf"].astype(int).tolist(),
                    "value": [round(float(v), 7) for v in t["value"]]}
        return {"kind": "trees", "features": list(self.features), "baseline": round(self.baseline, 7),
                "trees": [tree(t) for t in self.trees]}

    @classmethod
    def from_dict(cls, d: dict, expected: tuple[str, ...]) -> "Trees":
        _check_features(d, expected)
        trees = []
        for t in d["trees"]:
            tree = {"feature": np.asarray(t["feature"], dtype=np.int64), "threshold": np.asarray(t["threshold"], dtype=np.float64),
                    "left": np.asarray(t["left"], dtype=np.int64), "right": np.asarray(t["right"], dtype=np.int64),
                    "leaf": np.asarray(t["leaf"], dtype=bool), "value": np.asarray(t["value"], dtype=np.float64)}
            n = len(tree["leaf"])
            if any(len(v) != n for v in tree.values()) or tree["feature"].max(initial=0) >= len(expected):
                raise ValueError("a tree's arrays do not fit together")
            trees.append(tree)
        return cls(tuple(d["features"]), float(d["baseline"]), tuple(trees))


@dataclass(frozen=True)
class Blend:
    """The mean logit of several models over the same features: the logistic model's smooth
    reading of question kinds the fitting set lacks, with the trees' interactions."""

    features: tuple[str, ...]
    members: tuple["Linear | Trees", ...]

    def logits(self, rows: np.ndarray) -> np.ndarray:
        return np.mean([m.logits(rows) for m in self.members], axis=0)

    def as_dict(self) -> dict:
        return {"kind": "blend", "features": list(self.features), "members": [m.as_dict() for m in self.members]}

    @classmethod
    def from_dict(cls, d: dict, expected: tuple[str, ...]) -> "Blend":
        members = tuple(_model_from_dict(m, expected) for m in d["members"])
        if not members:
            raise ValueError("a blend of no models")
        return cls(tuple(d["features"]), members)


@dataclass(frozen=True)
class Boosted:
    """A linear model's logit plus boosted trees grown from it (the trees add what the linear
    scores miss, e.g. which of two close units holds the answer)."""

    features: tuple[str, ...]
    base: Linear
    trees: Trees

    def logits(self, rows: np.ndarray) -> np.ndarray:
        return self.base.logits(rows) + self.trees.logits(rows)

    def as_dict(self) -> dict:
        return {"kind": "boosted", "features": list(self.features), "base": self.base.as_dict(), "trees": self.trees.as_dict()}

    @classmethod
    def from_dict(cls, d: dict, expected: tuple[str, ...]) -> "Boosted":
        _check_features(d, expected)
        return cls(tuple(d["features"]), Linear.from_dict(d["base"], expected), Trees.from_dict(d["trees"], expected))


def _model_from_dict(d: dict, expected: tuple[str, ...]) -> "Linear | Trees | Blend | Boosted":
    kind = d.get("kind", "linear")
    if kind == "blend":
        return Blend.from_dict(d, expected)
    if kind == "boosted":
        return Boosted.from_dict(d, expected)
    return Trees.from_dict(d, expected) if kind == "trees" else Linear.from_dict(d, expected)


@dataclass(frozen=True)
class Reader:
    """The fitted unit scorer, evidence model(s) and decision threshold.

    Two ways of not answering, each learned from its own negatives: the evidence model (do the
    retrieved passages answer? fitted against questions whose gold passage was hidden) and,
    when there is one, the constraint model (do passages on the topic state what the question
    pins down? fitted against near-miss twins). Each has its threshold; the answer probability
    is the evidence model's, lowered where the constraint model is below its own threshold's
    scale, so that ``probability < threshold`` is exactly "either model declines"."""

    unit: Linear | Boosted
    evidence: Linear | Trees | Blend
    threshold: float = 0.5  # below this answer probability the reply is a refusal
    margin: float = 1.0  # further units join the best one when their logit is within this
    card: dict = field(default_factory=dict, compare=False)
    constraint: Linear | Trees | Blend | None = None
    constraint_threshold: float = 0.0
    # The neighbour-join models (``neighbours.py``): the sentence before / after the best unit
    # joins the answer when its probability reaches ``join_threshold``.
    join_before: Linear | None = None
    join_after: Linear | None = None
    join_threshold: float = 1.0

    def join_probability(self, row: np.ndarray, step: int) -> float:
        """The probability that the neighbour ``step`` (-1 before, +1 after) of the best unit holds the answer."""
        model = self.join_before if step < 0 else self.join_after
        return 0.0 if model is None else sigmoid(float(model.logits(np.asarray(row)[None, :])[0]))

    def unit_scores(self, rows: np.ndarray) -> np.ndarray:
        return self.unit.logits(rows)

    def probability(self, row: np.ndarray) -> float:
        row = np.asarray(row)[None, :]
        p = sigmoid(float(self.evidence.logits(row)[0]))
        if self.constraint is not None and self.constraint_threshold > 0:
            pc = sigmoid(float(self.constraint.logits(row)[0]))
            p = min(p, pc * self.threshold / self.constraint_threshold)
        return p

    def as_dict(self) -> dict:
        d = {
            "unit": self.unit.as_dict(),
            "evidence": self.evidence.as_dict(),
            "threshold": round(self.threshold, 4),
            "margin": round(self.margin, 4),
            "card": self.card,
        }
        if self.constraint is not None:
            d["constraint"] = self.constraint.as_dict()
            d["constraint_threshold"] = round(self.constraint_threshold, 6)
        for name, model in (("join_before", self.join_before), ("join_after", self.join_after)):
            if model is not None:
                d[name] = model.as_dict()
        if self.join_before is not None or self.join_after is not None:
            d["join_threshold"] = round(self.join_threshold, 4)
        return d

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
            unit=_model_from_dict(d["unit"], UNIT_FEATURES),
            evidence=_model_from_dict(d["evidence"], EVIDENCE_FEATURES),
            threshold=float(d.get("threshold", 0.5)),
            margin=float(d.get("margin", 1.0)),
            card=d.get("card", {}),
            constraint=_model_from_dict(d["constraint"], EVIDENCE_FEATURES) if d.get("constraint") else None,
            constraint_threshold=float(d.get("constraint_threshold", 0.0)),
            join_before=Linear.from_dict(d["join_before"], JOIN_FEATURES) if d.get("join_before") else None,
            join_after=Linear.from_dict(d["join_after"], JOIN_FEATURES) if d.get("join_after") else None,
            join_threshold=float(d.get("join_threshold", 1.0)),
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
