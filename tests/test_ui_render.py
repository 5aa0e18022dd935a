"""The web app's HTML: escaping, marks, citation buttons and cards, refusals, notices."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.answer import Citation
from rag.documents import Article
from ui import render
from ui.render import Turn

XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'

TEXT = "临江区新桥通车了。主桥全长约1280米。<b>粗体</b>不是标签。"
ARTICLE = Article(
    id="a1",
    file="001_x.txt",
    title="临江<script>alert(1)</script>大桥",
    text=TEXT,
    byline="记者 <i>张三</i>",
    segments=[(0, 9, 10), (9, 20, 11), (20, len(TEXT), 12)],
)


def citation(n: int = 1, highlights=((9, 20),), start: int = 0, end: int = 20) -> Citation:
    return Citation(
        n=n, chunk_id=f"c{n}", article_id="a1", title=ARTICLE.title, byline=ARTICLE.byline, file="001_x.txt",
        line_start=10, line_end=11, passage=TEXT[start:end], start=start, end=end, highlights=list(highlights), score=0.5,
    )


def no_raw_tags(html: str) -> None:
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "<b>" not in html and "<i>" not in html


def test_question_with_script_is_escaped_in_the_transcript():
    html = render.transcript_html([Turn(question=XSS, text="答案[1]", citations=[citation()])])
    no_raw_tags(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "onerror=&quot;alert(2)&quot;" in html


def test_answer_text_is_escaped_and_only_known_markers_become_buttons():
    html = render.answer_html("A <img src=x> claim.[1] Other [7] & more[2]", [citation(1), citation(2)], turn=3)
    no_raw_tags(html)
    assert html.count('class="cite"') == 2
    assert 'data-turn="3" data-cite="1"' in html and 'data-cite="2"' in html
    assert "[7]" in html and 'data-cite="7"' not in html
    assert "&amp; more" in html


def test_article_text_and_title_are_escaped_in_the_viewer():
    html = render.article_html(ARTICLE, citation())
    no_raw_tags(html)
    assert "临江&lt;script&gt;alert(1)&lt;/script&gt;大桥" in html
    assert "&lt;b&gt;粗体&lt;/b&gt;" in html
    assert "记者 &lt;i&gt;张三&lt;/i&gt;" in html


def test_marked_text_marks_the_span_and_escapes_inside_it():
    html = render.marked_text("ab<cd>ef", [("used", [(2, 6)])])
    assert html == 'ab<mark class="used">&lt;cd&gt;</mark>ef'


def test_marked_text_clips_spans_to_an_excerpt_given_its_offset():
    # The excerpt is text[10:16] of a larger text; the span 8..12 covers its first two characters.
    html = render.marked_text("uvwxyz", [("used", [(8, 12)])], offset=10)
    assert html == '<mark class="used">uv</mark>wxyz'


def test_overlapping_layers_combine_and_the_first_target_is_flagged():
    html = render.marked_text("0123456789", [("cited", [(2, 8)]), ("used", [(4, 6)])], target_class="used")
    assert html == ('01<mark class="cited">23</mark><mark class="cited used target">45</mark>'
                    '<mark class="cited">67</mark>89')


def test_article_view_marks_the_cited_passage_and_the_used_sentence():
    html = render.article_html(ARTICLE, citation(highlights=[(9, 20)], start=0, end=20))
    marks = re.findall(r'<mark class="([^"]+)">([^<]*)</mark>', html)
    assert ("cited", "临江区新桥通车了。") in marks
    assert ("cited used target", "主桥全长约1280米。") in marks
    assert "lines 10–11" in html
    assert 'data-action="page"' in html


def test_card_shows_title_byline_file_lines_and_the_used_sentence():
    html = render.card_html(citation(), turn=0)
    no_raw_tags(html)
    assert "[1]" in html and "001_x.txt" in html and "lines 10–11" in html
    assert '<mark class="used">主桥全长约1280米。</mark>' in html
    assert 'data-turn="0" data-cite="1"' in html


def test_card_of_a_long_passage_shows_the_used_sentence_with_context():
    long_text = "甲" * 500 + "用到的句子。" + "乙" * 500
    art_c = Citation(n=2, chunk_id="c", article_id="a", title="t", byline="", file="f.txt", line_start=1, line_end=3,
                     passage=long_text, start=100, end=100 + len(long_text), highlights=[(600, 606)])
    html = render.card_html(art_c, turn=0)
    assert '<mark class="used">用到的句子。</mark>' in html
    assert html.count("甲") == render.CARD_CONTEXT and html.count("乙") == render.CARD_CONTEXT
    assert "…" in html


def test_refusal_is_plain_and_its_passages_are_marked_as_nearest():
    turn = Turn(question="火星？", text="资料中没有找到与该问题直接相关的内容。", refused=True,
                citations=[citation(1, highlights=[]), citation(2, highlights=[])])
    transcript = render.transcript_html([turn])
    assert 'class="a refused"' in transcript and "cite" not in re.sub(r"cite-demo", "", transcript.split("turn")[1])
    sources = render.sources_html(turn, 0)
    assert "No evidence found" in sources
    assert sources.count('class="card nearest"') == 2
    assert "nearest / 相近" in sources


def test_sources_mark_the_active_card():
    turn = Turn(question="q", text="x[1]y[2]", citations=[citation(1), citation(2)])
    html = render.sources_html(turn, 0, active=2)
    assert html.count("card active") == 1
    assert re.search(r'class="card active" data-turn="0" data-cite="2"', html)


def test_error_turn_is_shown_as_a_message_and_a_huge_question_is_cut():
    html = render.transcript_html([Turn(question="长" * 100_000, error="The question is 100,000 characters long <x>")])
    assert 'role="alert"' in html and "&lt;x&gt;" in html
    assert html.count("长") < 1000
    assert "100,000 characters in all" in html


def test_page_view_numbers_lines_and_marks_the_cited_ones():
    html = render.page_html("p.txt", "one\n<two>\nthree\nfour", 2, 3, "T", used_lines=[3])
    rows = re.findall(r'<div class="([^"]+)"><span class="no">(\d+)</span><span class="tx">([^<]*)</span>', html)
    assert rows == [("ln", "1", "one"), ("ln marked", "2", "&lt;two&gt;"), ("ln marked used target", "3", "three"), ("ln", "4", "four")]


def test_article_list_filters_and_escapes():
    other = Article(id="b", file="002_y.txt", title="星河小学机器人队", text="RX·Mini巡检机器人")
    html = render.article_list_html([ARTICLE, other], "星河")
    assert 'data-article="b"' in html and 'data-article="a1"' not in html
    assert "1 of 2 articles" in html
    everything = render.article_list_html([ARTICLE, other], "")
    no_raw_tags(everything)
    assert "lines 10–12" in everything and "002_y.txt" in everything
    assert render.article_matches(other, "rx·mini 机器人")


def test_notice_and_status_escape_what_they_show():
    html = render.notice_html("error", "No <index>", "Run <this>", "rag index --index <x>")
    assert "&lt;index&gt;" in html and "&lt;this&gt;" in html and "&lt;x&gt;" in html
    status = render.status_html({"embedder": "m<1>", "dim": 384, "articles": 20, "chunks": 148, "built_at": "now",
                                 "stale": True, "warnings": ["changed <file>"]})
    assert "m&lt;1&gt;" in status and "stale" in status and "changed &lt;file&gt;" in status


def test_history_pairs_skip_failed_turns():
    assert Turn(question="q", text="a").history_pair() == ("q", "a")
    assert Turn(question="q", error="bad").history_pair() is None


def test_missing_index_gives_a_message_with_the_command(tmp_path: Path):
    from ui.app import EngineHolder

    holder = EngineHolder(None, tmp_path / "index", tmp_path / "corpus")
    engine, message = holder.try_get()
    assert engine is None
    assert "rag index" in message and "Traceback" not in message


def test_build_app_offers_only_ask_as_public_api(tmp_path: Path):
    pytest.importorskip("gradio")
    from ui.app import build_app

    app = build_app(index_dir=tmp_path / "index", corpus_dir=tmp_path / "corpus", warm=False)
    public = [fn.api_name for fn in app.fns.values() if getattr(fn, "api_visibility", "public") == "public"]
    assert public == ["ask"]


def test_unsupported_generated_sentences_are_greyed_with_a_warning():
    from ui.render import Turn, transcript_html

    c = citation()
    turn = Turn(question="问", text="甲。[1]乙。[1]", citations=[c], backend="llm", llm="openai:x",
                sentences=[{"text": "甲。", "supported": True, "score": 0.9, "citations": [1]},
                           {"text": "<b>乙</b>。", "supported": False, "score": 0.1, "citations": [1]}])
    html = transcript_html([turn])
    assert html.count('class="sent"') == 1 and html.count('class="sent unsupported"') == 1
    assert "&lt;b&gt;乙&lt;/b&gt;" in html and "<b>乙" not in html
    assert html.count('data-cite="1"') == 2 and "1 of 2 sentences supported" in html


def test_fallback_notice_says_why_the_model_answer_is_not_shown():
    from ui.render import Turn, transcript_html

    turn = Turn(question="问", text="摘录。[1]", citations=[citation()], backend="extractive",
                fallback_reason="Cannot reach the chat server at http://127.0.0.1:9/v1")
    html = transcript_html([turn])
    assert 'class="fallback"' in html and "Cannot reach the chat server" in html and "extractive" in html


def test_a_draft_is_shown_greyed_without_clickable_markers():
    from ui.render import Turn, transcript_html

    html = transcript_html([Turn(question="问", text="草稿[1", streaming=True, backend="llm")])
    assert 'class="a draft"' in html and "caret" in html and "data-cite" not in html


def test_a_conversation_round_trips_through_json_for_the_browser():
    turns = [Turn(question="大桥多长？", rewritten="临江大桥多长？", text="约1280米[1]。", citations=[citation()],
                  backend="extractive", mode="hybrid", rating="down", feedback_id=7)]
    back = render.turns_from_json(render.turns_to_json(turns))
    assert back == turns
    assert back[0].citations[0].highlights == [(9, 20)]


def test_stored_history_that_cannot_be_read_is_left_out_and_a_running_turn_is_interrupted():
    data = [{"question": "好"}, "junk", {"no": "question"}, {"question": "半截", "pending": True},
            {"question": "x", "citations": [{"bad": 1}]}]
    turns = render.turns_from_json(data)
    assert [t.question for t in turns] == ["好", "半截"]
    assert turns[1].error and not turns[1].pending
    assert render.turns_from_json("not a list") == []


def test_a_finished_answer_offers_copy_rating_and_regenerate_and_says_what_answered():
    t = Turn(question="q", text="主桥全长约1280米[1]。", citations=[citation()], backend="extractive", mode="hybrid")
    html = render.transcript_html([t])
    assert 'data-copy="' in html and 'data-rate="up"' in html and 'data-rate="down"' in html and "data-regen" in html
    assert '<span class="backend">extractive</span>' in html and '<span class="mode">hybrid</span>' in html
    copied = render.copy_text(t)
    assert copied.startswith("主桥全长约1280米[1]。") and "[1] " in copied and "001_x.txt" in copied
    no_raw_tags(html)


def test_a_citation_marker_carries_an_escaped_preview_of_its_passage():
    html = render.answer_html("见[1]。", [citation()], 0)
    preview = re.search(r'data-preview="([^"]*)"', html).group(1)
    assert preview.startswith("[1] 临江&lt;script&gt;")
    assert "主桥全长约1280米" in preview


def test_after_a_rating_a_comment_box_then_a_thank_you():
    t = Turn(question="q", text="a", backend="extractive", rating="down", feedback_id=1)
    assert 'class="comment-text"' in render.transcript_html([t])
    t.comment_sent = True
    html = render.transcript_html([t])
    assert "comment-text" not in html and "comment done" in html


def test_a_refusal_links_to_its_nearest_passages():
    t = Turn(question="q", text="没有找到。", refused=True, citations=[citation()], backend="extractive")
    html = render.transcript_html([t])
    assert 'class="near"' in html and 'data-cite="1"' in html
    assert 'class="cite"' not in html


def test_the_transcript_says_whether_to_scroll_to_its_end():
    assert 'data-autoscroll="1"' in render.transcript_html([])
    assert 'data-autoscroll="0"' in render.transcript_html([], autoscroll=False)
