"""The neighbour-join model's inputs: the sentence before or after the best unit, read the same way
at fitting and at answering time."""

from __future__ import annotations

from rag.answer.features import UNIT_FEATURES, Unit
from rag.answer.neighbours import JOIN_FEATURES, join_row, neighbour, opener


def _unit(text: str, order: int, article: str = "a-01", score: float = 0.0) -> Unit:
    return Unit(hit=0, article_id=article, start=10 * order, end=10 * order + len(text), text=text, order=order,
                score=score, features=[0.0] * len(UNIT_FEATURES))


def test_a_sentence_opening_with_a_pronoun_is_told_apart_from_one_opening_with_a_name():
    assert opener("它是全市最大的工厂。") == "r"
    assert opener("西区建成一座智能工厂。") != "r"


def test_the_neighbour_is_the_next_or_previous_unit_of_the_same_article_only():
    units = [_unit("甲。", 0), _unit("乙。", 1), _unit("丙。", 2), _unit("丁。", 3, article="b-01")]
    assert neighbour(units[1], units, -1) is units[0]
    assert neighbour(units[1], units, 1) is units[2]
    assert neighbour(units[2], units, 1) is None  # order 3 belongs to another article


def test_a_join_row_has_one_value_per_join_feature_and_reads_the_score_gap():
    best, nb = _unit("它是全市最大的工厂。", 1, score=2.0), _unit("西区建成一座智能工厂。", 0, score=0.5)
    row = join_row(best, nb, wants_kind=True)
    assert row.shape == (len(JOIN_FEATURES),)
    assert row[JOIN_FEATURES.index("score_gap")] == -1.5
    assert row[JOIN_FEATURES.index("best_opens_r")] == 1.0
