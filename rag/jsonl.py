"""Read JSON Lines files with errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path


def read_jsonl(path: Path, error: type[Exception]) -> list[tuple[int, dict]]:
    """``(line number, object)`` for every non-blank line of ``path``; ``error`` is raised, naming
    the file (and line), for text that is not UTF-8, a line that is not JSON or not an object."""
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not UTF-8 text ({exc.reason}).") from exc
    out = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{path}:{n}: not JSON ({exc.msg}).") from exc
        if not isinstance(item, dict):
            raise error(f"{path}:{n}: each line must be a JSON object.")
        out.append((n, item))
    return out
