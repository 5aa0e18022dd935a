"""Reading what kind of answer a question asks for."""

from rag.questions import analyse, answer_shape, asked_measure


def test_quantity_question_carries_its_unit():
    kind = analyse("这家工厂一共引进了多少项新技术？")
    assert kind.unit == "项"
    assert kind.unit_pattern.search("去年引进17项新技术")
    assert not kind.unit_pattern.search("引进新技术")


def test_demonstrative_ji_is_not_a_quantity():
    assert analyse("这几期周刊登载的小说是谁写的？").unit == ""


def test_which_several_asks_for_a_list_not_a_number():
    kind = analyse("报告从哪几个方面分析？")
    assert kind.wants_list and kind.wants_sections and kind.unit == ""


def test_numbers_latin_names_and_quoted_titles_are_anchors():
    kind = analyse("2023年《校园安全手册》对StarBot有何规定？")
    assert set(kind.anchors) >= {"2023", "校园安全手册", "StarBot"}


def test_english_question_keeps_only_long_numbers_and_acronyms_as_anchors():
    kind = analyse("What did the 15th Five-Year Plan say about ASEAN in 2024?")
    assert kind.english
    assert "ASEAN" in kind.anchors and "2024" in kind.anchors and "15" not in kind.anchors


def test_english_headcount_question_needs_a_number_of_people():
    kind = analyse("How many employees does Changan plan to hire locally in Europe?")
    assert kind.unit_pattern.search("招募欧洲本地员工超1000人")
    assert not kind.unit_pattern.search("建设销售服务网点超1000家")
    assert not kind.unit_pattern.search("投资300亿元")


def test_two_questions_in_one_are_split_into_parts():
    kind = analyse("那本小说叫什么？它后来被改编成了什么电影？")
    assert kind.parts[0] == "那本小说叫什么"
    assert kind.parts[1].endswith("后来被改编成了什么电影")


def test_a_later_part_names_what_its_pronoun_stands_for():
    kind = analyse("那本小说叫什么？它后来被改编成了什么电影？")
    assert kind.parts[1] == "那本小说后来被改编成了什么电影"


def test_a_later_part_without_a_subject_gets_the_one_before():
    kind = analyse("志愿服务队是怎么组建的？想达到什么样的服务效果？")
    assert kind.parts[1] == "志愿服务队想达到什么样的服务效果"


def test_a_later_part_with_its_own_subject_is_left_alone():
    assert analyse("那本小说叫什么？作者来自哪所高校？").parts[1] == "作者来自哪所高校"


def test_a_pronoun_is_also_read_as_each_noun_phrase_of_the_part_before():
    readings = analyse("花园镇的游客中心在哪一年迁到了成都？它的面积有多大？").part_readings
    assert readings[1][0] == "花园镇的游客中心的面积有多大"  # the subject comes first
    assert "成都的面积有多大" in readings[1]
    assert len(readings[1]) <= 3


def test_readings_name_proper_nouns_before_common_ones():
    readings = analyse("哪一种作物在四川种得最多？它的气候怎样？").part_readings
    names = [r.removesuffix("的气候怎样") for r in readings[1]]
    assert names.index("四川") < names.index("作物")


def test_a_part_with_its_own_subject_has_one_reading():
    readings = analyse("那本小说叫什么？作者来自哪所高校？").part_readings
    assert readings == (("那本小说叫什么",), ("作者来自哪所高校",))


def test_a_single_question_has_no_readings():
    assert analyse("那本小说叫什么？").part_readings == ()


def test_a_closing_instruction_is_not_a_part():
    assert analyse("民间剪纸在两篇报道里被怎样介绍？请结合两篇报道回答。").parts == ()


def test_two_things_asked_about_respectively_become_two_questions():
    kind = analyse("重庆和四川的森林覆盖率分别是多少？")
    assert kind.parts == ("重庆的森林覆盖率是多少", "四川的森林覆盖率是多少")
    assert kind.wants_several


def test_coordinated_items_share_the_head_only_the_second_spells_out():
    kind = analyse("今年第三次和第六次座谈会分别听取了什么报告？")
    assert kind.parts == ("今年第三次座谈会听取了什么报告", "今年第六次座谈会听取了什么报告")


def test_unlike_coordinated_names_keep_their_own_words():
    # 青石 and 南岭 are not two of one kind sharing the head word 书院.
    assert analyse("青石和南岭书院分别在哪里？").parts == ("青石在哪里", "南岭书院在哪里")


def test_the_predicate_after_coordinated_names_stays_with_the_question():
    assert analyse("南岭书院和花鼓经分别是什么？").parts == ("南岭书院是什么", "花鼓经是什么")


def test_the_and_inside_a_name_does_not_split_it():
    assert analyse("青石共和国和南岭书院分别在哪里？").parts == ("青石共和国在哪里", "南岭书院在哪里")


def test_an_and_the_tagger_joins_to_a_name_still_splits_the_question():
    assert analyse("请分别介绍白沙湾和秋明镇。").parts == ("请介绍白沙湾", "请介绍秋明镇")


def test_an_item_no_tag_calls_a_noun_is_kept_whole():
    assert analyse("云雾山和讽刺分别是什么？").parts == ("云雾山是什么", "讽刺是什么")


def test_and_without_respectively_is_one_question():
    assert analyse("重庆和四川的森林覆盖率是多少？").parts == ()


def test_emphasis_quotes_are_soft_anchors_but_book_titles_stay_hard():
    kind = analyse("《校园安全手册》如何推动安全教育“进课堂”？")
    assert "校园安全手册" in kind.anchors and "校园安全手册" not in kind.soft_anchors
    assert kind.soft_anchors == ("进课堂",) and "进课堂" not in kind.anchors


def test_author_question_is_recognised():
    assert analyse("这本诗集的作者在哪家医院工作？").about_author


def test_years_periods_places_and_ordinals_are_constraints_of_their_kinds():
    kinds = {(c.text, c.kind) for c in analyse("2022年上半年成都市第三次会议通过了什么？").constraints}
    assert {("2022年", "time"), ("上半年", "time"), ("成都市", "place"), ("第三次", "number")} <= kinds


def test_a_book_title_is_a_name_constraint():
    assert ("远山的回声", "name") in {(c.text, c.kind) for c in analyse("《远山的回声》写于哪一年？").constraints}


def test_the_question_word_says_what_kind_of_thing_is_asked_for():
    assert analyse("这座桥是谁设计的？").wants == "person"
    assert analyse("这座桥建于哪一年？").wants == "time"
    assert analyse("这座桥有多长？").wants == "number"
    assert analyse("这座桥位于哪个城市？").wants == "place"
    assert analyse("When was the bridge built?").wants == "time"
    assert analyse("这座桥为什么出名？").wants == "other"


def test_a_why_question_asks_for_a_sentence_that_states_a_cause():
    shape = answer_shape("滨江大桥为什么推迟通车？")
    assert shape.search("由于汛期提前，滨江大桥推迟通车。")
    assert not shape.search("滨江大桥于十月通车。")


def test_a_how_many_question_asks_for_a_number_in_its_measure_word():
    assert asked_measure("新校区占地多少平方米？") == "平方米"
    shape = answer_shape("新校区占地多少平方米？")
    assert shape.search("新校区占地3.5万平方米。")
    assert not shape.search("新校区有32个班级。")


def test_which_place_in_a_ranking_asks_for_an_ordinal_not_a_measure_word():
    assert asked_measure("该市的经济总量排名第几位？") == ""
    assert answer_shape("该市的经济总量排名第几位？").search("该市经济总量居全省第三。")


def test_almost_is_not_a_question_of_quantity():
    assert asked_measure("他几乎每天都去江边做什么？") == ""
