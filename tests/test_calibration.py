"""The expected calibration error of benchmarks/calibration.py, on toy data worked out by hand."""

from __future__ import annotations


import pytest

from tests.conftest import benchmark_script

calibration = benchmark_script("calibration")


def test_perfectly_calibrated_toy_data_gives_zero():
    # bin [0.2, 0.3): four at 0.25, one label 1; bin [0.7, 0.8): four at 0.75, three label 1;
    # 0.0 and 1.0 sit in the first and last bins with the labels they predict.
    probabilities = [0.25] * 4 + [0.75] * 4 + [0.0, 1.0]
    labels = [1, 0, 0, 0] + [1, 1, 1, 0] + [0, 1]
    assert calibration.expected_calibration_error(probabilities, labels) == pytest.approx(0.0, abs=1e-12)


def test_overconfident_toy_data_gives_the_value_worked_out_by_hand():
    # bin [0.9, 1.0]: five at 0.9, three label 1 -> gap |0.9 - 0.6| = 0.3, weight 5/10;
    # bin [0.1, 0.2): five at 0.1, none label 1 -> gap |0.1 - 0.0| = 0.1, weight 5/10.
    # ECE = 0.5 * 0.3 + 0.5 * 0.1 = 0.2
    probabilities = [0.9] * 5 + [0.1] * 5
    labels = [1, 1, 1, 0, 0] + [0] * 5
    assert calibration.expected_calibration_error(probabilities, labels) == pytest.approx(0.2)
    # Brier: (3 * 0.01 + 2 * 0.81 + 5 * 0.01) / 10 = 0.17
    assert calibration.brier_score(probabilities, labels) == pytest.approx(0.17)


def test_bins_weigh_by_count_and_mismatched_inputs_are_refused():
    # One bin holds 8 items at 0.55 all label 1 (gap 0.45), another 2 at 0.35 both label 1 (gap 0.65):
    # ECE = 0.8 * 0.45 + 0.2 * 0.65 = 0.49
    probabilities = [0.55] * 8 + [0.35] * 2
    labels = [True] * 10
    assert calibration.expected_calibration_error(probabilities, labels) == pytest.approx(0.49)
    table = calibration.reliability_bins(probabilities, labels)
    assert [b["n"] for b in table] == [0, 0, 0, 2, 0, 8, 0, 0, 0, 0]
    with pytest.raises(ValueError):
        calibration.expected_calibration_error([0.5, 0.5], [1])


def test_the_calibration_reads_normal_and_hidden_gold_outcomes_and_leaves_near_miss_twins_apart():
    p, labels, counts = calibration.select([
        {"confidence": 0.9},
        {"confidence": 0.2, "hidden": True},
        {"confidence": 0.7, "hidden": True, "still_answerable": True},
        {"confidence": 0.6, "near_miss": "time"},
    ])
    assert (p, labels) == ([0.9, 0.2], [1, 0])
    assert counts["near_miss"] == 1 and counts["hidden_still_answerable"] == 1
