"""Checking a generated answer sentence by sentence against the passages it cites.

Each sentence is scored against every passage the model was shown, by a logistic model over
support signals: the share of the sentence's characters inside character pairs and Latin words
that the passage also holds, the share of its characters found anywhere in the passage, the best cosine between the sentence and one of the passage's sentences, whether every
number of the sentence stands in the passage, and the share of its names (places, organisations,
people, titles) that do. The weights and the threshold are fitted by
``benchmarks/verifier_calibration.py`` on DRCD (``rag/answer/verifier.json``). Then: citation
numbers that point at no passage are dropped, a sentence whose cited passages do not support it
is moved to the passage that does, and a sentence no passage supports is marked unsupported.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from ..questions import constraints_of, is_english
from ..rules import rule_on
from .features import bigrams, normalise

PARAMS_FILE = Path(__file__).with_name("verifier.json")
FEATURES = ("lexical", "chars", "dense", "numbers", "names")

_OPEN = str.maketrans({"【": "[", "［": "[", "】": "]", "］": "]"})
_MARKS = re.compile(r"\[\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*\]")
_END = re.compile(r"(?:[。！？!?]+|(?<!\d)\.(?=\s|$))[”’」』）)\"']*|\n+")
_LEAD_MARKS = re.compile(r"^\s*((?:\[\s*\d{1,3}(?:\s*[,，、]\s*\d{1,3})*\s*\]\s*)+)")
_LATIN = re.compile(r"[A-Za-z][A-Za-z\-]+|\d+(?:\.\d+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME_KINDS = frozenset({"place", "org", "person", "name"})


@dataclass(frozen=True)
class VerifierParams:
    """A fitted support model: logistic weights per feature set, and the probability threshold."""

    weights: dict[str, list[float]]  # "full": every feature of FEATURES; "cross": all but lexical and chars
    bias: dict[str, float]
    threshold: float
    card: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str = PARAMS_FILE) -> "VerifierParams":
        data = json.loads(Path(path).read_text("utf-8"))
        return cls(data["weights"], data["bias"], float(data["threshold"]), data.get("card", {}))

    def save(self, path: Path | str = PARAMS_FILE) -> Path:
        path = Path(path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n", "utf-8")
        tmp.replace(path)
        return path

    def probability(self, f: dict[str, float], model: str) -> float:
        names = FEATURES if model == "full" else FEATURES[2:]
        z = self.bias[model] + sum(w * f[n] for w, n in zip(self.weights[model], names))
        return 1.0 / (1.0 + math.exp(-z))


@lru_cache(maxsize=1)
def default_params() -> VerifierParams:
    return VerifierParams.load()


@dataclass
class Claim:
    """A sentence of the reply and the passage numbers it cites."""

    text: str
    cited: list[int]


@dataclass
class Passage:
    """A shown passage as the verifier reads it: its number, text, sentences and their vectors."""

    n: int
    text: str
    sentences: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, text) in the article
    vectors: np.ndarray | None = None  # one unit vector per sentence


@dataclass
class SentenceCheck:
    """One sentence of a generated answer, as checked: what it cites and whether that supports it."""

    text: str
    cited: list[int]  # passage numbers (as shown to the model) after the fixes
    supported: bool
    score: float  # probability that its best cited passage supports it
    dropped: list[int] = field(default_factory=list)  # citation numbers that pointed at no passage
    moved_from: list[int] = field(default_factory=list)  # cited passages that did not support it
    best: int | None = None  # the passage that supports it best
    source: int | None = None  # the cited passage that supports it best (its sentence is ``span``)
    span: tuple[int, int] | None = None  # the best passage sentence (article span), for highlights


def split_claims(reply: str) -> list[Claim]:
    """The sentences of ``reply`` with the [n] markers each carries (markers after the end mark
    belong to the sentence before; 【1】, ［1］ and [1, 2] are read too)."""
    text = reply.translate(_OPEN)
    pieces: list[str] = []
    pos = 0
    for m in _END.finditer(text):
        pieces.append(text[pos:m.end()])
        pos = m.end()
    pieces.append(text[pos:])
    claims: list[Claim] = []
    for piece in pieces:
        lead = _LEAD_MARKS.match(piece)
        if lead and claims:
            claims[-1].cited.extend(_numbers(lead.group(1)))
            piece = piece[lead.end():]
        cited = _numbers(piece)
        sentence = " ".join(_MARKS.sub(" ", piece).split()).strip()
        sentence = re.sub(r"\s+([。！？，；：.,!?;:])", r"\1", sentence)
        if len(re.sub(r"[\W_]+", "", sentence)) < 2:
            if claims and cited:
                claims[-1].cited.extend(cited)
            continue
        claims.append(Claim(sentence, cited))
    for c in claims:
        c.cited = list(dict.fromkeys(c.cited))
    return claims


def _numbers(text: str) -> list[int]:
    return [int(x) for m in _MARKS.finditer(text) for x in re.split(r"\s*[,，、]\s*", m.group(1))]


def grams(text: str) -> frozenset[str]:
    """Character pairs of the Chinese runs and the Latin words and numbers of ``text``."""
    return bigrams(text) | frozenset(w.lower() for w in _LATIN.findall(text))


def coverage(sentence: str, passage: str) -> float:
    """Share of the sentence's characters (letters, digits, Chinese characters; not punctuation)
    inside a character pair or a Latin word that the passage also holds: how much of the
    sentence comes from the passage. Repeating a few of its words does not raise it."""
    pairs = bigrams(passage)
    words = {w.lower() for w in _LATIN.findall(passage)}
    covered = [False] * len(sentence)
    for i in range(len(sentence) - 1):
        if sentence[i:i + 2] in pairs:
            covered[i] = covered[i + 1] = True
    for m in _LATIN.finditer(sentence):
        if m.group(0).lower() in words:
            covered[m.start():m.end()] = [True] * (m.end() - m.start())
    content = [i for i, ch in enumerate(sentence) if _content(ch)]
    return sum(covered[i] for i in content) / len(content) if content else 0.0


def char_share(sentence: str, passage: str) -> float:
    """Share of the sentence's characters that occur anywhere in the passage (a paraphrase that
    reorders or rewords keeps most of its characters; a new fact brings new ones)."""
    chars = set(passage.lower())
    content = [ch for ch in sentence.lower() if _content(ch)]
    return sum(ch in chars for ch in content) / len(content) if content else 0.0


def _content(ch: str) -> bool:
    return ch.isalnum() or "\u4e00" <= ch <= "\u9fff" or ch == "\ufffd" or (ch.isprintable() is False and not ch.isspace())


def support_features(sentence: str, passage: str, dense: float) -> dict[str, float]:
    """The support signals of ``passage`` for ``sentence`` (``dense``: best sentence cosine)."""
    lexical = coverage(sentence, passage)
    flat = normalise(passage)
    stated = {n.replace(",", "") for n in _NUMBER.findall(flat)}
    numbers_ok = float(all(n.replace(",", "") in stated for n in _NUMBER.findall(sentence)))
    names = [c.text for c in constraints_of(sentence) if c.kind in _NAME_KINDS]
    names_share = sum(normalise(n) in flat for n in names) / len(names) if names else 1.0
    return {"lexical": lexical, "chars": char_share(sentence, passage), "dense": dense, "numbers": numbers_ok,
            "names": names_share}


def _dense(vector: np.ndarray | None, p: Passage) -> tuple[float, int | None]:
    if vector is None or p.vectors is None or not len(p.vectors):
        return 0.0, None
    sims = p.vectors @ vector
    j = int(np.argmax(sims))
    return float(sims[j]), j


def score(sentence: str, p: Passage, vector: np.ndarray | None, params: VerifierParams) -> tuple[float, int | None]:
    """Probability that ``p`` supports ``sentence``, and the index of its best-matching sentence."""
    dense, j = _dense(vector, p)
    f = support_features(sentence, p.text, dense)
    model = "cross" if is_english(sentence) and not is_english(p.text) else "full"
    prob = params.probability(f, model)
    if rule_on("numbers_in_source") and not f["numbers"]:
        prob = min(prob, params.threshold * 0.5)  # a number the passage does not state is not supported by it
    if j is None and p.sentences:  # no vectors: the sentence sharing the most pairs
        g = grams(sentence)
        j = max(range(len(p.sentences)), key=lambda k: len(g & grams(p.sentences[k][2])))
    return prob, j


def verify(
    claims: Sequence[Claim],
    passages: Sequence[Passage],
    vectors: np.ndarray | None = None,
    params: VerifierParams | None = None,
) -> list[SentenceCheck]:
    """Each claim checked against the passages (``vectors``: one unit vector per claim, or None)."""
    params = params or default_params()
    by_n = {p.n: p for p in passages}
    checks = []
    for i, claim in enumerate(claims):
        v = None if vectors is None else vectors[i]
        scored = {p.n: score(claim.text, p, v, params) for p in passages}
        dropped = [n for n in claim.cited if n not in by_n]
        cited = [n for n in claim.cited if n in by_n]
        good = [n for n in cited if scored[n][0] >= params.threshold]
        best = max(scored, key=lambda n: scored[n][0]) if scored else None
        if good:
            kept, supported, moved = good, True, [n for n in cited if n not in good]
        elif best is not None and scored[best][0] >= params.threshold:
            kept, supported, moved = [best], True, cited
        else:
            kept, supported, moved = cited, False, []
        top = max(kept, key=lambda n: scored[n][0]) if kept else best
        prob = scored[top][0] if top is not None else 0.0
        span = None
        if top is not None and scored[top][1] is not None and by_n[top].sentences:
            s, e, _ = by_n[top].sentences[scored[top][1]]
            span = (s, e)
        checks.append(SentenceCheck(claim.text, kept, supported, round(prob, 4), dropped, moved, best, top, span))
    return checks
