"""Pages uploaded from the web app: safe names, nothing overwritten, one line for what is refused."""

from __future__ import annotations

from pathlib import Path

from ui.uploads import safe_name, save_uploads

PAGE = "临江区新建图书馆开馆\n\n■记者 王五\n\n新馆藏书30万册。\n"


def _file(folder: Path, name: str, data: bytes | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


def test_names_lose_folders_hidden_dots_and_underscores():
    assert safe_name("../../etc/passwd.txt") == "passwd.txt"
    assert safe_name("C:\\Users\\me\\新闻 稿_01.TXT") == "新闻-稿-01.txt"
    assert safe_name(".hidden.md") == "hidden.md"
    assert safe_name("a<b>|c?.txt") == "abc.txt"


def test_a_page_is_saved_into_the_corpus(tmp_path):
    src = _file(tmp_path / "up", "library.txt", PAGE)
    result = save_uploads([src], tmp_path / "corpus")
    assert result.saved == [tmp_path / "corpus" / "library.txt"] and not result.refused
    assert (tmp_path / "corpus" / "library.txt").read_text("utf-8") == PAGE


def test_a_different_page_of_the_same_name_is_saved_beside_it_never_over_it(tmp_path):
    corpus = tmp_path / "corpus"
    _file(corpus, "library.txt", "原来的页面\n\n正文。\n")
    result = save_uploads([_file(tmp_path / "up", "library.txt", PAGE)], corpus)
    assert result.saved == [corpus / "library-2.txt"]
    assert "saved as library-2.txt" in result.notes[0]
    assert (corpus / "library.txt").read_text("utf-8") == "原来的页面\n\n正文。\n"


def test_the_same_page_twice_is_saved_once(tmp_path):
    corpus = tmp_path / "corpus"
    src = _file(tmp_path / "up", "library.txt", PAGE)
    save_uploads([src], corpus)
    again = save_uploads([src], corpus)
    assert again.saved == [] and "already in the corpus" in again.notes[0]


def test_a_name_whose_id_prefix_is_taken_is_renamed(tmp_path):
    corpus = tmp_path / "corpus"
    _file(corpus, "000_existing.txt", "别的页面\n\n正文。\n")
    result = save_uploads([_file(tmp_path / "up", "000.txt", PAGE)], corpus)
    assert result.saved == [corpus / "000-2.txt"]


def test_refusals_are_one_line_each_and_save_nothing(tmp_path):
    up = tmp_path / "up"
    files = [_file(up, "scan.pdf", b"%PDF-1.4"), _file(up, "empty.txt", b"  \n"), _file(up, "big.txt", "字" * 2000),
             _file(up, "binary.md", bytes(range(256)) * 8)]
    result = save_uploads(files, tmp_path / "corpus", max_bytes=3000)
    assert result.saved == []
    assert len(result.refused) == 4 and all("\n" not in line for line in result.refused)
    joined = " ".join(result.refused)
    assert "only .txt and .md" in joined and "empty" in joined and "limit" in joined
    assert list((tmp_path / "corpus").iterdir()) == []


def test_a_gb18030_page_is_accepted_as_indexing_reads_it(tmp_path):
    src = _file(tmp_path / "up", "gbk.txt", PAGE.encode("gb18030"))
    result = save_uploads([src], tmp_path / "corpus")
    assert result.saved and result.saved[0].read_bytes() == PAGE.encode("gb18030"), "saved as given; ingest decodes it"


def test_progress_names_passages_and_sentences_with_the_counts_the_status_shows(mini_corpus: Path, tmp_path: Path):
    import re

    from ui.app import EngineHolder

    holder = EngineHolder(None, tmp_path / "index", mini_corpus, embedder="minilm")
    seen: list[str] = []
    engine = holder.rebuild(lambda f, m: seen.append(m))
    status = engine.status()
    counts = [re.search(r"embedded (\d+) of (\d+) texts \((\d+) passages \+ (\d+) answer sentences\)", m) for m in seen]
    last = [m for m in counts if m][-1]
    done, total, passages, sentences = map(int, last.groups())
    assert done == total == passages + sentences
    assert passages == status["chunks"], "a full build embeds every passage the status counts"


def test_uploaded_pages_are_indexed_incrementally(mini_corpus: Path, tmp_path: Path):
    from ui.app import EngineHolder

    holder = EngineHolder(None, tmp_path / "index", mini_corpus, embedder="minilm")
    holder.rebuild()
    saved = save_uploads([_file(tmp_path / "up", "library.txt", PAGE)], mini_corpus).saved
    manifest = holder.add(saved)
    assert manifest.update["kept"] == 2 and len(manifest.update["added"]) == 1, "the other pages keep their vectors"
    engine = holder.get()
    assert engine.status()["articles"] == 3
    assert any(a.title == "临江区新建图书馆开馆" for a in engine.articles())
