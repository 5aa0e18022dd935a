"""The committed reader scores a unit in its context: the subject its article's title names, and
the work a question names. (No embedder: the lexical and context features alone decide.)"""

from __future__ import annotations

from rag.answer import load_reader
from rag.answer.evidence import gather
from rag.documents import Article, Chunk
from rag.questions import analyse
from rag.retrieve import Hit


class FlatIdf:
    """Every word equally specific."""

    max_idf = 1.0

    def __call__(self, token: str) -> float:
        return 1.0


def scores(question: str, docs: list[tuple[str, str]]) -> dict[str, float]:
    """Each candidate unit's score when ``docs`` ((title, text) each) are the retrieved passages, in order."""
    articles, hits = {}, []
    for i, (title, text) in enumerate(docs):
        full = f"{title}\n{text}"
        a = Article(id=f"a{i}", file=f"{i}.txt", title=title, text=full, segments=[(0, len(full), 1)])
        articles[a.id] = a
        chunk = Chunk(id=f"a{i}:000", article_id=a.id, title=title, file=a.file, start=0, end=len(full), text=full)
        hits.append(Hit(row=i, chunk=chunk, score=1.0))
    ev = gather(question, analyse(question), hits, articles, None, FlatIdf(), load_reader())
    return {u.text: u.score for u in ev.units}


def test_a_unit_that_leaves_its_subject_to_the_title_outscores_another_persons_ranked_first():
    s = scores("孟元直后来出任过什么馆的总纂官？", [
        ("江怀远", "江怀远以诗文闻名，后来出任国史馆总纂官。"),
        ("孟元直", "嘉庆五年考中进士，授编修。后来出任实录馆总纂官。"),
    ])
    assert s["后来出任实录馆总纂官。"] > s["江怀远以诗文闻名，后来出任国史馆总纂官。"]


def test_a_named_work_keeps_the_answer_to_the_passage_that_mentions_it():
    off, on = "本书作者详细介绍了一位清代官员的生平。", "《远山的回声》的作者林见深生于杭州。"
    s = scores("《远山的回声》的作者是谁？", [("清代官员传", off), ("远山的回声", on)])
    assert s[on] > s[off]
