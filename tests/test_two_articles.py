"""benchmarks/two_articles.py: how it builds questions about two articles and scores a reply (the run
itself is measured, not tested)."""

from __future__ import annotations

from tests.conftest import benchmark_script

ta = benchmark_script("two_articles")

TITLES = ["青石镇", "青石镇", "白沙湾", "白沙湾码头", "云雾山", "南岭书院"]


def test_pairs_ask_about_two_different_titles_neither_inside_the_other():
    pairs = ta.build_pairs(TITLES, n=20)
    assert pairs
    for pair in pairs:
        a, b = pair["titles"]
        assert a != b and a not in b and b not in a
        assert pair["question"] == pair["form"].format(a=a, b=b)


def test_pairs_use_both_forms_and_are_drawn_the_same_way_each_time():
    pairs = ta.build_pairs(TITLES, n=6)
    assert {p["form"] for p in pairs} == set(ta.FORMS)
    assert pairs == ta.build_pairs(TITLES, n=6)
    assert len({tuple(sorted(p["titles"])) for p in pairs}) == len(pairs)


def test_titles_lose_their_qualifier_and_titles_holding_and_are_left_out():
    pairs = ta.build_pairs(["真如_(佛教)", "白沙湾", "塞尔维亚和黑山"], n=5)
    assert [sorted(p["titles"]) for p in pairs] == [["白沙湾", "真如"]]


def test_too_few_titles_build_no_pair():
    assert ta.build_pairs(["青石镇", "青石镇"], n=5) == []


def test_a_reply_covers_an_article_it_cites():
    assert ta.covered(["青石镇", "青石镇"], ["青石镇", "云雾山"]) == {"both": False, "either": True}
    assert ta.covered(["云雾山", "青石镇"], ["青石镇", "云雾山"]) == {"both": True, "either": True}
    assert ta.covered([], ["青石镇", "云雾山"]) == {"both": False, "either": False}


def test_summary_counts_refusals_and_takes_the_median_of_answers_only():
    rows = [{"both": True, "either": True, "refused": False, "chars": 40, "ms": 10.0},
            {"both": False, "either": False, "refused": True, "chars": 20, "ms": 30.0}]
    s = ta.summarize(rows)
    assert s == {"n": 2, "both": 0.5, "either": 0.5, "refused": 0.5, "chars_p50": 40, "ms_p50": 20.0}


def test_pairs_below_one_is_one_clear_line(capsys):
    assert ta.main(["--pairs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "two_articles: --pairs must be at least 1"
