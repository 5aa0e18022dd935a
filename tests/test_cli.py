"""The `rag` command line: each command works and each bad input gets one clear line."""

import json

import pytest

from rag.cli import main


@pytest.fixture
def indexed(mini_corpus, tmp_path, minilm):
    index = tmp_path / "index"
    assert main(["index", "--corpus", str(mini_corpus), "--index", str(index), "--embedder", "minilm"]) == 0
    return ["--corpus", str(mini_corpus), "--index", str(index), "--embedder", "minilm"]


def test_index_reports_what_it_built(mini_corpus, tmp_path, minilm, capsys):
    main(["index", "--corpus", str(mini_corpus), "--index", str(tmp_path / "i"), "--embedder", "minilm"])
    assert "indexed 2 articles" in capsys.readouterr().out


def test_ask_prints_answer_then_numbered_sources_with_lines(indexed_e5, capsys):
    assert main(["ask", "StarBot巡检机器人搭载了什么系统？", "--mode", "bm25", *indexed_e5]) == 0
    out = capsys.readouterr().out
    assert "[1]" in out and "Sources:" in out and "b.txt lines" in out


def test_ask_json_is_one_object_with_citations(indexed_e5, capsys):
    main(["ask", "StarBot巡检机器人搭载了什么系统？", "--mode", "bm25", "--json", *indexed_e5])
    data = json.loads(capsys.readouterr().out)
    assert not data["refused"] and data["citations"][0]["file"] == "b.txt"
    assert {"n", "passage_id", "title", "line_start", "line_end", "passage", "spans"} <= set(data["citations"][0])


def test_empty_question_exits_2_with_a_clear_message(indexed, capsys):
    assert main(["ask", "  ", *indexed]) == 2
    assert "empty" in capsys.readouterr().err


def test_huge_question_exits_2_with_a_clear_message(indexed, capsys):
    assert main(["ask", "问" * 100_000, *indexed]) == 2
    assert "100,000 characters" in capsys.readouterr().err


def test_ask_without_an_index_says_to_run_rag_index(tmp_path, capsys):
    code = main(["ask", "问题", "--index", str(tmp_path / "none"), "--corpus", str(tmp_path), "--embedder", "minilm"])
    assert code == 2 and "rag index" in capsys.readouterr().err


def test_unloadable_model_is_named_in_the_error(mini_corpus, tmp_path, capsys):
    code = main(["index", "--corpus", str(mini_corpus), "--index", str(tmp_path / "i"), "--embedder", "no-such/model-xyz"])
    err = capsys.readouterr().err
    assert code == 2 and "no-such/model-xyz" in err and "local" in err


def test_articles_lists_titles(indexed, capsys):
    main(["articles", *indexed])
    assert "临江区滨江大桥建成通车" in capsys.readouterr().out


def test_show_prints_the_clean_article(indexed, capsys):
    main(["articles", "--json", *indexed])
    first = json.loads(capsys.readouterr().out)[0]["id"]
    main(["show", first, *indexed])
    assert "■记者" in capsys.readouterr().out


def test_status_reports_counts_and_model(indexed, capsys):
    main(["status", "--json", *indexed])
    status = json.loads(capsys.readouterr().out)
    assert status["articles"] == 2 and "MiniLM" in status["embedder"] and status["stale"] is False


def test_eval_prints_metric_keys_as_json(indexed, tmp_path, capsys):
    qs = tmp_path / "q.jsonl"
    qs.write_text(
        json.dumps({"id": "t1", "question": "StarBot巡检机器人搭载了什么系统？", "type": "fact", "must_include": ["LiDAR"],
                    "evidence": [{"file": "b.txt", "quote": "搭载LiDAR激光导航系统"}]}, ensure_ascii=False) + "\n"
        + json.dumps({"id": "t2", "question": "2019年滨江大桥日均车流量是多少？", "type": "unanswerable"}, ensure_ascii=False) + "\n",
        "utf-8",
    )
    assert main(["eval", str(qs), "--json", "--mode", "bm25", *indexed]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 2
    assert set(report["overall"]) == {"recall@1500c", "recall@1", "recall@5", "recall@10", "mrr@10", "answer_hit",
                                      "refusal_accuracy", "false_refusal_rate", "citation_precision", "seconds_per_question"}
    assert report["overall"]["recall@1"] == 1.0 and report["by_type"]["unanswerable"]["refusal_accuracy"] == 1.0


def test_eval_of_a_malformed_file_names_the_line(indexed, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\nnot json\n', "utf-8")
    assert main(["eval", str(bad), *indexed]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err


def test_chat_reads_a_follow_up_in_the_context_of_the_previous_question(indexed, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("星河小学机器人队研发了什么巡检机器人？\n它搭载了什么系统？\n"))
    assert main(["chat", "--mode", "bm25", *indexed]) == 0
    out = capsys.readouterr().out
    assert out.count("Sources:") + out.count("Nearest passages") == 2
    assert "(searched as:" in out  # the follow-up was rewritten before retrieval


def test_eval_of_a_file_that_is_not_utf8_is_a_clear_error(indexed, tmp_path, capsys):
    bad = tmp_path / "gbk.jsonl"
    bad.write_bytes('{"question": "重庆的问题"}\n'.encode("gb18030"))
    assert main(["eval", str(bad), *indexed]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_damaged_reader_parameters_exit_2_with_one_line(indexed, tmp_path, capsys, monkeypatch):
    from rag.answer import reader

    bad = tmp_path / "reader.json"
    bad.write_text("{", "utf-8")
    monkeypatch.setattr(reader, "MODEL_FILE", bad)
    reader.load_reader.cache_clear()
    try:
        assert main(["ask", "大桥有多长？", *indexed]) == 2
    finally:
        reader.load_reader.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("error:") and "rag train" in err and "Traceback" not in err


def test_train_on_a_missing_benchmark_exits_2_with_one_line(tmp_path, capsys):
    assert main(["train", "--bench", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_question_with_invalid_bytes_exits_2_with_one_line(indexed, capsys):
    bad = b"\xff\xfe\xe5\xa4\xa7\xe6\xa1\xa5".decode("utf-8", "surrogateescape")  # as Python passes invalid argv bytes
    assert main(["ask", bad, *indexed]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "not valid text" in err and "Traceback" not in err


def test_chat_goes_on_after_a_line_that_is_not_valid_text(indexed, capsys, monkeypatch):
    import io

    raw = b"\xff\xfe\x80?\n" + "StarBot巡检机器人搭载了什么系统？\n".encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
    assert main(["chat", "--mode", "bm25", *indexed]) == 0
    captured = capsys.readouterr()
    assert "not valid text" in captured.err
    assert "LiDAR" in captured.out


def test_k_that_is_not_a_number_is_named_in_the_error(indexed):
    from rag.engine import Engine, QuestionError

    engine = Engine.open(indexed[3], indexed[1], embedder="minilm")
    with pytest.raises(QuestionError, match="k .*whole number.*'abc'"):
        engine.ask("大桥有多长？", k="abc")
