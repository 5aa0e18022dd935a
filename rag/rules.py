"""The hand rules that remain beside the learned reader, as named data: each can be switched off
(``YUWEN_RULES_OFF=name,name`` or :func:`disabled`), and ``benchmarks/ablation.py`` switches each
off in turn to show what it is worth on sets of 1 000+ questions."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class Rule:
    """One hand rule: its name, what it does, and where its worth was measured."""

    name: str
    what: str
    measured: str = "benchmarks/ablation.py"


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("sub_questions", "a question asking two things (…？…？, A和B分别…) is split; each part is retrieved on "
             "its own and answered by its own best unit; when every part's evidence passes, so does the whole's",
             measured="benchmarks/two_questions.py and benchmarks/two_articles.py (1 000 built two-part and "
             "two-article questions per set; the large sets hold none, so benchmarks/ablation.py sees no change)"),
        Rule("antecedent_readings", "a later part's (or a follow-up's) 它/其 or missing subject is read as each of up "
             "to three noun phrases of the part (or question) before, the subject first; the reading whose evidence "
             "is likeliest is kept",
             measured="benchmarks/two_questions.py --pronoun (built 「A？它…？」 questions and the same as two turns; "
             "the large sets hold none)"),
        Rule("several_articles", "a 分别/两篇 question also takes the best unit of each close article",
             measured="benchmarks/two_articles.py (1 000 built 「A和B分别…」 questions per set: no change, "
             "sub_questions answers them; kept for 两篇 questions that name no items, which no set here holds)"),
        Rule("list_items", "a list question (哪些, 哪几个方面) takes the 一是…二是… items of the best unit's paragraph, "
             "or the article's parallel section leads"),
        Rule("semicolon_list", "a list question whose best unit ends in 「；」 takes the rest of that sentence's items"),
        Rule("lead_continuation", "the sentence after a chosen paragraph lead joins it"),
        Rule("neighbour_join", "the sentence before or after the best unit joins the answer when the reader's "
             "fitted join model says it holds the answer (the best unit names the thing, its neighbour states the fact)"),
        Rule("quantity_needed", "a 多少+measure-word question is declined when no unit states a number in that unit"),
        Rule("hard_anchors", "numbers, Latin names and 《titles》 of the question must stand in some passage"),
        Rule("frame_conflict", "a date or number of the question that no passage states, while a passage fills "
             "its frame (the two characters beside it in the question) with another value (第九届新秀… asked, "
             "第一届新秀… stated), declines with an honest partial answer",
             measured="rag eval --bench DIR --near-miss with YUWEN_RULES_OFF=frame_conflict (the twins are what it "
                      "acts on; benchmarks/ablation.py asks none)"),
        Rule("frame_words", "words about the article rather than its content (文章, 作者, 论述, 方面, 报道…) are left out "
             "of the question's words when units and evidence are matched"),
        Rule("english_dense", "an English question's evidence probability is read from the best passage's cosine alone "
             "(sigmoid(60·(cos − 0.74))): the fitting sets hold no English questions, and words do not match across "
             "languages", measured="no English set of 1 000 questions exists here; kept for English support"),
        Rule("author_note", "a question about the author (作者, 单位, 哪所大学) is answered by the author note of a "
             "retrieved article and is not declined when one is among the candidates", measured="the large sets hold "
             "no author notes; kept for news articles, which end with one"),
        Rule("answer_shape", "the reader is told whether a unit has the shape the question asks for (a cause word "
             "for 为什么, a number in the asked measure word for 多少公里, an ordinal for 第几, a means for 如何)"),
        Rule("partial_answer", "on-topic evidence that lacks a constraint of the question is shown as an honest "
             "partial answer (a refusal that says what the articles do state)",
             measured="benchmarks/partial_answers.py (the near-miss twins of drcd_dev and cmrc2018: what the "
             "reworded refusal names and shows; it changes no refusal, so benchmarks/ablation.py sees nothing)"),
        *(Rule(name, what, measured="benchmarks/followup_ablation.py on benchmarks/conversations.jsonl (116 turns "
               "written with the rewriter, so not an unseen set; no conversation set of 1 000 turns exists here)")
          for name, what in (
              ("followup_correction", "a follow-up 「不是A，是B」 / 「我是说B」 / \"no, I meant B\" corrects the previous "
               "standalone question"),
              ("followup_ordinal", "「第二个」 / \"the second one\" is the n-th item of the previous answer's list"),
              ("followup_ellipsis", "「那X呢？」 / \"what about X?\": X replaces the thing of its kind in the previous "
               "standalone question, else is asked of its topic"),
              ("followup_pronoun", "它/该X/其/其中/他/他们/this/it/they in a short follow-up stand for the previous topic "
               "(or the person named)"),
              ("followup_subjectless", "a short follow-up that opens with its predicate (「同比增长了多少？」, "
               "\"and how many …?\") takes the previous topic as its subject"),
          )),
        Rule("numbers_in_source", "a generated sentence with a number its passage does not state is not supported by "
             "that passage, whatever its other support signals", measured="benchmarks/verifier_calibration.py"),
    )
}

_forced_off: set[str] = set()


def _env_off() -> set[str]:
    return {n.strip() for n in os.environ.get("YUWEN_RULES_OFF", "").split(",") if n.strip()}


def rule_on(name: str) -> bool:
    """Whether the rule ``name`` applies (every rule does unless switched off)."""
    if name not in RULES:
        raise KeyError(f"unknown rule '{name}': the rules are {', '.join(RULES)}")
    return name not in _forced_off and name not in _env_off()


def unknown_rules() -> list[str]:
    """Names in YUWEN_RULES_OFF that are no rule (a typo would otherwise switch nothing off)."""
    return sorted(_env_off() - set(RULES))


@contextmanager
def disabled(*names: str) -> Iterator[None]:
    """Switch rules off inside a ``with`` block (tests and the ablation)."""
    for n in names:
        rule_on(n)  # raises on an unknown name
    before = set(_forced_off)
    _forced_off.update(names)
    try:
        yield
    finally:
        _forced_off.clear()
        _forced_off.update(before)
