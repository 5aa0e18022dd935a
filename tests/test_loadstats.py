"""The load benchmark's measuring helpers (benchmarks/loadstats.py): percentiles, RSS from /proc,
memory samples at question counts, and questions that never repeat."""

from __future__ import annotations

import math
import os
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from loadstats import QuestionStream, RssCheckpoints, percentile, read_rss_kb  # noqa: E402


def test_percentile_interpolates_between_ranks():
    xs = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(xs, 0) == 1.0
    assert percentile(xs, 100) == 4.0
    assert percentile(xs, 50) == pytest.approx(2.5)
    assert percentile(xs, 99) == pytest.approx(3.97)


def test_percentile_of_one_value_is_that_value_and_of_none_is_nan():
    assert percentile([7.0], 95) == 7.0
    assert math.isnan(percentile([], 50))


def test_percentile_outside_0_to_100_is_refused():
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_rss_of_this_process_is_read_from_proc():
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc here")
    kb = read_rss_kb(os.getpid())
    assert kb is not None and kb > 1000  # a Python process holds more than 1 MB


def test_rss_is_parsed_from_a_status_file_and_none_when_missing(tmp_path):
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "status").write_text("Name:\tpython\nVmPeak:\t  9000 kB\nVmRSS:\t  123456 kB\n", "ascii")
    (tmp_path / "43").mkdir()
    (tmp_path / "43" / "status").write_text("Name:\tkthreadd\n", "ascii")
    assert read_rss_kb(42, tmp_path) == 123456
    assert read_rss_kb(43, tmp_path) is None
    assert read_rss_kb(44, tmp_path) is None


def test_rss_checkpoints_sample_once_at_each_mark_even_when_counts_jump(tmp_path):
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "status").write_text("VmRSS:\t  2048 kB\n", "ascii")
    rss = RssCheckpoints(7, (0, 250, 500, 1000), proc_root=tmp_path)
    for n in (0, 1, 249, 251, 252, 600, 600, 1000, 1001):
        rss.tick(n)
    assert [s["questions"] for s in rss.samples] == [0, 251, 600, 1000]
    assert all(s["rss_mb"] == 2.0 for s in rss.samples)


def test_question_stream_never_repeats_a_text_even_past_every_wording():
    stream = QuestionStream(["问题甲？", "What is B?"], ["", "请问"], ["", "谢谢"], ["", "Q: "], [""])
    texts = [next(stream) for _ in range(40)]
    assert len(set(texts)) == len(texts)
    assert all(("问题甲？" in t) or ("What is B?" in t) for t in texts)
    assert not any("请问What" in t for t in texts)  # English questions get English wording


def test_question_stream_is_safe_across_threads():
    stream = QuestionStream(["甲？", "乙？", "丙？"], ["", "请问"], ["", "谢谢"], [""], [""])
    got: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        mine = [next(stream) for _ in range(100)]
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 400 and len(set(got)) == 400
