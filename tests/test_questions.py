"""Reading what kind of answer a question asks for."""

from rag.questions import analyse


def test_quantity_question_carries_its_unit():
    kind = analyse("川渝一共分解了多少项工作任务？")
    assert kind.unit == "项"
    assert kind.unit_pattern.search("共同分解49项工作任务")
    assert not kind.unit_pattern.search("共同分解工作任务")


def test_demonstrative_ji_is_not_a_quantity():
    assert analyse("这几期理论版的文章作者来自哪所高校？").unit == ""


def test_which_several_asks_for_a_list_not_a_number():
    kind = analyse("文章从哪几个方面论述？")
    assert kind.wants_list and kind.wants_sections and kind.unit == ""


def test_numbers_latin_names_and_quoted_titles_are_anchors():
    kind = analyse("2023年《研学实践指引》对AI·NK有何规定？")
    assert set(kind.anchors) >= {"2023", "研学实践指引", "AI·NK"}


def test_english_question_keeps_only_long_numbers_and_acronyms_as_anchors():
    kind = analyse("What did the 15th Five-Year Plan say about RCEP in 2024?")
    assert kind.english
    assert "RCEP" in kind.anchors and "2024" in kind.anchors and "15" not in kind.anchors


def test_english_headcount_question_needs_a_number_of_people():
    kind = analyse("How many employees work at the factory?")
    assert kind.unit_pattern.search("员工300人")
    assert not kind.unit_pattern.search("投资300亿元")


def test_two_questions_in_one_are_split_into_parts():
    kind = analyse("那款机器人叫什么？它后来在什么场合亮过相？")
    assert kind.parts[0] == "那款机器人叫什么"
    assert kind.parts[1].endswith("后来在什么场合亮过相")


def test_a_later_part_names_what_its_pronoun_stands_for():
    kind = analyse("那款机器人叫什么？它后来在什么场合亮过相？")
    assert kind.parts[1] == "那款机器人后来在什么场合亮过相"


def test_a_later_part_without_a_subject_gets_the_one_before():
    kind = analyse("联动辟谣机制是怎么构成的？想形成什么样的工作格局？")
    assert kind.parts[1] == "联动辟谣机制想形成什么样的工作格局"


def test_a_later_part_with_its_own_subject_is_left_alone():
    assert analyse("那款机器人叫什么？作者来自哪所高校？").parts[1] == "作者来自哪所高校"


def test_a_closing_instruction_is_not_a_part():
    assert analyse("巴渝文化在两篇文章里被怎样运用？请结合两篇文章回答。").parts == ()


def test_two_things_asked_about_respectively_become_two_questions():
    kind = analyse("重庆和四川的工业增加值分别是多少？")
    assert kind.parts == ("重庆的工业增加值是多少", "四川的工业增加值是多少")
    assert kind.wants_several


def test_coordinated_items_share_the_head_only_the_second_spells_out():
    kind = analyse("联席会议第八次和第十次会议分别突出了什么主题？")
    assert kind.parts == ("联席会议第八次会议突出了什么主题", "联席会议第十次会议突出了什么主题")


def test_and_without_respectively_is_one_question():
    assert analyse("重庆和四川的工业增加值是多少？").parts == ()


def test_emphasis_quotes_are_soft_anchors_but_book_titles_stay_hard():
    kind = analyse("《研学实践指引》如何推动数字文化“走出去”？")
    assert "研学实践指引" in kind.anchors and "研学实践指引" not in kind.soft_anchors
    assert kind.soft_anchors == ("走出去",) and "走出去" not in kind.anchors


def test_measured_noun_is_found_before_the_measure_word():
    assert "参数" in analyse("这个大模型的参数规模有多大？").measured


def test_author_question_is_recognised():
    assert analyse("这篇文章的作者在哪个单位任职？").about_author
