"""An OpenAI-compatible face of the app: ``POST /v1/chat/completions`` (plain or streamed as
server-sent events) and ``GET /v1/models``, so that any OpenAI client (the ``openai`` SDK,
Open WebUI, Chatbox, LobeChat…) can use yuwen as a "model".

The last user message is the question, the earlier user/assistant pairs its history. The reply's
content is the cited answer with its sources as markdown footnotes; the typed reply
(:class:`rag.answer.reply.Reply`) rides along in the extra field ``yuwen`` (in the last chunk of a
stream). Errors come in OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``.

Streaming sends the role at once and the checked answer when it is ready: a language model's draft
is not streamed, because a sentence that the check rejects could not be taken back from a stream."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any, Callable, Iterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from rag.answer import Answer
from rag.answer.reply import Reply, history_pairs, to_reply
from rag.engine import QuestionError, check_k, check_question
from rag.retrieve import MODES

from .access import Guard
from .limits import Admission, Busy, RateLimit, client_of

log = logging.getLogger(__name__)

OWNER = "yuwen"
EXTRACTIVE_MODEL = "yuwen"  # the extractive answerer: always offered
LLM_MODEL = "yuwen-llm"  # the configured language model, each sentence checked: offered when one is configured
PING_SECONDS = 2.0  # an SSE comment this often while a language model writes, so that proxies keep the stream open


class ApiError(Exception):
    """An error as OpenAI clients expect it: an HTTP status and the error object."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.type, self.param, self.code = status, type_, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": str(self), "type": self.type, "param": self.param, "code": self.code}}


def models(llm_spec: str) -> dict[str, dict[str, str]]:
    """The models offered: name -> the answer settings it stands for."""
    out = {EXTRACTIVE_MODEL: {"backend": "extractive", "llm": ""}}
    if llm_spec:
        out[LLM_MODEL] = {"backend": "llm", "llm": llm_spec}
    return out


# --- requests -----------------------------------------------------------------------------------------------
def message_text(content: Any) -> str:
    """The text of a message's content: a string, or OpenAI's list of parts (its text parts joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") in ("text", None)
                       and isinstance(p.get("text", ""), str))
    raise ApiError(400, "a message's content must be text or a list of text parts", param="messages")


_FOOTNOTE_DEF = re.compile(r"^\[\^\d+\]:.*$", re.M)
_FOOTNOTE_REF = re.compile(r"\[\^(\d+)\]")


def strip_footnotes(text: str) -> str:
    """An earlier reply of ours as the history reads it: markers back to [n], the source list gone."""
    text = text.split(NEAREST_HEADING)[0]
    return _FOOTNOTE_REF.sub(r"[\1]", _FOOTNOTE_DEF.sub("", text)).strip()


def question_and_history(messages: Any) -> tuple[str, list[tuple[str, str]]]:
    """The last user message, and the (question, answer) pairs before it."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list of {role, content} objects", param="messages")
    turns: list[tuple[str, str]] = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ApiError(400, "each message must be an object with a role and a content", param="messages")
        turns.append((m["role"], message_text(m.get("content"))))
    last = max((i for i, (role, _) in enumerate(turns) if role == "user"), default=None)
    if last is None:
        raise ApiError(400, "messages hold no user message: the last user message is the question", param="messages")
    pairs: list[list[str]] = []
    for role, text in turns[:last]:
        if role == "user":
            pairs.append([text, ""])
        elif role == "assistant" and pairs and not pairs[-1][1]:
            pairs[-1][1] = strip_footnotes(text)
    return turns[last][1], history_pairs([tuple(p) for p in pairs])


# --- replies ------------------------------------------------------------------------------------------------
NEAREST_HEADING = "\n\n---\nNearest passages / 最相近的段落："


def _quote(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[:limit] + "…"
    return f"“{text}”" if text.isascii() else f"「{text}」"


def _where(s: dict) -> str:
    return f"**{s['title'] or s['file']}** — {s['file']}, lines {s['line_start']}–{s['line_end']}"


def markdown(reply: Reply) -> str:
    """The reply as chat clients show it: [n] markers as footnotes [^n], each footnote naming the
    article, its page and lines, and quoting the cited words; a refusal lists the nearest passages."""
    cited = {s["n"] for s in reply["citations"]}
    body = re.sub(r"\[(\d+)\]", lambda m: f"[^{m[1]}]" if int(m[1]) in cited else m[0], reply["text"])
    if reply["fallback_reason"]:
        body += f"\n\n*(The language model's answer is not given: {reply['fallback_reason']}. This is the extractive answer.)*"
    notes = [f"[^{s['n']}]: {_where(s)}: {_quote(s['quote'] or s['passage'])}" for s in reply["citations"]]
    out = body + ("\n\n" + "\n".join(notes) if notes else "")
    if reply["refused"] and reply["nearest"]:
        rows = [f"- {_where(s)}: {_quote(s['passage'], 120)}" for s in reply["nearest"]]
        out += NEAREST_HEADING + "\n" + "\n".join(rows)
    return out


def _pieces(text: str) -> list[str]:
    """The content in sentence-sized pieces for a stream (joined, they are the content)."""
    pieces = re.findall(r".*?(?:[。！？；!?;]|\n+|$)", text, flags=re.S)
    return [p for p in pieces if p]


# --- routes -------------------------------------------------------------------------------------------------
def openai_routes(
    holder: Any,
    llm_spec: Callable[[], str],
    rate: Callable[[], RateLimit],
    admission: Admission,
    guard: Guard | None = None,
) -> list:
    """The ``/v1`` routes over the app's engine holder (``holder.get()`` gives the engine).
    ``llm_spec()``: the configured language model ("" for none); ``rate()``: the per-client limit;
    ``guard``: when private, every call needs the API key ``USER:PASS``."""

    def check_key(request: Request) -> None:
        if guard is not None and guard.private and not guard.key_ok(request.headers.get("authorization")):
            raise ApiError(401, "This server is private: give the API key USER:PASS (the credentials of --auth).",
                           code="invalid_api_key")

    router = APIRouter(prefix="/v1")

    def error(exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    def model_card(name: str) -> dict:
        return {"id": name, "object": "model", "created": 0, "owned_by": OWNER}

    @router.get("/models")
    def list_models(request: Request):
        try:
            check_key(request)
        except ApiError as exc:
            return error(exc)
        return {"object": "list", "data": [model_card(m) for m in models(llm_spec())]}

    @router.get("/models/{name}")
    def get_model(name: str, request: Request):
        try:
            check_key(request)
            if name not in models(llm_spec()):
                raise _unknown_model(name, llm_spec())
        except ApiError as exc:
            return error(exc)
        return model_card(name)

    @router.post("/chat/completions")
    async def chat_completions(request: Request):
        try:
            check_key(request)
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ApiError(400, "the request body must be JSON") from None
            if not isinstance(body, dict):
                raise ApiError(400, "the request body must be a JSON object")
            job = _job(body, llm_spec())
            try:
                rate().take(client_of(request))
            except Busy as exc:
                raise ApiError(429, str(exc), "rate_limit_error", code="rate_limit_exceeded",
                               headers={"Retry-After": str(exc.retry_after)}) from None
            engine, problem = await run_in_threadpool(holder.try_get)  # the first call opens the index
            if engine is None:
                raise ApiError(503, problem, "server_error", code="index_unavailable")
            if body.get("stream"):
                if admission.full():
                    raise _busy(admission.busy())
                return StreamingResponse(_stream(engine, job, admission), media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            reply = await run_in_threadpool(_answer, engine, job, admission)
        except ApiError as exc:
            return error(exc)
        content = markdown(reply)
        return JSONResponse({
            "id": job["id"], "object": "chat.completion", "created": job["created"], "model": job["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "yuwen": reply,
        })

    return router.routes


def _unknown_model(name: str, llm_spec: str) -> ApiError:
    offered = ", ".join(models(llm_spec))
    hint = "" if llm_spec else f" ({LLM_MODEL} is offered once a language model is configured: serve --llm or YUWEN_LLM)"
    return ApiError(404, f"The model '{name}' does not exist here; this server offers {offered}{hint}.",
                    param="model", code="model_not_found")


def _busy(exc: Busy) -> ApiError:
    return ApiError(503, str(exc), "server_error", code="busy", headers={"Retry-After": str(exc.retry_after)})


def _job(body: dict, llm_spec: str) -> dict:
    """The question and its settings from a request body (ApiError for what is wrong with it)."""
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise ApiError(400, f"model is required: one of {', '.join(models(llm_spec))}", param="model")
    offered = models(llm_spec)
    if name not in offered:
        raise _unknown_model(name, llm_spec)
    question, history = question_and_history(body.get("messages"))
    try:
        question = check_question(question)
        k = check_k(body.get("k", 5))
    except QuestionError as exc:
        raise ApiError(400, str(exc), param="messages" if "question" in str(exc).lower() else "k") from None
    mode = body.get("mode", "hybrid")
    if mode not in MODES:
        raise ApiError(400, f"Unknown retrieval mode '{mode}': choose one of {', '.join(MODES)}.", param="mode")
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": name, "question": question,
            "history": history, "k": k, "mode": mode, **offered[name]}


def _ask_stream(engine: Any, job: dict) -> Iterator[str | Answer]:
    return engine.ask_stream(job["question"], k=job["k"], mode=job["mode"], backend=job["backend"],
                             history=job["history"] or None, llm=job["llm"] or None)


def _answer(engine: Any, job: dict, admission: Admission) -> Reply:
    try:
        with admission:
            final = None
            for item in _ask_stream(engine, job):
                if isinstance(item, Answer):
                    final = item
    except Busy as exc:
        raise _busy(exc) from None
    except QuestionError as exc:
        raise ApiError(400, str(exc), param="messages") from None
    except Exception as exc:  # a sentence for the client; the trace goes to the server log
        log.exception("/v1/chat/completions failed for %r", job["question"][:200])
        raise ApiError(500, f"Answering failed ({type(exc).__name__}); the details are in the server log.",
                       "server_error") from None
    assert final is not None
    return to_reply(final)


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _stream(engine: Any, job: dict, admission: Admission) -> Iterator[str]:
    """The completion as server-sent events: the role, the content in pieces, a last chunk with
    ``finish_reason`` and the typed reply, then ``[DONE]``."""
    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> dict:
        return {"id": job["id"], "object": "chat.completion.chunk", "created": job["created"], "model": job["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}

    yield _sse(chunk({"role": "assistant", "content": ""}))
    final: Answer | None = None
    try:
        with admission:
            pinged = time.monotonic()
            for item in _ask_stream(engine, job):
                if isinstance(item, Answer):
                    final = item
                    break
                if time.monotonic() - pinged >= PING_SECONDS:
                    pinged = time.monotonic()
                    yield ": checking the answer against its sources\n\n"
    except Busy as exc:
        yield _sse(_busy(exc).body())
        yield "data: [DONE]\n\n"
        return
    except Exception as exc:
        log.exception("/v1/chat/completions (stream) failed for %r", job["question"][:200])
        yield _sse(ApiError(500, f"Answering failed ({type(exc).__name__}); the details are in the server log.",
                            "server_error").body())
        yield "data: [DONE]\n\n"
        return
    assert final is not None
    reply = to_reply(final)
    for piece in _pieces(markdown(reply)):
        yield _sse(chunk({"content": piece}))
    yield _sse(chunk({}, "stop", yuwen=reply))
    yield "data: [DONE]\n\n"
