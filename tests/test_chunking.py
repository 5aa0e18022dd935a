from rag.chunking import ChunkSettings, chunk_article
from rag.documents import Article


def char_count(text: str) -> int:
    return len(text)


def make_article(text: str) -> Article:
    return Article(id="p-01", file="p.txt", title=text.split("\n")[0], text=text)


TEXT = "标题\n" + "".join(f"第{i}句话讲了一件事情。" for i in range(40))


def test_every_chunk_equals_its_span_in_the_article():
    article = make_article(TEXT)
    for c in chunk_article(article, char_count, ChunkSettings(max_tokens=50, overlap_sentences=1)):
        assert c.text == article.text[c.start : c.end]


def test_chunks_stay_under_the_token_budget():
    chunks = chunk_article(make_article(TEXT), char_count, ChunkSettings(max_tokens=50))
    assert chunks and all(len(c.text) <= 50 for c in chunks)


def test_chunks_end_on_sentence_boundaries():
    chunks = chunk_article(make_article(TEXT), char_count, ChunkSettings(max_tokens=50))
    assert all(c.text.endswith(("。", "标题")) for c in chunks)


def test_consecutive_chunks_overlap_by_one_sentence():
    chunks = chunk_article(make_article(TEXT), char_count, ChunkSettings(max_tokens=50, overlap_sentences=1))
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end  # the last sentence of a opens b
        assert article_sentence_at(b) in a.text


def article_sentence_at(chunk) -> str:
    return chunk.text.split("。")[0] + "。"


def test_chunks_cover_the_whole_article():
    article = make_article(TEXT)
    chunks = chunk_article(article, char_count, ChunkSettings(max_tokens=50))
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(article.text) if not ch.isspace())


def test_a_sentence_longer_than_the_cap_is_cut_into_pieces_that_fit():
    long = "标题\n" + "，".join(["很长的分句"] * 60) + "。"
    article = make_article(long)
    chunks = chunk_article(article, char_count, ChunkSettings(max_tokens=40))
    assert all(len(c.text) <= 40 for c in chunks)
    assert all(c.text == article.text[c.start : c.end] for c in chunks)


def test_a_sentence_without_clause_marks_is_cut_by_characters():
    article = make_article("标题\n" + "字" * 500)
    chunks = chunk_article(article, char_count, ChunkSettings(max_tokens=64))
    assert all(len(c.text) <= 64 for c in chunks)
    assert sum(c.text.count("字") for c in chunks) >= 500


def test_chunk_ids_are_stable_and_name_the_article():
    a = chunk_article(make_article(TEXT), char_count, ChunkSettings(max_tokens=50))
    b = chunk_article(make_article(TEXT), char_count, ChunkSettings(max_tokens=50))
    assert [c.id for c in a] == [c.id for c in b]
    assert all(c.id.startswith("p-01:") for c in a)


def test_model_tokenizer_caps_real_corpus_chunks(minilm):
    text = "标题\n" + "重庆是制造重镇，“制造强市”已成为重庆的响亮名片。" * 60
    chunks = chunk_article(make_article(text), minilm.count_tokens, ChunkSettings(max_tokens=120))
    assert all(minilm.count_tokens(c.text) <= 120 for c in chunks)
