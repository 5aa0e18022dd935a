"""Where yuwen keeps what it derives once and reuses: converted models, benchmark indexes, dictionaries."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$YUWEN_CACHE``, else ``~/.cache/yuwen``."""
    root = os.environ.get("YUWEN_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "yuwen"
