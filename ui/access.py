"""Who may change state through the web app (re-index, upload, settings that touch the index).

The interface shared by the page and the server: handlers that change state call
:func:`refuse_write` with their ``gr.Request`` and stop with its message when it returns one.

Reading (the page, ``/ask``, ``/v1``) stays open unless the app is served private (``--private`` /
``YUWEN_PRIVATE=1``: Gradio's login before the page and ``/ask``, the API key ``USER:PASS`` on
``/v1``). Writing needs the credentials given with
``rag serve --auth USER:PASS`` (or ``YUWEN_AUTH``): a browser user opens ``/admin``, answers the
browser's own sign-in dialog (HTTP Basic), and gets a signed, HTTP-only, same-site cookie that the
page's requests then carry; ``/admin/logout`` drops it. Until credentials are configured, writes
are allowed, which is only safe on loopback: :func:`check_exposure` refuses anything else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from starlette.requests import HTTPConnection

log = logging.getLogger(__name__)

COOKIE = "yuwen-admin"
REFUSED = ("Re-indexing and uploading need the administrator's sign-in: open /admin on this server first. "
           "/ 重建索引与上传需要管理员登录：请先打开本站的 /admin。")


class AccessError(ValueError):
    """The server cannot be started safely as asked (one line saying why and what to do)."""


@dataclass(frozen=True)
class Credentials:
    """The one administrator account, from ``USER:PASS``."""

    user: str
    password: str = field(repr=False)

    @classmethod
    def parse(cls, spec: str, source: str = "--auth") -> "Credentials":
        user, sep, password = (spec or "").partition(":")
        if not sep or not user.strip() or not password:
            raise AccessError(f"{source} must be USER:PASSWORD (both non-empty), e.g. --auth admin:s3cret")
        return cls(user.strip(), password)

    def matches(self, user: str, password: str) -> bool:
        """Constant-time comparison of both parts."""
        ok_user = hmac.compare_digest(user.encode("utf-8", "surrogatepass"), self.user.encode("utf-8"))
        ok_pass = hmac.compare_digest(password.encode("utf-8", "surrogatepass"), self.password.encode("utf-8"))
        return ok_user and ok_pass


def credentials_from(auth: str | None = None) -> Credentials | None:
    """The credentials of ``auth`` (``USER:PASS``), else of ``YUWEN_AUTH``, else None."""
    if auth:
        return Credentials.parse(auth, "--auth")
    env = os.environ.get("YUWEN_AUTH", "").strip()
    return Credentials.parse(env, "YUWEN_AUTH") if env else None


def private_from_env() -> bool:
    """``YUWEN_PRIVATE`` set to 1/true/yes: reading needs the credentials too."""
    return os.environ.get("YUWEN_PRIVATE", "").strip().lower() in ("1", "true", "yes")


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host`` (127.0.0.0/8, ::1, localhost)."""
    h = (host or "").strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, credentials: Credentials | None) -> None:
    """AccessError when ``host`` is reachable from other machines and no credentials guard the writes."""
    if credentials is None and not is_loopback(host):
        raise AccessError(
            f"refusing to serve on {host or 'all addresses'} without credentials: anyone who can reach it could "
            "re-index or upload; give --auth USER:PASS (or set YUWEN_AUTH), or serve on 127.0.0.1"
        )


@dataclass
class Guard:
    """The access rules of one running app: the administrator's credentials and the cookie's key."""

    credentials: Credentials | None = None
    private: bool = False  # reading needs the credentials too (Gradio's login; /v1 the key USER:PASS)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def __post_init__(self) -> None:
        if self.private and self.credentials is None:
            raise AccessError("private serving needs credentials: give --auth USER:PASS (or set YUWEN_AUTH)")

    def key_ok(self, header: str | None) -> bool:
        """Whether an API client's ``Authorization`` carries the credentials: ``Bearer USER:PASS``
        (an OpenAI client's API key) or HTTP Basic."""
        if self.credentials is None or not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            user, sep, password = value.strip().partition(":")
            return bool(sep) and self.credentials.matches(user, password)
        return self.basic_ok(header)

    def token(self) -> str:
        """The cookie value that proves a sign-in (valid until the server restarts or the password changes)."""
        assert self.credentials is not None
        msg = f"{self.credentials.user}\0{self.credentials.password}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()

    def basic_ok(self, header: str | None) -> bool:
        """Whether an ``Authorization: Basic …`` header carries the credentials."""
        if self.credentials is None or not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return self.credentials.matches(user, password)

    def signed_in(self, cookies: Any) -> bool:
        if self.credentials is None:
            return False
        value = (cookies or {}).get(COOKIE) or ""
        return bool(value) and hmac.compare_digest(value, self.token())

    def refuse(self, request: Any | None) -> str | None:
        """``None`` when ``request`` may change state, else the line that says why not."""
        if self.credentials is None:
            return None
        if request is None:
            return REFUSED
        if getattr(request, "__dict__", {}).get("username"):  # signed in through Gradio's own login, where that is on
            return None
        conn = _connection(request)
        if conn is not None and self.signed_in(conn.cookies):
            return None
        return REFUSED


def _connection(request: Any | None) -> Any | None:
    """The Starlette request behind ``request`` (a ``gr.Request`` or a Starlette request itself)."""
    if isinstance(request, HTTPConnection):
        return request
    inner = getattr(request, "__dict__", {}).get("request")  # gr.Request forwards unknown names: read its own
    return inner if isinstance(inner, HTTPConnection) else None


def guard_of(request: Any | None) -> Guard | None:
    """The :class:`Guard` of the app that received ``request`` (None when it has none)."""
    conn = _connection(request)
    app = conn.scope.get("app") if conn is not None else None
    if app is None or not hasattr(app, "get_blocks"):
        return getattr(app, "yuwen_guard", None)
    try:
        return getattr(app.get_blocks(), "yuwen_guard", None)
    except Exception:  # an app not configured yet
        return None


def refuse_write(request: Any | None) -> str | None:
    """``None`` when ``request`` may change state, else the one line that says why not.

    Without credentials configured for the app that received it, every request may (loopback
    only, see :func:`check_exposure`). With them, the request must come from a signed-in
    administrator (the ``/admin`` cookie, or Gradio's login where that is on). ``None`` as the
    request (a direct Python call, no web client) may too when no app is configured."""
    if request is None:
        return None
    guard = guard_of(request)
    if guard is None:  # not received by an app served with launch() (a test's stand-in, a direct call)
        return None
    return guard.refuse(request)


def admin_routes(guard: Guard) -> list:
    """``GET /admin`` (sign in with the browser's HTTP Basic dialog; sets the cookie, back to the page)
    and ``GET /admin/logout``."""
    router = APIRouter()

    @router.get("/admin", include_in_schema=False)
    def sign_in(request: Request):
        if guard.credentials is None:
            return PlainTextResponse("No credentials are configured: this server (on loopback) lets everyone re-index. "
                                     "/ 未设置管理员账号。", status_code=200)
        if not guard.basic_ok(request.headers.get("authorization")):
            return PlainTextResponse("Sign in as the administrator to re-index and upload. / 请以管理员身份登录。",
                                     status_code=401, headers={"WWW-Authenticate": 'Basic realm="yuwen admin", charset="UTF-8"'})
        response = RedirectResponse("./", status_code=303)
        response.set_cookie(COOKIE, guard.token(), httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
        log.info("administrator signed in from %s", request.client.host if request.client else "?")
        return response

    @router.get("/admin/logout", include_in_schema=False)
    def sign_out():
        response = RedirectResponse("../", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return router.routes
