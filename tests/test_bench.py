"""The public-benchmark evaluation: loading a benchmark folder, mapping passages to chunks, metrics, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.bench import (
    BenchError,
    BenchOutcome,
    answer_contains,
    bench_articles,
    ensure_bench_index,
    evaluate_system,
    first_gold_rank,
    load_bench,
    rank_metrics,
    summarize_bench,
    window_hit,
)
from rag.evaluate import METRICS

PASSAGES = [
    {"id": "P1", "title": "Harbor Bridge", "text": "The Harbor Bridge opened in 1932. It carries eight lanes of traffic."},
    {"id": "P2", "title": "City Library", "text": "The City Library holds two million books. Its reading room seats 400 people."},
    {"id": "P3", "title": "Mountain Railway", "text": "The mountain railway climbs 1,200 metres. Trains run every thirty minutes."},
]
QUESTIONS = [
    {"id": "Q1", "question": "When did the Harbor Bridge open?", "answers": ["1932"], "passage_ids": ["P1"]},
    {"id": "Q2", "question": "How many books does the City Library hold?", "answers": ["two million"], "passage_ids": ["P2"]},
    {"id": "Q3", "question": "How often do mountain railway trains run?", "answers": ["every thirty minutes"],
     "passage_ids": ["P3"]},
]


def write_bench(folder: Path, passages=PASSAGES, questions=QUESTIONS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "passages.jsonl").write_text("\n".join(json.dumps(p) for p in passages) + "\n", "utf-8")
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n", "utf-8")
    return folder


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    return write_bench(tmp_path / "tinybench")


def outcome(rank: int | None, **kw) -> BenchOutcome:
    base = dict(id="q", first_hit_rank=rank, in_window=False, answer_hit=None, refused=None, cited=0, cited_gold=0,
                retrieval_seconds=0.01, answer_seconds=0.0)
    base.update(kw)
    return BenchOutcome(**base)


# ------------------------------------------------------------------ loading


def test_load_bench_reads_every_passage_and_question(bench_dir):
    bench = load_bench(bench_dir)
    assert [p["id"] for p in bench.passages] == ["P1", "P2", "P3"]
    assert [q["id"] for q in bench.questions] == ["Q1", "Q2", "Q3"]
    assert bench.name == "tinybench"


def test_limit_keeps_only_the_first_n_questions_and_every_passage(bench_dir):
    bench = load_bench(bench_dir, limit=2)
    assert [q["id"] for q in bench.questions] == ["Q1", "Q2"]
    assert len(bench.passages) == 3


def test_each_passage_becomes_one_article_headed_by_its_title(bench_dir):
    articles = bench_articles(load_bench(bench_dir))
    a = articles[0]
    assert (a.id, a.file, a.title) == ("P1", "tinybench/P1", "Harbor Bridge")
    assert a.text == "Harbor Bridge\nThe Harbor Bridge opened in 1932. It carries eight lanes of traffic."
    assert a.segments == [(0, len(a.text), 1)]


def test_passages_are_cut_into_chunks_that_belong_to_their_passage(bench_dir, minilm):
    from rag.chunking import ChunkSettings, chunk_articles

    articles = bench_articles(load_bench(bench_dir))
    chunks = chunk_articles(articles, minilm.count_tokens, ChunkSettings(max_tokens=16))
    by_id = {a.id: a for a in articles}
    assert len(chunks) > len(articles)  # small budget: several chunks per passage
    assert {c.article_id for c in chunks} == {"P1", "P2", "P3"}
    assert all(by_id[c.article_id].text[c.start : c.end] == c.text for c in chunks)


def test_missing_questions_file_is_a_clear_error_naming_it(tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / "passages.jsonl").write_text(json.dumps(PASSAGES[0]) + "\n", "utf-8")
    with pytest.raises(BenchError, match="questions.jsonl is missing"):
        load_bench(folder)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(BenchError, match="does not exist"):
        load_bench(tmp_path / "nowhere")


def test_malformed_json_line_is_reported_with_file_and_line_number(tmp_path):
    folder = write_bench(tmp_path / "bad")
    with open(folder / "questions.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"id": "Q4", "question": "broken\n')
    with pytest.raises(BenchError, match=r"questions\.jsonl:4: not JSON"):
        load_bench(folder)


def test_record_without_a_required_field_is_reported(tmp_path):
    folder = write_bench(tmp_path / "bad", passages=[{"id": "P1", "text": "no title"}], questions=QUESTIONS[:1])
    with pytest.raises(BenchError, match=r'passages\.jsonl:1: field "title"'):
        load_bench(folder)


def test_question_whose_gold_passage_is_absent_is_reported(tmp_path):
    q = dict(QUESTIONS[0], passage_ids=["P9"])
    folder = write_bench(tmp_path / "bad", questions=[q])
    with pytest.raises(BenchError, match="P9"):
        load_bench(folder)


def test_bench_error_is_an_eval_set_error_so_the_cli_reports_it_in_one_line():
    from rag.evaluate import EvalSetError

    assert issubclass(BenchError, EvalSetError)


# ------------------------------------------------------------------ metrics


def test_first_gold_rank_counts_a_chunk_for_the_passage_it_was_cut_from():
    assert first_gold_rank(["P2", "P2", "P1", "P1"], {"P1"}) == 3
    assert first_gold_rank(["P2", "P3"], {"P1"}) is None


def test_first_gold_rank_ignores_ranks_beyond_k():
    assert first_gold_rank(["X"] * 10 + ["P1"], {"P1"}, k=10) is None


def test_rank_metrics_from_hand_made_ranks():
    m = rank_metrics([1, 3, None, 7])
    assert m == {"recall@1": 0.25, "recall@5": 0.5, "recall@10": 0.75, "mrr@10": round((1 + 1 / 3 + 1 / 7) / 4, 4)}


def test_window_hit_needs_the_gold_answer_inside_the_first_characters():
    texts = {"P1": "Harbor Bridge\nopened in 1932"}
    ranked = [("P2", "x" * 20), ("P1", "Harbor Bridge opened in 1932")]
    assert window_hit(ranked, {"P1"}, ["1932"], texts, budget=60)
    assert not window_hit(ranked, {"P1"}, ["1932"], texts, budget=30)  # the window ends before "1932"


def test_window_hit_ignores_the_answer_string_in_a_passage_that_is_not_gold():
    texts = {"P1": "opened in 1932"}
    assert not window_hit([("P2", "also 1932")], {"P1"}, ["1932"], texts)


def test_window_hit_counts_the_gold_chunk_when_no_gold_answer_occurs_in_the_passage():
    texts = {"P1": "opened in nineteen thirty-two"}
    assert window_hit([("P1", "opened in nineteen thirty-two")], {"P1"}, ["1932年"], texts)


def test_answer_contains_ignores_whitespace_and_citation_markers():
    assert answer_contains("It opened in 19[1]32 .", ["1932"]) is True
    assert answer_contains("两 百 万 册[2]", ["两百万册"]) is True
    assert answer_contains("It opened later.", ["1932"]) is False


def test_summary_has_the_dev_eval_keys_with_none_where_not_applicable():
    m = summarize_bench([outcome(1), outcome(None)])
    assert tuple(k for k in m if k in METRICS) == METRICS
    assert m["recall@1"] == 0.5
    assert m["answer_hit"] is None and m["refusal_accuracy"] is None and m["citation_precision"] is None


def test_summary_scores_answers_refusals_and_citations():
    m = summarize_bench([
        outcome(1, answer_hit=True, refused=False, cited=2, cited_gold=1),
        outcome(2, answer_hit=False, refused=True, cited=0, cited_gold=0),
    ])
    assert (m["answer_hit"], m["false_refusal_rate"], m["citation_precision"]) == (0.5, 0.5, 0.5)


# ------------------------------------------------------------------ end to end (minilm: small and fast)


def test_benchmark_index_is_built_once_then_reused(bench_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("YUWEN_CACHE", str(tmp_path / "cache"))
    bench = load_bench(bench_dir)
    first, built = ensure_bench_index(bench, embedder="minilm")
    again, rebuilt = ensure_bench_index(bench, embedder="minilm")
    assert built and not rebuilt and first == again
    assert first.is_relative_to(tmp_path / "cache" / "bench")


def test_our_hybrid_search_finds_each_gold_passage_of_the_tiny_benchmark(bench_dir, tmp_path):
    from rag.bench import YuwenSystem, open_bench_engine

    bench = load_bench(bench_dir)
    index_dir, _ = ensure_bench_index(bench, tmp_path / "idx", embedder="minilm")
    result = evaluate_system(YuwenSystem(open_bench_engine(index_dir, embedder="minilm")), bench)
    assert result["n"] == 3
    assert result["overall"]["recall@5"] == 1.0


def test_cli_eval_bench_limit_prints_the_dev_eval_keys_for_n_questions(bench_dir, tmp_path, monkeypatch, capsys):
    from rag.cli import main

    monkeypatch.setenv("YUWEN_CACHE", str(tmp_path / "cache"))
    code = main(["eval", "--bench", str(bench_dir), "--limit", "2", "--embedder", "minilm", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["n"] == 2
    assert set(METRICS) <= set(out["overall"])


def test_cli_eval_bench_on_a_folder_without_its_files_exits_2_with_one_line(tmp_path, capsys):
    from rag.cli import main

    (tmp_path / "empty").mkdir()
    code = main(["eval", "--bench", str(tmp_path / "empty"), "--embedder", "minilm"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: Benchmark file") and "passages.jsonl" in err[-1]


def test_sample_takes_questions_evenly_spaced_over_the_set(tmp_path):
    questions = [dict(QUESTIONS[0], id=f"Q{i}") for i in range(10)]
    bench = load_bench(write_bench(tmp_path / "b", questions=questions), sample=5)
    assert [q["id"] for q in bench.questions] == ["Q0", "Q2", "Q4", "Q6", "Q8"]


# ------------------------------------------------------------------ hide-gold runs

SIBLINGS = PASSAGES + [
    {"id": "P4", "title": "Harbor Bridge", "text": "The Harbor Bridge is painted grey. Its opening year, 1932, is on a plaque."},
    {"id": "P5", "title": "City Library", "text": "The City Library was designed by a local architect."},
]


def test_a_question_whose_answer_stands_in_a_sibling_passage_is_still_answerable(tmp_path):
    from rag.bench import still_answerable

    bench = load_bench(write_bench(tmp_path / "sib", SIBLINGS))
    assert still_answerable(bench) == {"Q1"}  # 1932 also stands in P4, of the same article; two million does not


def test_hidden_gold_is_left_out_of_every_ranking(bench_dir, tmp_path):
    from rag.bench import YuwenSystem, open_bench_engine

    bench = load_bench(bench_dir)
    index_dir, _ = ensure_bench_index(bench, tmp_path / "idx", embedder="minilm")
    system = YuwenSystem(open_bench_engine(index_dir, embedder="minilm"))
    for mode in ("hybrid", "dense", "bm25"):
        system.mode = mode
        ranked = [pid for pid, _ in system.retrieve("When did the Harbor Bridge open?", 10, hidden=("P1",))]
        assert "P1" not in ranked
        assert ranked or mode == "bm25"  # BM25 finds nothing else that shares the question's words


def test_hide_gold_summary_scores_refusals_apart_from_the_normal_run():
    m = summarize_bench([
        outcome(1, answer_hit=True, refused=False, cited=1, cited_gold=1),
        outcome(None, answer_hit=False, refused=True, hidden=True),
        outcome(None, answer_hit=False, refused=False, hidden=True),
        outcome(None, answer_hit=True, refused=False, hidden=True, still_answerable=True),
    ])
    assert m["false_refusal_rate"] == 0.0 and m["answer_hit"] == 1.0
    assert (m["hidden_n"], m["hidden_refusal_accuracy"]) == (2, 0.5)
    assert (m["still_answerable_n"], m["still_answered"], m["still_answer_hit"]) == (1, 1.0, 1.0)


def test_cli_eval_bench_hide_gold_reports_hidden_refusal_accuracy(bench_dir, tmp_path, monkeypatch, capsys):
    from rag.cli import main

    monkeypatch.setenv("YUWEN_CACHE", str(tmp_path / "cache"))
    assert main(["eval", "--bench", str(bench_dir), "--embedder", "minilm", "--hide-gold", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["overall"]["hidden_n"] == 3 and out["overall"]["hidden_refusal_accuracy"] is not None


BRIDGES = [
    {"id": "B1", "title": "临江大桥", "text": "临江大桥于2015年建成通车，全长1.2公里，双向六车道。"},
    {"id": "B2", "title": "石门隧道", "text": "石门隧道于2019年贯通，全长3.4公里，是全市最长的隧道。"},
]
BRIDGE_QUESTIONS = [
    {"id": "Q1", "question": "2015年建成通车的临江大桥全长多少公里？", "answers": ["1.2公里"], "passage_ids": ["B1"]},
    {"id": "Q2", "question": "石门隧道2019年贯通时全长多少公里？", "answers": ["3.4公里"], "passage_ids": ["B2"]},
]


def test_cli_eval_near_miss_reports_the_twins_refusal_accuracy_apart(tmp_path, monkeypatch, capsys):
    from rag.cli import main

    monkeypatch.setenv("YUWEN_CACHE", str(tmp_path / "cache"))
    folder = write_bench(tmp_path / "bridges", BRIDGES, BRIDGE_QUESTIONS)
    assert main(["eval", "--bench", str(folder), "--embedder", "minilm", "--near-miss", "--json"]) == 0
    overall = json.loads(capsys.readouterr().out)["overall"]
    assert overall["near_miss_n"] == 2 and overall["near_miss_refusal_accuracy"] is not None
    assert overall["answer_hit"] is not None  # the normal run is scored on its own


ARTICLE_PASSAGES = [
    {"id": "H1", "title": "Harbor Bridge", "text": "The Harbor Bridge opened in 1932."},
    {"id": "H2", "title": "Harbor Bridge", "text": "It carries eight lanes of traffic."},
    {"id": "L1", "title": "City Library", "text": "The City Library holds two million books."},
]
ARTICLE_QUESTIONS = [
    {"id": "Q1", "question": "When did the Harbor Bridge open?", "answers": ["1932"], "passage_ids": ["H1"]},
    {"id": "Q2", "question": "How many books does the City Library hold?", "answers": ["two million"],
     "passage_ids": ["L1"]},
]


def test_hiding_the_gold_article_hides_its_sibling_passages_too(tmp_path):
    from rag.bench import hidden_passages

    bench = load_bench(write_bench(tmp_path / "siblings", ARTICLE_PASSAGES, ARTICLE_QUESTIONS))
    assert hidden_passages(bench) == {"Q1": ("H1",), "Q2": ("L1",)}
    assert hidden_passages(bench, "article") == {"Q1": ("H1", "H2"), "Q2": ("L1",)}
    with pytest.raises(ValueError, match="hide scope"):
        hidden_passages(bench, "chapter")


def test_cli_eval_hide_gold_article_leaves_nothing_of_the_article_to_answer_from(tmp_path, monkeypatch, capsys):
    from rag.cli import main

    monkeypatch.setenv("YUWEN_CACHE", str(tmp_path / "cache"))
    folder = write_bench(tmp_path / "siblings", ARTICLE_PASSAGES, ARTICLE_QUESTIONS)
    assert main(["eval", "--bench", str(folder), "--embedder", "minilm", "--hide-gold", "article", "--json",
                 "--details"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hide_gold"] == "article"
    assert out["overall"]["hidden_n"] == 2 and out["overall"]["still_answerable_n"] == 0


def test_hide_gold_or_near_miss_without_a_benchmark_is_one_clear_error(tmp_path, capsys):
    from rag.cli import main

    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "桥哪年通车？"}\n', "utf-8")
    assert main(["eval", str(questions), "--near-miss"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --near-miss need a benchmark folder: rag eval --bench DIR --near-miss"]
