"""The question-vector cache: a question and its sub-questions are encoded in one batch, and
nothing is encoded twice."""

from __future__ import annotations

import numpy as np

from rag.embedders import Embedder, query_vector, query_vectors


class CountingModel:
    """Stands in for a sentence-transformers model: a vector from each text's length, and a log
    of the batches it was asked to encode."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def encode(self, texts, **_):
        self.batches.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def _embedder() -> tuple[Embedder, CountingModel]:
    model = CountingModel()
    return Embedder(id="counting", model=model), model


def test_uncached_questions_are_encoded_in_one_batch_in_order():
    query_vector.cache_clear()
    e, model = _embedder()
    vecs = query_vectors(e, ["甲乙丙", "甲", "甲乙"])
    assert model.batches == [["甲乙丙", "甲", "甲乙"]]
    assert [round(float(v[0] / v[1]), 3) for v in vecs] == [3.0, 1.0, 2.0]


def test_a_cached_question_is_not_encoded_again():
    query_vector.cache_clear()
    e, model = _embedder()
    first = query_vector(e, "甲乙")
    again = query_vectors(e, ["甲乙", "丙"])
    assert model.batches == [["甲乙"], ["丙"]]
    assert np.array_equal(first, again[0])


def test_a_question_asked_twice_in_one_call_is_encoded_once():
    query_vector.cache_clear()
    e, model = _embedder()
    a, b = query_vectors(e, ["甲", "甲"])
    assert model.batches == [["甲"]] and np.array_equal(a, b)


def test_clearing_the_cache_encodes_again():
    query_vector.cache_clear()
    e, model = _embedder()
    query_vector(e, "甲")
    query_vector.cache_clear()
    query_vector(e, "甲")
    assert model.batches == [["甲"], ["甲"]]


def test_each_embedder_has_its_own_vectors():
    query_vector.cache_clear()
    e1, m1 = _embedder()
    e2, m2 = _embedder()
    query_vector(e1, "甲")
    query_vector(e2, "甲")
    assert m1.batches == [["甲"]] and m2.batches == [["甲"]]
