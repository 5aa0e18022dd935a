"""Property-based checks of ingest and the chunker over hostile text: random Unicode, control
characters, mixed encodings, very long lines, empty articles. Nothing raises; every character of
every article maps to its source line; no passage exceeds its budget."""

from __future__ import annotations

import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.chunking import ChunkSettings, chunk_article
from rag.documents import Article
from rag.ingest import IngestError, read_text, split_articles

PIECES = ["■记者 王五", "本报讯（记者 李四）", "（作者系某大学教授）", "| 项目 | 数量 |", "# 标题", "- 列表项",
          "临江区滨江大桥建成通车", "主桥全长1280米。", "“引号里的话。”", "……", "StarBot", "\t", " ", "\u3000"]
CHARS = st.characters(blacklist_categories=("Cs",))  # any code point a str can hold in a file
LINE = st.one_of(
    st.sampled_from(PIECES),
    st.text(alphabet=st.sampled_from("临江区大桥通车记者。，！？；：、（）“”0123456789 ab\u3000"), max_size=80),
    st.text(alphabet=CHARS, max_size=40),
    st.text(alphabet=st.sampled_from("长句子没有标点"), min_size=300, max_size=2000),  # a very long line
)
PAGE = st.lists(LINE, min_size=0, max_size=30).map("\n".join)
# Derandomised: CI sees the same examples every run (a failure is reproducible, never flaky).
FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _maps_to_its_lines(page: str, articles: list[Article]) -> None:
    lines = page.split("\n")
    for a in articles:
        for s, e, line in a.segments:
            assert 0 <= s <= e <= len(a.text) and 1 <= line <= len(lines)
            for ch in a.text[s:e]:
                if not ch.isspace():
                    assert ch in lines[line - 1], (ch, line, lines[line - 1])
        covered = {i for s, e, _ in a.segments for i in range(s, e)}
        assert all(i in covered for i, ch in enumerate(a.text) if not ch.isspace())


@FAST
@given(PAGE)
def test_every_character_of_every_article_maps_to_its_source_line(page):
    articles = split_articles(page, "p.txt")
    _maps_to_its_lines(page, articles)
    assert all(a.file == "p.txt" and a.id.startswith("p-") for a in articles)


@FAST
@given(PAGE)
def test_articles_hold_no_character_the_page_lacks(page):
    from collections import Counter

    have = Counter(ch for ch in page if not ch.isspace())
    got = Counter(ch for a in split_articles(page, "p.txt") for ch in a.text if not ch.isspace())
    extra = got - have
    assert not extra, extra


@FAST
@given(st.binary(max_size=3000))
def test_reading_arbitrary_bytes_gives_text_or_a_named_refusal(tmp_path_factory, data):
    path = Path(tmp_path_factory.mktemp("bytes")) / "x.txt"
    path.write_bytes(data)
    try:
        text = read_text(path)
    except IngestError as exc:
        assert "x.txt" in str(exc)
        return
    assert "\r" not in text and text.strip()


@FAST
@given(PAGE, st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]))
def test_a_page_in_any_supported_encoding_reads_back_the_same(tmp_path_factory, page, encoding):
    try:
        data = page.encode(encoding)
    except UnicodeEncodeError:
        return
    path = Path(tmp_path_factory.mktemp("enc")) / "x.txt"
    path.write_bytes(data)
    try:
        text = read_text(path)
    except IngestError:
        return  # empty, binary-looking or undecodable: refused by name, which is the other allowed outcome
    normalised = page.replace("\r\n", "\n").replace("\r", "\n")
    if encoding == "gb18030" and _also_utf8(data):
        return  # the same bytes are valid UTF-8 too, which is tried first
    assert text == normalised


def _also_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _count(text: str) -> int:
    return len(text.encode("utf-8")) // 3 + 2  # a stand-in tokenizer: roughly one token per CJK character


@FAST
@given(PAGE, st.integers(min_value=8, max_value=120), st.integers(min_value=0, max_value=2))
def test_passages_never_exceed_the_budget_and_quote_their_article(page, budget, overlap):
    cfg = ChunkSettings(max_tokens=budget, overlap_sentences=overlap)
    for a in split_articles(page, "p.txt") + [Article(id="e-01", file="e.txt", title="", text="")]:
        chunks = chunk_article(a, _count, cfg)
        for c in chunks:
            assert c.text == a.text[c.start:c.end] and c.text.strip()
            assert _count(c.text) <= budget or len(c.text) == 1
        kept = "".join(ch for c in chunks for ch in c.text)
        assert all(ch in kept for ch in a.text if not ch.isspace())


@FAST
@given(st.text(alphabet=st.sampled_from(string.ascii_letters + "，。 \n临江"), max_size=3000))
def test_one_huge_sentence_is_cut_to_fit(text):
    a = Article(id="x-01", file="x.txt", title="", text=text)
    for c in chunk_article(a, _count, ChunkSettings(max_tokens=20)):
        assert _count(c.text) <= 20 or len(c.text) == 1
