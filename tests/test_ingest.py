"""Ingest: reading files in any encoding, repairing OCR'd column text, splitting pages into
articles whose text maps back to the source lines. Expected titles/bylines are as printed on
the corpus pages."""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from pathlib import Path

import pytest

from rag.ingest import IngestError, load_corpus, read_text, repair_page, split_articles

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
PAGE = "这是第一段。\n\n第二段开头\n\n接着写完。\n"


def page(prefix: str) -> Path:
    return next(CORPUS.glob(f"{prefix}_*.txt"))


def articles_of(prefix: str):
    p = page(prefix)
    return split_articles(read_text(p), p.name)


def by_title(prefix: str, title_start: str):
    return next(a for a in articles_of(prefix) if a.title.startswith(title_start))


def flat(text: str) -> str:
    return "".join(text.split())


# --------------------------------------------------------------------------- reading files


def test_reads_plain_utf8(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(PAGE.encode("utf-8"))
    assert read_text(f) == PAGE


def test_reads_utf8_with_bom_and_drops_the_bom(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(PAGE.encode("utf-8-sig"))
    assert read_text(f) == PAGE


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_reads_utf16_with_bom(tmp_path, encoding):
    f = tmp_path / "a.txt"
    data = PAGE.encode(encoding)
    if encoding != "utf-16":  # the explicit-endian codecs write no BOM: add the right one
        data = ("\ufeff".encode(encoding)) + data
    f.write_bytes(data)
    assert read_text(f) == PAGE


@pytest.mark.parametrize("encoding", ["gb18030", "gbk"])
def test_reads_gb18030_and_gbk(tmp_path, encoding):
    f = tmp_path / "a.txt"
    f.write_bytes("清晨的嘉陵江边起了薄雾，渡船还没有开。\n\n■林晓雨\n".encode(encoding))
    assert read_text(f) == "清晨的嘉陵江边起了薄雾，渡船还没有开。\n\n■林晓雨\n"


def test_windows_line_endings_become_newlines(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes("第一行\r\n\r\n第二行\r\n".encode("utf-8"))
    assert read_text(f) == "第一行\n\n第二行\n"


def test_binary_file_is_refused_naming_the_file(tmp_path):
    f = tmp_path / "scan.txt"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(IngestError, match=r"scan\.txt.*binary"):
        read_text(f)


def test_file_full_of_control_characters_is_refused_as_binary(tmp_path):
    f = tmp_path / "junk.txt"
    f.write_bytes(b"\x01\x02\x03\x04\x05abc\x06\x07\x08" * 20)
    with pytest.raises(IngestError, match=r"junk\.txt.*binary"):
        read_text(f)


@pytest.mark.parametrize("content", [b"", b"   \n\n\t  \n"])
def test_empty_or_blank_file_is_refused_as_empty(tmp_path, content):
    f = tmp_path / "blank.txt"
    f.write_bytes(content)
    with pytest.raises(IngestError, match=r"blank\.txt is empty"):
        read_text(f)


def test_blank_utf16_file_is_refused_as_empty(tmp_path):
    f = tmp_path / "blank.txt"
    f.write_bytes("  \n \n".encode("utf-16"))
    with pytest.raises(IngestError, match="is empty"):
        read_text(f)


def test_undecodable_file_is_refused_naming_the_file(tmp_path):
    f = tmp_path / "mojibake.txt"
    f.write_bytes(b"abc \xff\xfe\xfd \x80\x80 \xff\x81 " * 30)
    with pytest.raises(IngestError, match=r"mojibake\.txt cannot be decoded"):
        read_text(f)


def test_missing_file_is_an_ingest_error(tmp_path):
    with pytest.raises(IngestError, match=r"nope\.txt"):
        read_text(tmp_path / "nope.txt")


def test_utf8_with_one_damaged_byte_is_kept_with_a_replacement_character(tmp_path, caplog):
    f = tmp_path / "a.txt"
    text = "老街拐角那家面馆每天清早六点开门，小面、抄手和豆花饭都卖得很快。" * 3
    data = text.encode("utf-8")
    f.write_bytes(data[:30] + b"\xff" + data[30:])
    with caplog.at_level(logging.WARNING):
        got = read_text(f)
    assert got.count("\ufffd") == 1 and "a.txt" in caplog.text


# --------------------------------------------------------------------------- load_corpus


def test_load_corpus_skips_a_bad_file_and_keeps_the_good_ones(tmp_path, caplog):
    (tmp_path / "000_good.txt").write_text("好标题\n\n■张三\n\n正文第一句。\n", "utf-8")
    (tmp_path / "001_binary.txt").write_bytes(b"\x00\x01\x02" * 50)
    (tmp_path / "002_empty.md").write_bytes(b"")
    (tmp_path / "003_good.md").write_bytes("另一个标题\n\n■李四\n\n另一段正文。\n".encode("gb18030"))
    with caplog.at_level(logging.WARNING, logger="rag.ingest"):
        articles, errors = load_corpus(tmp_path)
    assert [a.title for a in articles] == ["好标题", "另一个标题"]
    assert sorted(e.path.name for e in errors) == ["001_binary.txt", "002_empty.md"]
    assert "001_binary.txt" in caplog.text and "002_empty.md" in caplog.text


def test_load_corpus_reads_txt_and_md_recursively_in_sorted_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "002_x.md").write_text("乙标题\n\n■乙\n\n乙正文。\n", "utf-8")
    (tmp_path / "001_y.txt").write_text("甲标题\n\n■甲\n\n甲正文。\n", "utf-8")
    (tmp_path / "notes.csv").write_text("not,a,page\n", "utf-8")
    articles, errors = load_corpus(tmp_path)
    assert errors == []
    assert [(a.file, a.id) for a in articles] == [("001_y.txt", "001-01"), ("b/002_x.md", "b/002-01")]


def test_article_ids_do_not_change_when_another_file_changes(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    before = {a.id: (a.file, a.title) for a in load_corpus(corpus)[0]}
    other = page("001").name
    (corpus / other).write_text("全新的标题\n\n■某人\n\n全新的正文。\n", "utf-8")
    after = {a.id: (a.file, a.title) for a in load_corpus(corpus)[0]}
    unchanged = {k: v for k, v in before.items() if v[0] != other}
    assert unchanged and all(after[k] == v for k, v in unchanged.items())


def test_corpus_loads_without_errors_and_ids_are_unique():
    articles, errors = load_corpus(CORPUS)
    assert errors == []
    assert len({a.id for a in articles}) == len(articles)


# --------------------------------------------------------------------------- repairing text


def test_column_lines_broken_mid_word_are_joined_with_nothing_added():
    blocks = repair_page("■作者\n\n当前，以人工智能为代表的技\n\n术浪潮席卷全球，互联网传播规律发\n\n生深刻变革。\n")
    paras = [b.text for b in blocks if b.kind == "para"]
    assert paras == ["当前，以人工智能为代表的技术浪潮席卷全球，互联网传播规律发生深刻变革。"]


def test_space_inside_a_source_line_is_kept_and_edge_spaces_dropped():
    blocks = repair_page(" 鼓励小微企业抱团开拓东南亚、ASEAN 市\n\n场等新兴区域。\n")
    assert [b.text for b in blocks] == ["鼓励小微企业抱团开拓东南亚、ASEAN 市场等新兴区域。"]


def test_paragraph_break_is_kept_after_a_line_ending_a_sentence():
    blocks = repair_page("■作者\n\n第一段写完了。\n\n第二段开始，写到这里也写完了。\n")
    assert [b.text for b in blocks if b.kind == "para"] == ["第一段写完了。", "第二段开始，写到这里也写完了。"]


def test_long_line_ending_mid_word_continues_on_the_next_line():
    a = by_title("000", "着力推动")
    assert "协同布局人工智能、低空经济、商业航天" in a.text


def test_real_paragraph_breaks_survive_in_a_narrow_column_page():
    a = by_title("004", "加快推进")
    paras = a.text.split("\n")
    assert any(p.startswith("大力推动党的创新理论数字化普及。") for p in paras)
    assert any(p.startswith("大力推动构建数字化全媒体传播格局。") for p in paras)
    assert any(p.startswith("大力推动重庆数字文化产业高质量发展。") for p in paras)


def test_full_width_column_line_ending_in_a_full_stop_does_not_end_the_paragraph():
    # 004 line 63 ends "…国际会展之都”。" at the column edge; the paragraph goes on.
    a = by_title("004", "突出“双核”")
    assert "加快打造“国际会展名城”“国际会展之都”。共建巴蜀文化旅游走廊" in a.text


def test_table_rows_are_kept_whole_one_per_line():
    a = by_title("001", "2023年四川省网络举报")
    lines = a.text.split("\n")
    assert "| 1. 四川省科学技术厅 | 11. 中共凉山州委网信办 |" in lines
    assert "| 10. 中共广安市委网信办 | 20. 腾讯科技(成都)有限公司 |" in lines
    assert sum(1 for line in lines if line.startswith("|")) == 11


def test_list_items_are_kept_one_per_line():
    a = by_title("001", "共同打造")
    assert "- 共同建设一批数字化转型促进中心和工业互联网平台" in a.text.split("\n")


def test_photo_caption_does_not_cut_the_paragraph_it_interrupts():
    a = by_title("003", "突出“四侧”")
    assert "持续擦亮制造业这一重庆“金名片”。接下来" in a.text
    lines = a.text.split("\n")
    # the caption (003 line 31) is one whole line of its own, from its date to its photo credit
    caption = next(i for i, line in enumerate(lines) if line.endswith("记者 张锦辉 摄/视觉重庆"))
    assert lines[caption].startswith("2月21日,")
    assert "“金名片”。接下来" in lines[caption - 1]


def test_author_note_broken_over_lines_is_joined():
    a = by_title("004", "突出“双核”")
    assert a.note == "（作者单位：重庆市综合经济研究院）"


# --------------------------------------------------------------------------- splitting pages

EXPECTED_TITLES = {
    "000": [
        "着力推动“五个融合” 全面提升“33618”现代制造业集群发展能级和综合竞争力",
        "保持反腐败永远在路上的清醒坚定",
        "以“三个强化”提升重庆城市国际传播效能",
        "（版面缺标题）党的二十届四中全会强调，加强舆论引导，有效防范化…",
    ],
    "001": [
        "共同打造具有国际竞争力的先进制造业集群 川渝加快推进新型工业化",
        "四川省网络文明建设暨走好网上群众路线活动在成都举行 “1+5+N”四川联动辟谣机制正式建立",
        "2023年四川省网络举报和辟谣工作优秀组织单位名单",
    ],
    "002": [
        "积极抢占人工智能产业应用制高点",
        "以数字技术赋能提高文化领域治理水平",
        "持续激发干部队伍内生动力与整体活力",
        "党员干部增强党性要进一步到位",
    ],
    "003": [
        "突出“四侧”协同推动“四链”融合 构建“产业大脑+未来工厂”新模式 久久为功做大做强“33618”现代制造业集群体系",
        "我市启动工伤预防综合项目 川渝将开展新就业形态职业伤害保障试点",
        "彭水规范小微权力运行 追回集体资金20余万元",
        "我市发布《中小学校研学实践工作指引》 不得变相强制学生参加",
        "教师有“智慧助手” 学生有“学习伙伴” 重庆南开中学自主研发教育大模型",
        "长安汽车举行欧洲发布会 今年推出深蓝S07和阿维塔07,未来3年还将投放8款产品",
        None,  # page-edge fragment of an article whose headline is not on the page
    ],
    "004": [
        "突出“双核”引领提升城市能级 推动双城经济圈建设走深走实",
        "加快推进重庆数字文化建设",
    ],
}

EXPECTED_BYLINES = {
    "000": ["王志杰", "邵旭平", "罗辑", "陶秋胜"],
    "001": ["四川日报全媒体记者 王成栋", "华西都市报-封面新闻记者 苟春 杨涛 罗石芊", ""],
    "002": ["王峥", "刘畅 李思佳", "张世杰", "何海燕"],
    "003": [
        "新重庆-重庆日报记者 周雨 夏元 余振芳",
        "新重庆-重庆日报记者 黄乔 实习生 马厚雪",
        "新重庆-重庆日报首席记者 周尤",
        "新重庆-重庆日报记者 李志峰",
        "新重庆-重庆日报首席记者 张亦筑",
        "",
        "",
    ],
    "004": ["郑秋霞", "李珮 艾群博"],
}


@pytest.mark.parametrize("prefix", sorted(EXPECTED_TITLES))
def test_each_page_splits_into_the_articles_it_prints(prefix):
    titles = [a.title for a in articles_of(prefix)]
    expected = EXPECTED_TITLES[prefix]
    assert len(titles) == len(expected)
    for got, want in zip(titles, expected):
        if want is not None:
            assert got == want


@pytest.mark.parametrize("prefix", sorted(EXPECTED_BYLINES))
def test_each_article_has_the_byline_printed_with_it(prefix):
    assert [a.byline for a in articles_of(prefix)] == EXPECTED_BYLINES[prefix]


def test_author_notes_are_found_in_full_width_and_ascii_brackets():
    arts = {a.id: a for p in ("000", "002", "004") for a in articles_of(p)}
    notes = {k: a.note for k, a in arts.items()}
    assert notes["000-01"] == "（作者系市经济信息委党组书记、主任）"
    assert notes["004-01"] == "（作者单位：重庆市综合经济研究院）"
    assert notes["000-02"].startswith("（作者单位：") and notes["000-02"].endswith("研究项目成果）")
    assert notes["004-02"].startswith("（作者单位：") and notes["004-02"].endswith("中特理论项目：2024ZTZD26成果）")
    for k in ("002-01", "002-02", "002-03", "002-04"):  # the 002 page prints them in ASCII brackets
        assert notes[k].startswith("(作者") and notes[k].endswith(")"), k
        assert notes[k] in arts[k].text.split("\n"), k
    assert notes["000-03"] == "" and notes["000-04"] == ""


def test_ids_are_page_number_and_ordinal():
    assert [a.id for a in articles_of("002")] == ["002-01", "002-02", "002-03", "002-04"]


def test_article_text_is_title_then_byline_then_body_then_note():
    a = by_title("000", "保持反腐败")
    lines = a.text.split("\n")
    assert lines[0] == a.title
    assert lines[1] == "■邵旭平"
    assert lines[2].startswith("党的二十届四中全会提出")
    assert lines[-1] == a.note


def test_page_banner_is_kept_in_text_but_not_in_title():
    a = articles_of("000")[0]
    assert a.title == "着力推动“五个融合” 全面提升“33618”现代制造业集群发展能级和综合竞争力"
    assert a.text.split("\n")[0] == "深入学习贯彻党的二十届四中全会精神"
    assert not a.title_inferred


def test_article_without_printed_title_gets_an_inferred_one():
    a = articles_of("000")[3]
    assert a.title_inferred and a.title.startswith("（版面缺标题）党的二十届四中全会强调")
    assert a.byline == "陶秋胜" and "■" not in a.title
    assert a.text.startswith("■陶秋胜\n党的二十届四中全会强调")
    assert a.text.endswith("使主流舆论更具吸引力、感染力。</")


def test_article_cut_off_at_the_page_edge_keeps_its_text():
    a = by_title("000", "以“三个强化”")
    assert a.text.endswith("建立由宣传部门牵头，外")


def test_headline_printed_after_the_text_titles_that_article():
    first, second = articles_of("004")
    assert first.title.startswith("突出“双核”") and second.title.startswith("加快推进")
    assert first.text.startswith(first.title + "\n郑秋霞\n习近平总书记在重庆考察时强调")
    assert first.lines_for(0, 5) == (256, 256)
    assert "据《重庆日报》" in first.text.split("\n")
    assert second.text.startswith(second.title + "\n李珮 艾群博\n习近平总书记在主持中共中央")
    late = by_title("002", "党员干部增强党性")
    assert late.byline == "何海燕" and not late.title_inferred


def test_bylines_opening_a_paragraph_stay_in_the_body():
    a = by_title("003", "我市发布")
    assert a.byline == "新重庆-重庆日报记者 李志峰"
    assert a.text.split("\n")[1].startswith("本报讯(新重庆-重庆日报记者 李志峰)3月21日")


def test_subheads_stay_inside_their_article():
    a = by_title("003", "突出“四侧”")
    assert "为重庆制造业高质量发展贡献力量" in a.text.split("\n")
    b = by_title("001", "四川省网络文明")
    assert "多单位各领域齐参与 构建清朗网络空间" in b.text.split("\n")


def test_page_edge_fragment_is_not_glued_to_an_unrelated_article():
    changan = by_title("003", "长安汽车")
    assert "飞机棉" not in changan.text
    rest = articles_of("003")[-1]
    assert rest.title_inferred and rest.text.startswith("“飞机棉”应用于国产大飞机C919的底气")


def test_trailing_promo_stays_with_the_article_before_it():
    a = by_title("002", "党员干部增强党性")
    assert a.text.split("\n")[-1].startswith("扫码关注!")


@pytest.mark.parametrize("prefix", sorted(EXPECTED_TITLES))
def test_every_visible_character_of_a_page_is_in_exactly_one_article(prefix):
    p = page(prefix)
    source = Counter(c for c in read_text(p) if not c.isspace())
    got = Counter(c for a in split_articles(read_text(p), p.name) for c in a.text if not c.isspace())
    assert got == source


@pytest.mark.parametrize("prefix", sorted(EXPECTED_TITLES))
def test_segments_map_every_character_to_the_source_line_it_came_from(prefix):
    p = page(prefix)
    src = read_text(p).split("\n")
    covered = set()
    for a in split_articles(read_text(p), p.name):
        assert a.segments[0][0] == 0 and a.segments[-1][1] == len(a.text)
        for (s, e, line), nxt in zip(a.segments, a.segments[1:] + [(len(a.text), 0, 0)]):
            assert e == nxt[0]  # contiguous: separators belong to the line before
            piece = a.text[s:e].strip()
            assert piece and piece in src[line - 1], (a.id, piece, line)
            covered.add(line)
    assert covered == {n for n, line in enumerate(src, start=1) if line.strip()}


def test_line_lookup_spot_checks():
    a = articles_of("000")[0]
    i = a.text.index("■王志杰")
    assert a.lines_for(i, i + len("■王志杰")) == (9, 9)
    t = by_title("000", "（版面缺标题）")
    i = t.text.index("全面发力的关键时期，更加需要强有力")
    assert t.lines_for(i, i + len("全面发力的关键时期，更加需要强有力")) == (83, 85)
    n = articles_of("004")[0]
    i = n.text.index("（作者单位：")
    assert n.lines_for(i, len(n.text)) == (251, 254)
    c = by_title("003", "突出“四侧”")
    i = c.text.index("这一重庆“金名片”")
    assert c.lines_for(i, i + len("这一重庆“金名片”")) == (27, 33)


def test_quotes_of_the_source_are_found_with_line_breaks_removed():
    # what the evaluation does: source text with whitespace removed must appear in an article
    quotes = ["提质升级3大万亿级主导产业集群", "更加需要强有力的舆论引导统一思想、鼓舞斗志",
              "深化党员群众对党的创新理论的理解", "汽车产业整体规模达7500亿元", "彭水规范小微权力运行追回集体资金20余万元"]
    texts = [flat(a.text) for a in load_corpus(CORPUS)[0]]
    for q in quotes:
        assert any(q in t for t in texts), q


def test_short_unfinished_line_under_a_byline_is_body_not_a_headline():
    arts = split_articles("标题\n\n■甲\n\n正文写到一半被截\n\n新文章标题\n\n■乙\n\n新文章正文。\n", "009_x.txt")
    assert [(a.title, a.byline) for a in arts] == [("标题", "甲"), ("新文章标题", "乙")]
    assert arts[0].text == "标题\n■甲\n正文写到一半被截"


def test_narrow_column_page_with_headline_first_splits_and_joins():
    text = ("关于数字经济的思考\n\n■张三\n\n当前，以人工智能为代表的技\n\n术浪潮席卷全球，互联网传播规律发\n\n"
            "生深刻变革、意识形态斗争更加严\n\n峻复杂。\n\n始终站稳人民立场。随着AI技\n\n术进一步降低门槛，\n\n"
            "成为常态。\n\n（作者单位：某大学）\n\n另一篇的标题\n\n■李四\n\n第二篇正文。\n")
    first, second = split_articles(text, "009_x.txt")
    assert first.text.split("\n")[2:] == [
        "当前，以人工智能为代表的技术浪潮席卷全球，互联网传播规律发生深刻变革、意识形态斗争更加严峻复杂。",
        "始终站稳人民立场。随着AI技术进一步降低门槛，成为常态。",
        "（作者单位：某大学）",
    ]
    assert (second.title, second.byline) == ("另一篇的标题", "李四")


UNTITLED_AFTER_BYLINE = """临江区滨江大桥建成通车

■记者 王五

10月18日，临江区滨江大桥正式建成通车，主桥全长1280米。大桥由临江城建集团承建，施工全程采用BIM数字化管理，历时三年完成主体工程建设。

大桥日均车流量预计达到3万辆，将有效缓解老城区的交通压力，方便两岸居民出行。

■周明远

当前，城市更新进入新阶段，老旧小区改造需要更多居民参与。各街道要建立议事协商机制，让居民说了算，改造方案要先问需于民，再动工建设。

同时要做好长效管护，引入专业物业服务，确保改造成果长期保持，让群众的获得感更加持久。
"""


def test_an_untitled_article_keeps_its_byline_out_of_the_title():
    titled, untitled = split_articles(UNTITLED_AFTER_BYLINE, "900_test.txt")
    assert titled.title == "临江区滨江大桥建成通车"
    assert untitled.title_inferred
    assert untitled.byline == "周明远"
    assert "■" not in untitled.title and "周明远" not in untitled.title
    assert untitled.title == "（版面缺标题）当前，城市更新进入新阶段，老旧小区改造需要更多居…"
    assert untitled.text.startswith("■周明远\n当前"), "the byline line stays in the text"
