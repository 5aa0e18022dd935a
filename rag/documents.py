"""The records that flow through the pipeline: source articles and the passages cut from them."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass
class Article:
    """One article recovered from a source page.

    ``text`` is the clean article as a reader sees it (title, byline, body paragraphs, author
    note, joined by newlines); ``title``/``byline``/``note`` repeat those parts as metadata.
    ``segments`` maps every character range of ``text`` back to the 1-based source line it came
    from, as sorted, non-overlapping ``(start, end, line)`` triples.
    """

    id: str
    file: str
    title: str
    text: str
    byline: str = ""
    note: str = ""
    title_inferred: bool = False
    segments: list[tuple[int, int, int]] = field(default_factory=list)

    def lines_for(self, start: int, end: int) -> tuple[int, int]:
        """First and last source line covered by ``text[start:end]`` (0, 0 when unmapped)."""
        if not self.segments:
            return (0, 0)
        starts = [s[0] for s in self.segments]
        i = max(0, bisect.bisect_right(starts, start) - 1)
        j = max(0, bisect.bisect_left(starts, max(start, end - 1) + 1) - 1)
        lines = [line for _, _, line in self.segments[i : j + 1]]
        return (min(lines), max(lines)) if lines else (0, 0)


@dataclass
class Chunk:
    """A passage of one article: ``text == article.text[start:end]``."""

    id: str
    article_id: str
    title: str
    file: str
    start: int
    end: int
    text: str
    ordinal: int = 0
    byline: str = ""

    def embed_text(self) -> str:
        """What the embedder and BM25 see: the passage under its article's title and byline, so
        that a passage far from its headline still says what and whose article it is from."""
        head = self.title + (f"（{self.byline}）" if self.byline else "")
        if self.text.startswith(self.title):
            return self.text
        return f"{head}\n{self.text}"
