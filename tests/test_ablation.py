"""benchmarks/ablation.py: the table's arithmetic on recorded runs (the runs themselves are measured, not tested)."""

from __future__ import annotations

from tests.conftest import benchmark_script

ablation = benchmark_script("ablation")

ON = {"answer_hit": 0.88, "false_refusal_rate": 0.05, "citation_precision": 0.96, "answer_chars_p50": 60,
      "hidden_refusal_accuracy": 0.87, "hidden_n": 100, "still_answered": 0.2}


def test_a_rule_that_moves_only_the_twins_is_shown_as_gaining_something():
    runs = {"set": {"all_on": {**ON, "near_miss_refusal_accuracy": 0.82, "near_miss_n": 50},
                    "off": {"r": {**ON, "near_miss_refusal_accuracy": 0.80, "near_miss_n": 50}}}}
    assert ablation.compute_deltas(runs, ["r"])["r"]["set"]["near_miss_refusal_accuracy"] == -0.02
    assert ablation.gains_nothing(runs, "r") is False


def test_runs_without_twins_are_compared_on_the_usual_figures_alone():
    runs = {"set": {"all_on": dict(ON), "off": {"r": dict(ON)}}}
    assert "near_miss_refusal_accuracy" not in ablation.compute_deltas(runs, ["r"])["r"]["set"]
    assert ablation.gains_nothing(runs, "r") is True
