"""Scoring answer sentences by their context: the subject their headline names, and the work a
question names. (Lexical scoring only: no embedder, so each test isolates one rule.)"""

from __future__ import annotations

from rag.answer import AnswerPolicy, _candidates, _score
from rag.documents import Article, Chunk
from rag.questions import analyse
from rag.retrieve import Hit


def scores(question: str, docs: list[tuple[str, str]], policy: AnswerPolicy = AnswerPolicy()) -> dict[str, float]:
    """Each candidate sentence's score when ``docs`` ((title, text) each) are the retrieved passages."""
    articles, hits = {}, []
    for i, (title, text) in enumerate(docs):
        a = Article(id=f"a{i}", file=f"{i}.txt", title=title, byline="", text=text, note="", segments=[(0, len(text), 1)])
        articles[a.id] = a
        chunk = Chunk(id=f"a{i}:000", article_id=a.id, title=title, file=a.file, start=0, end=len(text), text=text)
        hits.append(Hit(row=i, chunk=chunk, score=1.0))
    sentences = _candidates(hits, articles, with_notes=False)
    _score(analyse(question), sentences, hits, None, lambda t: 1.0, policy, None, None)
    return {s.text: s.score for s in sentences}


# The other person's passage is ranked first, so that rank alone would favour it.
CAO = [
    ("刘墉", "刘墉以书法闻名，后来出任《三通》馆总裁官。"),
    ("曹文埴", "乾隆二十五年考中进士，授编修。后来出任《四库全书》总裁官。"),
]


def test_a_sentence_that_leaves_its_subject_to_the_headline_outscores_another_persons():
    s = scores("曹文埴出任过什么书的总裁官？", CAO)
    assert s["后来出任《四库全书》总裁官。"] > s["刘墉以书法闻名，后来出任《三通》馆总裁官。"]


def test_without_title_context_the_other_persons_sentence_would_win():
    s = scores("曹文埴出任过什么书的总裁官？", CAO, AnswerPolicy(title_weight=0.0))
    assert s["后来出任《四库全书》总裁官。"] <= s["刘墉以书法闻名，后来出任《三通》馆总裁官。"]


def test_a_named_work_keeps_the_answer_to_passages_that_mention_it():
    off, on = "本书作者详细介绍了高拱的生平。", "《长眠不醒》的作者雷蒙·钱德勒生于芝加哥。"
    docs = [("高拱传", off), ("长眠不醒", on)]  # the other book ranked first
    without = scores("《长眠不醒》的作者是谁？", docs, AnswerPolicy(off_topic_penalty=0.0))
    assert without[off] > without[on], "on words and rank alone the other book's sentence wins"
    with_penalty = scores("《长眠不醒》的作者是谁？", docs)
    assert with_penalty[on] > with_penalty[off]
