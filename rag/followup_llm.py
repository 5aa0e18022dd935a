"""Follow-ups rewritten by a language model, checked against the conversation.

When a chat model is configured it reads the recent turns and writes the follow-up as a
standalone question. A model may invent: every name, number, place and quoted term in its
rewrite must occur in the conversation (the earlier questions, their answers, the new question),
or the deterministic rewrite (:mod:`rag.followup`) is used instead, with the reason in the log
and on the answer (``Answer.rewrite_note``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from .chat import ChatError, ChatModel, Message
from .followup import MAX_TURN_CHARS, History, _person, _PLACE_EN_RE, _PLACE_ZH_RE, _tokens, rewrite
from .questions import is_english

log = logging.getLogger(__name__)

TURNS_SHOWN = 3  # earlier turns the model reads
ANSWER_CHARS = 300  # of each earlier answer
REWRITE_TOKENS = 120

SYSTEM = (
    "你把对话中用户的最后一个问题改写成一个独立、完整的问题，使它不看对话也能理解。"
    "只用对话里出现过的名称、地点、数字和时间来补全代词、省略（“那X呢”）、序数（“第二个”）和更正（“不是A，是B”）；"
    "不要回答问题，不要添加对话中没有的信息；问题已经完整时原样返回。用问题本身的语言，只输出改写后的问题，一行。\n"
    "Rewrite the user's last question as one standalone question, in its own language, using only names, "
    "places, numbers and dates from the conversation. Do not answer it. Output only the question, on one line."
)


@dataclass(frozen=True)
class LLMRewrite:
    """The rewrite used, who wrote it, and why the model's was not used (when it was not)."""

    text: str
    by: str  # "llm" or "rules"
    note: str = ""
    readings: tuple[str, ...] = ()  # the rules' other readings of a pronoun (see rag.followup.Rewrite)


def _pairs(history: History) -> list[tuple[str, str]]:
    """The turns as (question, answer) strings, whatever shape they came in."""
    out = []
    for item in history or ():
        item = tuple(item or ())
        if item and str(item[0] or "").strip():
            out.append((str(item[0])[:MAX_TURN_CHARS], str(item[1] or "")[:MAX_TURN_CHARS] if len(item) > 1 else ""))
    return out


def build_messages(question: str, history: History) -> list[Message]:
    """The prompt: the recent turns (answers shortened, citation markers removed) and the question."""
    lines = []
    for item in _pairs(history)[-TURNS_SHOWN:]:
        q, a = item[0], item[1] if len(item) > 1 else ""
        a = re.sub(r"\s*\[\d{1,3}\]", "", a or "").strip()
        a = a if len(a) <= ANSWER_CHARS else a[:ANSWER_CHARS] + "…"
        lines.append(f"用户：{q.strip()}")
        if a:
            lines.append(f"助手：{a}")
    convo = "\n".join(lines)
    user = f"对话 / Conversation:\n{convo}\n\n最后的问题 / Last question:\n{question.strip()}\n\n改写 / Standalone question:"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def _norm(text: str) -> str:
    return re.sub(r"[\s“”\"'‘’《》「」()（）]", "", text).lower()


def entities(text: str) -> list[str]:
    """The names, numbers, places and quoted terms of ``text`` that a rewrite must not invent."""
    found: list[str] = []
    found += re.findall(r"\d+(?:\.\d+)?", text)
    found += re.findall(r"[“\"《「]([^”\"》」]{1,30})[”\"》」]", text)
    if is_english(text):
        found += [m.group(0) for m in _PLACE_EN_RE.finditer(text)]
        words = re.findall(r"\b[A-Z][\w'-]*\b", text)
        found += [w for w in words[1:] if w.lower() not in ("i", "what", "which", "who", "how", "when", "where")]
    else:
        found += [m.group(0) for m in _PLACE_ZH_RE.finditer(text)]
        found += [w for w, flag in _tokens(text) if flag in ("ns", "nr", "nt", "nz", "eng") and len(w) >= 2]
        person = _person(text)
        found += [person] if person else []
        found += re.findall(r"[A-Za-z][A-Za-z0-9·.-]*", text)
    return list(dict.fromkeys(x.strip() for x in found if x.strip()))


def unsupported(rewritten: str, question: str, history: History) -> list[str]:
    """The entities of ``rewritten`` that neither ``question`` nor the history holds."""
    source = _norm(question + "\n" + "\n".join(f"{q}\n{a}" for q, a in _pairs(history)))
    return [e for e in entities(rewritten) if _norm(e) not in source]


def _clean_reply(reply: str) -> str:
    text = reply.strip().splitlines()[0].strip() if reply.strip() else ""
    text = re.sub(r"^(?:改写|独立问题|standalone question|rewritten question|question)\s*[:：]\s*", "", text, flags=re.I)
    return text.strip().strip("\"'“”「」")


def rewrite_with_llm(question: str, history: History, model: ChatModel) -> LLMRewrite:
    """The model's standalone form of ``question``, if it passes the entity check; else the
    deterministic rewrite, with the reason."""
    history = _pairs(history)
    rules = rewrite(question, history).text

    def fallback(why: str) -> LLMRewrite:
        log.warning("follow-up rewrite: %s; the rule-based rewrite is used", why)
        return LLMRewrite(rules, "rules", f"{why}; the rule-based rewrite was used")

    try:
        reply = "".join(model.stream(build_messages(question, history), max_tokens=REWRITE_TOKENS, temperature=0.0))
    except ChatError as exc:
        return fallback(f"the language model could not rewrite the follow-up ({exc})")
    except Exception as exc:  # a backend bug must not cost the reader an answer
        log.exception("chat model %s failed while rewriting", getattr(model, "name", "?"))
        return fallback(f"the language model failed while rewriting ({type(exc).__name__})")
    text = _clean_reply(reply)
    if not text:
        return fallback("the language model's rewrite was empty")
    limit = max(80, 3 * (len(question) + len(rules)))
    if len(text) > limit:
        return fallback(f"the language model's rewrite was {len(text)} characters long")
    invented = unsupported(text, question, history)
    if invented:
        shown = "、".join(invented[:3])
        return fallback(f"the language model's rewrite 「{text[:80]}」 names {shown}, which the conversation does not")
    if text != question.strip():
        log.info("follow-up rewritten by %s: %r -> %r", getattr(model, "name", "llm"), question, text)
    return LLMRewrite(text, "llm")


def standalone(question: str, history: History, use_llm: bool = False, llm: str | ChatModel | None = None) -> LLMRewrite:
    """The follow-up as searched: by the configured language model when ``use_llm`` (``llm``
    names it; default ``YUWEN_LLM``), checked, else by the rules."""
    if not use_llm:
        done = rewrite(question, history)
        return LLMRewrite(done.text, "rules", readings=done.readings)
    from .chat import load_chat_model

    try:
        model = llm if llm is not None and not isinstance(llm, str) else load_chat_model(llm)
    except ChatError as exc:
        text = rewrite(question, history).text
        return LLMRewrite(text, "rules", f"no language model to rewrite the follow-up ({exc}); the rule-based rewrite was used")
    return rewrite_with_llm(question, history, model)
