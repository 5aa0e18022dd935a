"""Safe when shared: who may change state, where the app may be served, how much a client may ask."""

from __future__ import annotations

import base64

import pytest
from starlette.requests import Request

from rag.cli import main
from ui.access import COOKIE, REFUSED, AccessError, Credentials, Guard, check_exposure, credentials_from, is_loopback
from ui.limits import Admission, Busy, RateLimit, rate_from_env


def _request(guard: Guard | None, cookie: str = "", authorization: str = "") -> Request:
    """A real Starlette request as an app carrying ``guard`` receives it."""

    class App:
        yuwen_guard = guard

    headers = []
    if cookie:
        headers.append((b"cookie", f"{COOKIE}={cookie}".encode()))
    if authorization:
        headers.append((b"authorization", authorization.encode()))
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "app": App(),
                    "client": ("10.0.0.7", 5000), "query_string": b""})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]"])
def test_loopback_hosts_are_recognised(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "", "192.168.1.5", "::", "example.org"])
def test_other_hosts_are_not_loopback(host):
    assert not is_loopback(host)


def test_serving_beyond_loopback_without_credentials_is_refused_saying_why():
    with pytest.raises(AccessError, match="--auth USER:PASS"):
        check_exposure("0.0.0.0", None)
    check_exposure("0.0.0.0", Credentials("admin", "pw"))
    check_exposure("127.0.0.1", None)


def test_rag_serve_on_all_addresses_without_credentials_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("YUWEN_AUTH", raising=False)
    code = main(["serve", "--host", "0.0.0.0", "--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "index")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: refusing to serve on 0.0.0.0 without credentials") and "YUWEN_AUTH" in err
    assert not (tmp_path / "index").exists(), "nothing is built before the refusal"


def test_malformed_credentials_are_refused_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("YUWEN_AUTH", "no-colon")
    assert main(["serve", "--host", "0.0.0.0", "--index", str(tmp_path / "index")]) == 2
    assert "YUWEN_AUTH must be USER:PASSWORD" in capsys.readouterr().err


def test_credentials_come_from_the_option_else_the_environment(monkeypatch):
    monkeypatch.setenv("YUWEN_AUTH", "env:pw")
    assert credentials_from(None) == Credentials("env", "pw")
    assert credentials_from("cli:a:b") == Credentials("cli", "a:b")  # a password may hold colons
    monkeypatch.delenv("YUWEN_AUTH")
    assert credentials_from(None) is None


def test_without_credentials_writes_are_open():
    assert Guard().refuse(_request(Guard())) is None


def test_with_credentials_a_write_without_the_sign_in_cookie_is_refused():
    guard = Guard(Credentials("admin", "pw"))
    assert guard.refuse(_request(guard)) == REFUSED
    assert guard.refuse(_request(guard, cookie="forged")) == REFUSED


def test_basic_credentials_alone_do_not_allow_a_page_write():
    # The browser replays Basic credentials to any request, a forged cross-site one too; the
    # same-site cookie it does not.
    guard = Guard(Credentials("admin", "pw"))
    basic = "Basic " + base64.b64encode(b"admin:pw").decode()
    assert guard.refuse(_request(guard, authorization=basic)) == REFUSED


def test_with_credentials_a_write_with_the_sign_in_cookie_is_allowed():
    guard = Guard(Credentials("admin", "pw"))
    assert guard.refuse(_request(guard, cookie=guard.token())) is None


def test_a_cookie_of_another_server_run_is_refused():
    old, new = Guard(Credentials("admin", "pw")), Guard(Credentials("admin", "pw"))
    assert new.refuse(_request(new, cookie=old.token())) == REFUSED


@pytest.mark.parametrize("header,ok", [
    ("Basic " + base64.b64encode(b"admin:pw").decode(), True),
    ("Basic " + base64.b64encode(b"admin:wrong").decode(), False),
    ("Basic " + base64.b64encode(b"root:pw").decode(), False),
    ("Bearer admin:pw", False),
    ("Basic !!!", False),
])
def test_the_sign_in_checks_both_user_and_password(header, ok):
    assert Guard(Credentials("admin", "pw")).basic_ok(header) is ok


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limit_says_how_long_to_wait_then_lets_the_client_ask_again():
    clock = Clock()
    limit = RateLimit(2, clock=clock)
    limit.take("a")
    clock.now += 10
    limit.take("a")
    with pytest.raises(Busy) as info:
        limit.take("a")
    assert info.value.retry_after == 50 and "try again in 50 s" in str(info.value)
    limit.take("b")  # another client is not held up
    clock.now += 50
    limit.take("a")


def test_a_rate_of_zero_is_no_limit():
    limit = RateLimit(0)
    for _ in range(1000):
        limit.take("a")


def test_a_bad_rate_setting_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("YUWEN_RATE", "many")
    with pytest.raises(ValueError, match="YUWEN_RATE must be a whole number"):
        rate_from_env()
    monkeypatch.setenv("YUWEN_RATE", "20/min")
    assert rate_from_env() == 20


def test_admission_turns_away_what_the_workers_and_the_queue_cannot_hold():
    door = Admission(workers=1, queue=1)
    with door:
        door._inside += 1  # a second question waiting for the worker
        with pytest.raises(Busy, match="try again in 5 s"):
            with door:
                pass
        door._inside -= 1
    with door:  # free again
        pass


def test_refuse_write_reads_the_guard_of_the_app_that_received_the_request():
    from ui.access import refuse_write

    guard = Guard(Credentials("admin", "pw"))
    assert refuse_write(_request(guard)) == REFUSED
    assert refuse_write(_request(guard, cookie=guard.token())) is None
    assert refuse_write(_request(Guard())) is None
    assert refuse_write(None) is None  # a direct Python call: no web client at all


def test_private_serving_needs_credentials(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("YUWEN_AUTH", raising=False)
    with pytest.raises(AccessError, match="private serving needs credentials"):
        Guard(None, private=True)
    assert main(["serve", "--private", "--index", str(tmp_path / "index")]) == 2
    assert "private serving needs credentials" in capsys.readouterr().err


@pytest.mark.parametrize("header,ok", [
    ("Bearer admin:pw", True),
    ("Bearer admin:nope", False),
    ("Bearer sk-anything", False),
    ("Basic " + base64.b64encode(b"admin:pw").decode(), True),
    ("", False),
])
def test_an_api_client_gives_the_credentials_as_its_key(header, ok):
    assert Guard(Credentials("admin", "pw"), private=True).key_ok(header) is ok
