"""The default answer backend: the passages' own units, chosen by the learned reader, each
followed by its citation ``[n]``; or a refusal, honest about what the articles do say."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ..documents import Article
from ..retrieve import Hit
from ..rules import rule_on
from .evidence import Evidence, stated_instead
from .features import Unit, normalise
from .frames import FrameConflict, frame_conflict
from .neighbours import join_row, neighbour
from .types import Answer, Citation

REFUSAL_ZH = "资料中没有找到与该问题直接相关的内容。以下是最接近的段落，仅供参考："
REFUSAL_EN = "The articles do not contain an answer to this question. The closest passages are listed below for reference."

_KIND_ZH = {"time": "年份或时段", "place": "地区", "org": "机构", "person": "人物", "number": "数字或序次", "name": "名称"}
_KIND_EN = {"time": "year or period", "place": "place", "org": "organisation", "person": "person",
            "number": "number", "name": "name"}
_ENUM = re.compile(r"^(?:[一二三四五六七八九十]是|第[一二三四五六七八九十]|首先|其次|再次|最后|[（(]?[一二三四五六七八九十\d][)）、.])")


@dataclass(frozen=True)
class AnswerPolicy:
    """How many units an answer may hold."""

    max_sentences: int = 3
    max_chars: int = 320
    list_sentences: int = 6
    list_chars: int = 640
    several_articles: int = 3  # articles a 分别/两篇 question may draw its answer from


def citation(n: int, hit: Hit, articles: dict[str, Article], highlights: list[tuple[int, int]]) -> Citation:
    """Citation ``n`` of ``hit``, its span grown to cover highlights outside the passage (an author note)."""
    c = hit.chunk
    article = articles.get(c.article_id)
    start = min([c.start] + [s for s, _ in highlights])
    end = max([c.end] + [e for _, e in highlights])
    lines = article.lines_for(start, end) if article else (0, 0)
    passage = article.text[start:end] if article else c.text
    return Citation(
        n=n, chunk_id=c.id, article_id=c.article_id, title=c.title, byline=article.byline if article else "",
        file=c.file, line_start=lines[0], line_end=lines[1], passage=passage, start=start, end=end,
        highlights=sorted(highlights), score=hit.score,
    )


def decline(ev: Evidence, reason: str | None = None, conflict: FrameConflict | None = None) -> Answer:
    """The refusal: an honest partial answer when the passages are on topic but lack a constraint
    of the question (``conflict``: what a passage states in its place), else the plain refusal;
    the nearest passages are its sources."""
    reason = ev.reason if reason is None else reason
    partial = None
    if rule_on("partial_answer"):
        partial = _conflict_partial(ev, conflict) if conflict is not None else _partial(ev)
    if partial is not None:
        text, unit = partial
        cites = [citation(i + 1, h, ev.articles, [(unit.start, unit.end)] if i == unit.hit else [])
                 for i, h in enumerate(ev.hits)]
        return Answer(ev.question, ev.question, text, True, cites, round(ev.probability, 4), reason, partial=True)
    nearest = [citation(i + 1, h, ev.articles, []) for i, h in enumerate(ev.hits)]
    text = REFUSAL_EN if ev.kind.english else REFUSAL_ZH
    return Answer(ev.question, ev.question, text, True, nearest, round(ev.probability, 4), reason)


def _partial_text(ev: Evidence, c, instead: Sequence[str], unit: Unit) -> str:
    n = unit.hit + 1
    if ev.kind.english:
        return (f"The articles give no figure for {c.text} ({_KIND_EN[c.kind]} asked about); what they state is "
                f"for {', '.join(instead)}: {unit.text}[{n}]")
    return f"资料没有给出“{c.text}”的相关信息（所问{_KIND_ZH[c.kind]}）；文中给出的是“{'、'.join(instead)}”的：{unit.text}[{n}]"


def _conflict_partial(ev: Evidence, conflict: FrameConflict) -> tuple[str, Unit] | None:
    """The partial answer of a frame conflict: the unit stating the other value."""
    hit = ev.hits[conflict.hit].chunk
    at = hit.start + conflict.start
    unit = next((u for u in ev.units if u.article_id == hit.article_id and u.start <= at < u.end), None)
    if unit is None:
        return None
    return _partial_text(ev, conflict.asked, [conflict.stated], unit), unit


def frame_conflict_of(ev: Evidence) -> FrameConflict | None:
    """A date or number of the question that no passage states, whose frame a passage fills with
    another value (:func:`~rag.answer.frames.frame_conflict`)."""
    if not ev.missing:
        return None
    texts = [h.chunk.text for h in ev.hits]
    normalised = [normalise(t) for t in texts]
    unstated = [c for c in ev.missing if not any(normalise(c.text) in t for t in normalised)]
    return frame_conflict(ev.kind.text, unstated, texts)


def _partial(ev: Evidence) -> tuple[str, Unit] | None:
    """「资料没有给出〈2023年〉的数字；文中给出的是〈2024年〉的：…[n]」 when the best unit states,
    in place of a missing constraint, another of its kind (another year, another district)."""
    best = ev.best
    if best is None or not ev.missing:
        return None
    for c in ev.missing:
        if c.kind not in _KIND_ZH:
            continue
        instead = stated_instead(c, best)
        if not instead:
            continue
        return _partial_text(ev, c, instead, best), best
    return None


def answer(ev: Evidence, policy: AnswerPolicy = AnswerPolicy(), threshold: float = 0.5, margin: float = 1.0,
           reader=None) -> Answer:
    """The extractive answer to the evidence (or its refusal); ``reader`` (a fitted
    :class:`~rag.answer.reader.Reader`) lets its neighbour-join models add the best unit's neighbour."""
    if not ev.hits or not ev.units:
        return decline(ev, ev.reason or "the passages hold no sentence that could answer")
    kind = ev.kind
    notes = [u for u in ev.units if u.note] if kind.about_author and rule_on("author_note") else []
    if ev.probability < threshold and not notes:
        return decline(ev)
    if rule_on("hard_anchors") and kind.anchors:
        texts = [normalise(h.chunk.embed_text()) for h in ev.hits]
        missing = [a for a in kind.anchors if not any(normalise(a) in t for t in texts)]
        if missing:
            return decline(ev, f"no passage mentions {', '.join(missing)}")
    if rule_on("frame_conflict"):
        conflict = frame_conflict_of(ev)
        if conflict is not None:
            return decline(ev, f"a passage states {conflict.stated} where the question asks {conflict.asked.text}",
                           conflict)
    chosen = select(ev, policy, margin, reader)
    if not chosen:
        return decline(ev, f"no passage states a quantity in {kind.unit}")
    return compose(ev, chosen)


def compose(ev: Evidence, chosen: Sequence[Unit]) -> Answer:
    """The chosen units in the order the articles tell them, each followed by its citation."""
    first_use: dict[str, int] = {}
    for u in sorted(chosen, key=lambda u: -u.score):
        first_use.setdefault(u.article_id, len(first_use))
    ordered = sorted(chosen, key=lambda u: (first_use[u.article_id], u.start))
    numbers: dict[int, int] = {}
    highlights: dict[int, list[tuple[int, int]]] = {}
    pieces = []
    for u in ordered:
        n = numbers.setdefault(u.hit, len(numbers) + 1)
        highlights.setdefault(u.hit, []).append((u.start, u.end))
        pieces.append(f"{u.text}[{n}]")
    cites = [citation(n, ev.hits[i], ev.articles, highlights[i]) for i, n in sorted(numbers.items(), key=lambda kv: kv[1])]
    joiner = " " if ev.kind.english else ""
    return Answer(ev.question, ev.question, joiner.join(pieces), False, cites, round(ev.probability, 4))


def select(ev: Evidence, policy: AnswerPolicy, margin: float, reader=None) -> list[Unit]:
    """The units of the answer: the best, the best of each sub-question, the items of a list, the
    best of each close article for 分别/两篇, then others within ``margin`` of the best (logits)
    while the length budget lasts, then the best unit's neighbours that ``reader``'s join models
    say hold the answer. Empty when a quantity question finds no unit stating one."""
    kind = ev.kind
    ranked = ev.units
    best = ranked[0]
    wide = kind.wants_list or kind.wants_several or bool(ev.part_best)
    limit = policy.list_sentences if wide else policy.max_sentences
    budget = policy.list_chars if wide else policy.max_chars
    chosen: list[Unit] = []

    def take(u: Unit) -> None:
        if all(u is not c for c in chosen):
            chosen.append(u)

    if kind.unit_pattern and rule_on("quantity_needed"):
        top_articles = set(list(dict.fromkeys(h.chunk.article_id for h in ev.hits))[:2])
        stating = [u for u in ranked if kind.unit_pattern.search(u.text) and u.article_id in top_articles]
        if not stating:
            return []
        if stating[0].score >= best.score - margin:
            best = stating[0]
    notes = [u for u in ranked if u.note] if kind.about_author and rule_on("author_note") else []
    if notes:
        best = notes[0]
        for u in notes[1:] if kind.wants_several else ():
            take(u)
    take(best)
    if rule_on("sub_questions"):
        for u in ev.part_best:
            take(u)
    if kind.wants_several and rule_on("several_articles"):
        best_of: dict[str, Unit] = {}
        for u in ranked:
            best_of.setdefault(u.article_id, u)
        for u in list(best_of.values())[1 : policy.several_articles]:
            if u.score >= best.score - margin:
                take(u)
    if kind.wants_list:
        if rule_on("semicolon_list"):
            for u in _semicolon_items(best, ranked):
                take(u)
        if rule_on("list_items"):
            for u in _list_items(kind, best, ranked, policy, margin):
                take(u)
    used = sum(len(u.text) for u in chosen)
    for u in ranked:
        if len(chosen) >= limit or u.score < best.score - margin:
            break
        if used + len(u.text) <= budget and all(u is not c for c in chosen):
            take(u)
            used += len(u.text)
    if not kind.wants_list and rule_on("lead_continuation"):
        chosen += _continuations(chosen, ranked, budget - used)
        used = sum(len(u.text) for u in chosen)
    if reader is not None and rule_on("neighbour_join"):
        chosen += _joined(reader, best, chosen, ranked, kind.wants != "other", budget - used)
    return chosen


def _joined(reader, best: Unit, chosen: list[Unit], units: Sequence[Unit], wants_kind: bool, room: int) -> list[Unit]:
    """The sentences just before and after ``best`` that the reader's join models say hold the answer."""
    out: list[Unit] = []
    for step in (-1, 1):
        nb = neighbour(best, units, step)
        if nb is None or len(nb.text) > room or any(nb is c for c in chosen):
            continue
        if reader.join_probability(join_row(best, nb, wants_kind), step) >= reader.join_threshold:
            out.append(nb)
            room -= len(nb.text)
    return out


def _semicolon_items(best: Unit, units: Sequence[Unit]) -> list[Unit]:
    """The items after ``best`` of a list the article prints in one sentence, separated by 「；」."""
    if not best.text.rstrip().endswith(("；", ";")):
        return []
    by_order = {u.order: u for u in units if u.article_id == best.article_id}
    out, n = [], best.order + 1
    while n in by_order:
        out.append(by_order[n])
        if not by_order[n].text.rstrip().endswith(("；", ";")):
            break
        n += 1
    return out


def _continuations(chosen: list[Unit], units: Sequence[Unit], room: int) -> list[Unit]:
    """The unit after each chosen paragraph lead: a heading says what, the sentence after it how."""
    out: list[Unit] = []
    for lead in [u for u in chosen if u.lead]:
        nxt = next((u for u in units if u.article_id == lead.article_id and u.order == lead.order + 1), None)
        if nxt is None or nxt.lead or len(nxt.text) > room or any(nxt is c for c in chosen + out):
            continue
        out.append(nxt)
        room -= len(nxt.text)
    return out


def _list_items(kind, best: Unit, units: Sequence[Unit], policy: AnswerPolicy, margin: float) -> list[Unit]:
    """For a question that asks for several items: the enumeration (一是…二是…) of the best unit's
    paragraph, or the parallel paragraph leads of its article (the first paragraph excepted)."""
    article = sorted((u for u in units if u.article_id == best.article_id), key=lambda u: u.order)
    if not article:
        return []
    para = [u for u in article if _same_paragraph(best, u, article)]
    enum = [u for u in para if u is not best and _ENUM.search(u.text)]
    leads = [u for u in article if u.lead and u.order > article[0].order and u is not best]
    if len(enum) >= 2 and not kind.wants_aspects:
        return enum[: policy.list_sentences - 1]
    if (kind.wants_sections or best.lead) and len(leads) >= 2 and sum(u.score >= best.score - 2 * margin for u in leads) >= 2:
        return leads[: policy.list_sentences - 1]
    if len(enum) >= 2:
        return enum[: policy.list_sentences - 1]
    return []


def _same_paragraph(a: Unit, b: Unit, article: list[Unit]) -> bool:
    """Whether no paragraph lead stands between the two units."""
    lo, hi = sorted((a.start, b.start))
    return not any(u.lead and lo < u.start <= hi for u in article)
