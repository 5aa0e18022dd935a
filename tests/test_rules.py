"""The hand rules are named data: each can be switched off by name, and a wrong name is an error."""

import pytest

from rag.rules import RULES, disabled, rule_on, unknown_rules


def test_every_rule_is_on_by_default():
    assert all(rule_on(name) for name in RULES)


def test_a_rule_switched_off_in_a_block_is_on_again_after_it():
    with disabled("semicolon_list"):
        assert not rule_on("semicolon_list") and rule_on("list_items")
    assert rule_on("semicolon_list")


def test_the_environment_switches_rules_off(monkeypatch):
    monkeypatch.setenv("YUWEN_RULES_OFF", "hard_anchors, partial_answer")
    assert not rule_on("hard_anchors") and not rule_on("partial_answer") and rule_on("sub_questions")


def test_an_unknown_rule_name_is_an_error_not_a_silent_no_op(monkeypatch):
    with pytest.raises(KeyError):
        rule_on("no_such_rule")
    monkeypatch.setenv("YUWEN_RULES_OFF", "hard_anchor")
    assert unknown_rules() == ["hard_anchor"]


def test_each_rule_says_what_it_does():
    assert all(r.what and r.name == name for name, r in RULES.items())
