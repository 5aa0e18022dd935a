"""The index folder holds only what the index wrote, one writer at a time; hostile corpus entries are refused by name."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rag import store
from rag.cli import main
from rag.engine import Engine
from rag.indexing import build_index
from rag.ingest import list_corpus, load_corpus
from rag.store import IndexDamagedError
from rag.writelock import IndexBusyError, IndexWriteError, WriteLock

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def built(mini_corpus: Path, tmp_path: Path, minilm) -> Path:
    index = tmp_path / "index"
    build_index(mini_corpus, index, embedder="minilm")
    return index


def one_error_line(err: str) -> str:
    """The one ``error:`` line of a failed command's stderr (progress bars aside), checking there is no trace."""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _args(corpus: Path, index: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(index), "--embedder", "minilm"]


# --- nothing but our own builds is ever deleted ------------------------------------------------------


def test_a_users_build_folder_in_the_index_folder_survives_a_rebuild(built, mini_corpus):
    user = built / "build-output"
    user.mkdir()
    (user / "important.txt").write_text("data", "utf-8")
    build_index(mini_corpus, built, embedder="minilm", full=True)
    build_index(mini_corpus, built, embedder="minilm", full=True)
    assert (user / "important.txt").read_text("utf-8") == "data"


def test_a_folder_named_like_a_build_but_without_our_marker_survives(built, mini_corpus):
    lookalike = built / "build-20200101-000000-1-000001"
    lookalike.mkdir()
    (lookalike / "notes.txt").write_text("mine", "utf-8")
    build_index(mini_corpus, built, embedder="minilm", full=True)
    build_index(mini_corpus, built, embedder="minilm", full=True)
    assert (lookalike / "notes.txt").exists()


def test_leftovers_of_a_killed_build_are_removed_at_the_next_write(built, mini_corpus):
    live = store.live_build(built)
    partial = built / (store.new_build_name() + ".partial")
    partial.mkdir()
    (partial / store.MARKER).write_text(json.dumps({"yuwen": "build"}), "utf-8")
    orphan = built / "build-20200101-000000-2-000002"
    orphan.mkdir()
    (orphan / store.MARKER).write_text(json.dumps({"yuwen": "build"}), "utf-8")
    (mini_corpus / "c.txt").write_text("新闻标题\n\n■记者 甲\n\n临江区今天举行了植树活动，共种下树木三千棵。\n", "utf-8")
    build_index(mini_corpus, built, embedder="minilm")
    assert not partial.exists() and not orphan.exists()
    assert live.exists(), "the build the live one replaced is kept for readers that have not switched"


def test_the_index_folder_holds_only_current_lock_and_builds(built, mini_corpus):
    (mini_corpus / "a.txt").write_text((mini_corpus / "a.txt").read_text("utf-8").replace("1280米", "1300米"), "utf-8")
    build_index(mini_corpus, built, embedder="minilm")
    names = {p.name for p in built.iterdir()}
    assert names - {"CURRENT", "LOCK"} and all(n.startswith("build-") for n in names - {"CURRENT", "LOCK"})
    assert all((built / n / store.MARKER).is_file() for n in names - {"CURRENT", "LOCK"})


# --- CURRENT may only name a sibling build --------------------------------------------------------------


@pytest.mark.parametrize("content", ["/etc", "../outside", "build-x/../../etc", ""])
def test_current_naming_anything_but_a_sibling_build_is_refused(built, mini_corpus, content):
    (built / "CURRENT").write_text(content + "\n", "utf-8")
    with pytest.raises(IndexDamagedError, match="CURRENT"):
        Engine.open(built, mini_corpus, embedder="minilm")


def test_garbled_current_is_one_line_on_the_command_line(built, mini_corpus, capsys):
    (built / "CURRENT").write_bytes(b"\xff\xfe\x00garbage\x9c")
    assert main(["status", *_args(mini_corpus, built)]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert err.startswith("error: index damaged") and "rag index" in err


def test_a_garbled_current_is_repaired_by_rag_index(built, mini_corpus):
    (built / "CURRENT").write_bytes(b"\xff\xfe garbage")
    build_index(mini_corpus, built, embedder="minilm")
    assert Engine.open(built, mini_corpus, embedder="minilm").search("LiDAR", k=1, mode="bm25")


# --- bad places to write ---------------------------------------------------------------------------------


def test_index_pointing_at_a_file_is_refused_before_any_embedding(mini_corpus, tmp_path, capsys, monkeypatch):
    target = tmp_path / "a-file"
    target.write_text("not a folder", "utf-8")
    import rag.embedders

    monkeypatch.setattr(rag.embedders, "load_embedder", lambda *a, **k: pytest.fail("embedder loaded"))
    assert main(["index", *_args(mini_corpus, target)]) == 2
    assert "is a file, not a folder" in one_error_line(capsys.readouterr().err)
    assert target.read_text("utf-8") == "not a folder"


def test_full_disk_is_one_clear_error_and_leaves_the_old_index(built, mini_corpus, monkeypatch):
    before = store.live_build(built)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "save_bm25", no_space)
    (mini_corpus / "c.txt").write_text("新闻标题\n\n■记者 甲\n\n临江区今天举行了植树活动，共种下树木三千棵。\n", "utf-8")
    with pytest.raises(IndexWriteError, match="disk is full.*previous index is intact"):
        build_index(mini_corpus, built, embedder="minilm")
    assert store.live_build(built) == before and not list(built.glob("*.partial"))
    assert Engine.open(built, mini_corpus, embedder="minilm").manifest.articles == 2


def test_full_disk_exits_2_on_the_command_line(built, mini_corpus, monkeypatch, capsys):
    monkeypatch.setattr(store, "save_bm25", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space")))
    assert main(["index", "--full", *_args(mini_corpus, built)]) == 2
    assert "disk is full" in one_error_line(capsys.readouterr().err)


# --- one writer ---------------------------------------------------------------------------------------------


def test_a_second_writer_is_told_the_index_is_busy(built, mini_corpus, capsys):
    with WriteLock(built, "rag add"):
        with pytest.raises(IndexBusyError, match=f"busy: rag add \\(pid {os.getpid()}"):
            build_index(mini_corpus, built, embedder="minilm", full=True)
        assert main(["index", *_args(mini_corpus, built)]) == 2
    assert "busy" in one_error_line(capsys.readouterr().err)


def test_the_lock_of_a_killed_writer_is_taken_over(built, mini_corpus):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from rag.writelock import WriteLock\n"
         "with WriteLock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)", str(built)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(IndexBusyError):
            build_index(mini_corpus, built, embedder="minilm", full=True)
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert str(holder.pid) in (built / "LOCK").read_text("utf-8"), "the dead owner's note is still there"
        build_index(mini_corpus, built, embedder="minilm", full=True)
    finally:
        holder.kill()
        holder.wait(10)


# --- hostile corpus entries ----------------------------------------------------------------------------------


def test_a_link_to_a_file_outside_the_corpus_is_refused_by_name(mini_corpus, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("机密文件\n\n这里是语料库之外的内容，不得被读取。\n", "utf-8")
    (mini_corpus / "leak.txt").symlink_to(secret)
    articles, errors = load_corpus(mini_corpus)
    assert all("机密" not in a.text for a in articles)
    assert any("leak.txt" in str(e) and "outside the corpus" in str(e) for e in errors)


def test_a_link_to_a_folder_outside_the_corpus_is_refused_by_name(mini_corpus, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("外部\n\n外部内容。\n", "utf-8")
    (mini_corpus / "sub").symlink_to(outside)
    files, refused = list_corpus(mini_corpus)
    assert [f.rel for f in files] == ["a.txt", "b.txt"]
    assert any("sub" in str(e) and "folder outside the corpus" in str(e) for e in refused)


def test_a_link_inside_the_corpus_is_read_once(mini_corpus):
    (mini_corpus / "pages").mkdir()
    (mini_corpus / "b.txt").rename(mini_corpus / "pages" / "b.txt")
    (mini_corpus / "alias").symlink_to(mini_corpus / "pages")
    files, refused = list_corpus(mini_corpus)
    assert [f.rel for f in files] == ["a.txt", "pages/b.txt"] and not refused


def test_the_indexed_corpus_never_shows_a_linked_outside_file(mini_corpus, tmp_path, minilm):
    (mini_corpus / "passwd.txt").symlink_to("/etc/passwd")
    m = build_index(mini_corpus, tmp_path / "index", embedder="minilm")
    engine = Engine.open(tmp_path / "index", mini_corpus, embedder="minilm")
    assert all(a.file != "passwd.txt" for a in engine.articles())
    assert any("passwd.txt" in e and "outside the corpus" in e for e in m.errors)
    assert "passwd.txt" not in m.corpus


def test_a_folder_named_like_a_page_is_reported(mini_corpus):
    (mini_corpus / "folder.txt").mkdir()
    _, refused = list_corpus(mini_corpus)
    assert any("folder.txt" in str(e) and "is a folder" in str(e) for e in refused)


def test_a_file_over_the_size_limit_is_refused_with_the_limit_named(mini_corpus, monkeypatch):
    (mini_corpus / "huge.txt").write_text("大" * 400_000, "utf-8")
    monkeypatch.setenv("YUWEN_MAX_FILE_MB", "1")
    articles, errors = load_corpus(mini_corpus)
    assert any("huge.txt" in str(e) and "over the 1.0 MB limit" in str(e) and "YUWEN_MAX_FILE_MB" in str(e) for e in errors)
    assert {a.file for a in articles} == {"a.txt", "b.txt"}


def test_the_size_limit_is_set_from_the_command_line(mini_corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("YUWEN_MAX_FILE_MB", "4")  # restored after the test, whatever the command sets
    (mini_corpus / "big.txt").write_text("新闻\n\n" + "长" * 20_000 + "。\n", "utf-8")
    assert main(["index", "--max-file-mb", "0.01", *_args(mini_corpus, tmp_path / "i")]) == 0
    assert "big.txt is 59 kB, over the 10 kB limit" in capsys.readouterr().err


def test_a_garbled_current_does_not_cost_the_builds_it_might_point_back_at(built, mini_corpus, monkeypatch):
    live = store.live_build(built)
    (built / "CURRENT").write_bytes(b"\xff garbage")
    monkeypatch.setattr(store, "save_bm25", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space")))
    with pytest.raises(IndexWriteError):
        build_index(mini_corpus, built, embedder="minilm")
    assert live.exists()
