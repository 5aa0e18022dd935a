from rag.sentences import sentence_spans, split_sentences


def test_chinese_sentence_ends_split_text():
    assert split_sentences("第一句。第二句！第三句？第四句；") == ["第一句。", "第二句！", "第三句？", "第四句；"]


def test_closing_quote_stays_with_its_sentence():
    assert split_sentences("他说：“走吧。”我们走了。") == ["他说：“走吧。”", "我们走了。"]


def test_decimal_point_does_not_end_a_sentence():
    assert split_sentences("总额达86.5亿元，增长9%。") == ["总额达86.5亿元，增长9%。"]


def test_ascii_question_mark_ends_a_sentence():
    assert split_sentences("如何推动?答案在此,请看.") == ["如何推动?", "答案在此,请看."]


def test_line_break_ends_a_sentence():
    assert split_sentences("标题\n正文第一句。") == ["标题", "正文第一句。"]


def test_spans_index_the_original_text():
    text = "  甲。 乙！\n丙"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["甲。", "乙！", "丙"]


def test_numbered_table_row_stays_one_sentence():
    assert split_sentences("| 1. 四川省科学技术厅 | 11. 中共凉山州委网信办 |") == ["| 1. 四川省科学技术厅 | 11. 中共凉山州委网信办 |"]
