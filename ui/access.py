"""Who may change state through the web app (re-index, upload, settings that touch the index).

The interface shared by the page and the server: handlers that change state call
:func:`refuse_write` with their ``gr.Request`` and stop with its message when it returns one.
Until credentials are configured (``--auth user:pass`` / ``YUWEN_AUTH``), writes are allowed,
which is only safe on loopback (``serve`` enforces that)."""

from __future__ import annotations

from typing import Any


def refuse_write(request: Any | None) -> str | None:
    """``None`` when ``request`` may change state, else the one line that says why not."""
    return None
