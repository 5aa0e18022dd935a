"""Whether the sentence just before (or after) the best unit joins the answer. Wikipedia and news
prose often name the thing in one sentence and state the fact about it in the next (「1603年家康创
立德川幕府。」 / 「为日本第二大汽车制造商，…」): the reader picks the sentence that matches the
question's words, and the answer stands in its neighbour. One small logistic model per direction,
fitted by ``rag train`` on which neighbour holds the answer when the best unit does not, reads the
features of :data:`JOIN_FEATURES`."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np

from .features import UNIT_FEATURES, Unit

# The unit features of the neighbour (and of the best unit) the join model reads.
_READ = ("dense", "lexical", "wanted_kind", "run_unit", "constraints_in_unit", "bigram", "shape_in_unit", "conflict",
         "quantity_in_unit")
# jieba's part-of-speech tags, by first letter, of a unit's first word: a sentence that opens with
# a pronoun (r), a verb with its subject left out (v), a conjunction (c) or an adverb (d) goes on
# from the one before it. The weights are fitted; the letters are jieba's tag set, not a word list.
_OPENERS = ("r", "v", "c", "d", "p", "n", "m", "t", "a", "u")

JOIN_FEATURES = (
    "score_gap",  # the neighbour's logit minus the best unit's
    *(f"nb_{n}" for n in _READ),
    *(f"best_{n}" for n in _READ),
    "wants_kind",  # the question asks for a kind of thing (谁, 哪一年, 哪里)
    *(f"best_opens_{t}" for t in _OPENERS),
    *(f"nb_opens_{t}" for t in _OPENERS),
    "nb_ends_clause",  # the neighbour ends in 「，；：」 (one sentence, cut into clauses)
    "best_ends_clause",
    "nb_log_chars",
    "nb_lead",  # the neighbour opens a paragraph
    "best_lead",
)

_COL = {n: i for i, n in enumerate(UNIT_FEATURES)}
_CLAUSE_END = ("，", "；", "：", ",", ";", ":")


@lru_cache(maxsize=65536)
def opener(text: str) -> str:
    """The first letter of jieba's part-of-speech tag of ``text``'s first word ('' for none)."""
    import jieba.posseg as pseg

    head = text.strip()[:8]
    for word, flag in pseg.lcut(head):
        if word.strip():
            return flag[:1]
    return ""


def join_row(best: Unit, nb: Unit, wants_kind: bool) -> np.ndarray:
    """The row of :data:`JOIN_FEATURES` for joining ``nb`` to ``best`` (both scored units)."""
    bo, no = opener(best.text), opener(nb.text)
    return np.array([
        nb.score - best.score,
        *(nb.features[_COL[n]] for n in _READ),
        *(best.features[_COL[n]] for n in _READ),
        float(wants_kind),
        *(float(bo == t) for t in _OPENERS),
        *(float(no == t) for t in _OPENERS),
        float(nb.text.rstrip().endswith(_CLAUSE_END)),
        float(best.text.rstrip().endswith(_CLAUSE_END)),
        math.log1p(len(nb.text)),
        float(nb.lead),
        float(best.lead),
    ], dtype=np.float64)


def neighbour(best: Unit, units: Sequence[Unit], step: int) -> Unit | None:
    """The candidate unit ``step`` places from ``best`` in its article (-1 before, +1 after)."""
    return next((u for u in units if u.article_id == best.article_id and u.order == best.order + step), None)
