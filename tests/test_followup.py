"""Follow-up questions read in the context of the previous turn: one behaviour per test."""

from __future__ import annotations

from rag.followup import rewrite, rewrite_question

INDUSTRY = "川渝汽车产业整体规模有多大？"
NANKAI = "重庆南开中学的教育大模型是在哪天正式启动的？"
CHANGAN_EN = "What is the global user brand that Changan Automobile will create for customers in Europe called?"


def test_no_history_leaves_the_question_alone():
    assert rewrite_question("那四川呢？", []) == "那四川呢？"


def test_a_question_that_stands_on_its_own_is_unchanged():
    q = "长安汽车计划2025年出口多少万辆？"
    assert rewrite_question(q, [(INDUSTRY, "……[1]")]) == q


def test_an_english_question_that_stands_on_its_own_is_unchanged():
    assert rewrite_question(CHANGAN_EN, [(INDUSTRY, "……[1]")]) == CHANGAN_EN


def test_na_place_ne_swaps_the_place_of_the_previous_question():
    assert rewrite_question("那四川呢？", [(INDUSTRY, "……[1]")]) == "四川汽车产业整体规模有多大？"


def test_place_ne_without_na_works_too():
    assert rewrite_question("四川呢", [(INDUSTRY, "……")]) == "四川汽车产业整体规模有多大？"


def test_a_chain_of_follow_ups_resolves_against_the_resolved_previous_question():
    history = [(INDUSTRY, "……[1]"), ("那四川呢？", "……[1]")]
    assert rewrite_question("重庆呢？", history) == "重庆汽车产业整体规模有多大？"


def test_a_year_swaps_for_the_year_of_the_previous_question():
    assert rewrite_question("那2024年呢？", [("2023年重庆GDP是多少？", "……")]) == "2024年重庆GDP是多少？"


def test_a_noun_of_the_same_kind_swaps_for_its_counterpart():
    assert rewrite_question("那巴蜀中学呢？", [(NANKAI, "……")]) == "巴蜀中学的教育大模型是在哪天正式启动的？"


def test_an_elliptical_question_with_nothing_to_swap_asks_it_of_the_previous_topic():
    # Not the two questions glued together: that searched the previous question again.
    assert rewrite_question("那么增速呢？", [(NANKAI, "……")]) == "重庆南开中学的教育大模型的增速如何？"


def test_ta_is_replaced_by_the_topic_of_the_previous_question():
    assert rewrite_question("它有什么功能？", [(NANKAI, "……")]) == "重庆南开中学的教育大模型有什么功能？"


def test_zhege_noun_takes_the_previous_phrase_ending_in_that_noun():
    assert rewrite_question("这个大模型有什么功能？", [(NANKAI, "……")]) == "重庆南开中学的教育大模型有什么功能？"


def test_qi_becomes_the_topic_with_de():
    assert rewrite_question("其目标是什么？", [(INDUSTRY, "……")]) == "川渝汽车产业整体规模的目标是什么？"


def test_english_what_about_swaps_the_place():
    q = rewrite_question("what about Sichuan?", [("How large is Chongqing's automotive industry?", "…")])
    assert q == "How large is Sichuan's automotive industry?"


def test_english_and_in_year_swaps_the_year():
    q = rewrite_question("and in 2024?", [("What was Chongqing's GDP in 2023?", "…")])
    assert q == "What was Chongqing's GDP in 2024?"


def test_english_it_is_replaced_by_the_topic():
    q = rewrite_question("Who will run it?", [(CHANGAN_EN, "…")])
    assert q == "Who will run the global user brand that Changan Automobile will create for customers in Europe?"


def test_the_second_one_resolves_to_the_second_numbered_item_of_the_answer():
    answer = "1. Cars [1]\n2. Electronics [2]\n3. Materials [1]"
    q = rewrite_question("what about the second one?", [("What are the industries?", answer)])
    assert q == 'What is said about "Electronics"?'


def test_dierge_resolves_to_the_second_item_of_an_enumeration():
    answer = "深化智能网联新能源汽车、电子信息、装备制造、先进材料等万亿级产业集群建设。[1]"
    assert rewrite_question("第二个是什么？", [("有哪些产业集群？", answer)]) == "“电子信息”是什么？"


def test_the_second_source_resolves_to_what_citation_two_supports():
    answer = "两地汽车产业整体规模达7500亿元。[1]两地电子信息制造业规模突破1.6万亿元。[2]"
    q = rewrite_question("the second source?", [("川渝合作成效如何？", answer)])
    assert q == '"两地电子信息制造业规模突破1.6万亿元"?'


def test_an_ordinal_with_nothing_to_resolve_leaves_the_question_alone():
    assert rewrite_question("第二季度呢怎么样？", [(INDUSTRY, "没有列表")]) == "第二季度呢怎么样？"


def test_rewriting_is_deterministic():
    history = [(INDUSTRY, "……[1]")]
    assert len({rewrite_question("那四川呢？", history) for _ in range(5)}) == 1


def test_ellipsis_replaces_what_the_previous_question_counted():
    history = [("明月湖基地集聚了多少全职创业者？", "……")]
    assert rewrite_question("那项目团队呢？", history) == "明月湖基地集聚了多少项目团队？"


# --- the three failures -------------------------------------------------------------------
def test_na_industry_ne_swaps_the_industry_and_keeps_the_place():
    # Was searched as both questions glued together, and answered with the previous answer.
    assert rewrite_question("那电子信息产业呢？", [(INDUSTRY, "……[1]")]) == "川渝电子信息产业整体规模有多大？"


def test_an_industry_of_another_head_noun_is_still_an_industry():
    assert rewrite_question("那电子信息制造业呢？", [(INDUSTRY, "……[1]")]) == "川渝电子信息制造业整体规模有多大？"


def test_a_single_place_replaces_a_pair_of_places_with_its_counter_word():
    # Was 「四川两地…」.
    q = rewrite_question("那四川呢？", [("川渝两地的汽车产业规模有多大？", "……[1]")])
    assert q == "四川的汽车产业规模有多大？"


def test_repeating_a_pronoun_follow_up_six_times_does_not_snowball():
    history: list[tuple[str, str]] = [(INDUSTRY, "两地汽车产业整体规模达7500亿元。[1]")]
    rewrites = []
    for _ in range(6):
        rewrites.append(rewrite_question("它后来怎么样了？", history))
        history.append(("它后来怎么样了？", "……[1]"))
    assert set(rewrites) == {"川渝汽车产业整体规模后来怎么样了？"}


def test_repeating_a_follow_up_over_rewritten_history_does_not_snowball_either():
    # `rag chat` used to keep the rewritten questions as history: 「…的目标的目标…」 must not grow.
    history: list[tuple[str, str]] = [(INDUSTRY, "……[1]")]
    rewrites = []
    for _ in range(6):
        out = rewrite_question("它的目标是什么？", history)
        rewrites.append(out)
        history.append((out, "……[1]"))
    assert set(rewrites) == {"川渝汽车产业整体规模的目标是什么？"}


def test_a_mixed_chain_of_follow_ups_stays_bounded():
    history: list[tuple[str, str]] = []
    previous = ""
    for q in ["成都地铁运营里程有多长？", "那重庆呢？", "它的客流量呢？", "其中工作日是多少？", "不是重庆，是成都",
              "那2024年呢？", "它后来怎么样了？", "它后来怎么样了？"]:
        out = rewrite_question(q, history)
        if previous:
            assert len(out) <= len(previous) + len(q)
        previous = out
        history.append((q, "……[1]"))
    assert len(previous) < 40


# --- each kind of follow-up -------------------------------------------------------------------------
def test_ta_de_attribute_ne_asks_the_attribute_of_the_previous_topic():
    assert rewrite_question("它的客流量呢？", [("重庆地铁运营里程有多长？", "……")]) == "重庆地铁运营里程的客流量如何？"


def test_a_later_place_ellipsis_looks_back_past_a_turn_that_names_no_place():
    history = [("重庆地铁运营里程有多长？", "……"), ("它的日均客流量是多少？", "……")]
    assert rewrite_question("那成都呢？", history) == "成都地铁运营里程的日均客流量是多少？"


def test_a_person_ellipsis_swaps_the_person():
    assert rewrite_question("那李娜呢？", [("记者张伟报道了哪座大桥？", "……")]) == "记者李娜报道了哪座大桥？"


def test_a_quoted_term_swaps_for_the_last_quoted_term_of_the_previous_question():
    q = rewrite_question("那“丙”呢？", [("“甲乙丙”计划中的“甲”代表什么？", "……")])
    assert q == "“甲乙丙”计划中的“丙”代表什么？"


def test_ta_refers_to_the_person_the_previous_answer_named_after_a_title():
    history = [("成都天府大桥由谁设计？", "据介绍，总工程师刘建国表示，大桥采用钢箱梁。[1]")]
    assert rewrite_question("他还负责什么？", history) == "刘建国还负责什么？"


def test_tamen_refers_to_the_persons_named_together():
    q = rewrite_question("他们建议怎么做？", [("王建国、李明华认为成都应优先发展什么？", "……")])
    assert q == "王建国、李明华建议怎么做？"


def test_qizhong_asks_within_the_previous_topic():
    q = rewrite_question("其中地下线路有多少？", [("成都地铁线路总长度是多少？", "……")])
    assert q == "成都地铁线路总长度中地下线路有多少？"


def test_a_follow_up_without_a_subject_takes_the_previous_topic():
    assert rewrite_question("同比增长了多少？", [("成都地铁客运量达到多少？", "……")]) == "成都地铁客运量同比增长了多少？"


def test_shi_na_yi_nian_takes_the_previous_topic_as_its_subject():
    assert rewrite_question("是哪一年开通的？", [("成都地铁有几条线路？", "……")]) == "成都地铁是哪一年开通的？"


def test_zheyi_noun_takes_the_previous_phrase_that_ends_in_it():
    q = rewrite_question("这个联合体有多少成员？", [("哪家公司牵头组建了智能汽车创新联合体？", "……")])
    assert "智能汽车创新联合体有多少成员" in q


def test_bushi_a_shi_b_replaces_a_in_the_previous_question():
    assert rewrite_question("不是2023年，是2022年", [("2023年重庆GDP是多少？", "……")]) == "2022年重庆GDP是多少？"


def test_a_correction_naming_only_b_replaces_the_thing_of_its_kind():
    assert rewrite_question("我是说成都", [("重庆地铁运营里程有多长？", "……")]) == "成都地铁运营里程有多长？"


def test_a_correction_of_a_person_replaces_the_person():
    assert rewrite_question("不是张伟，是李娜", [("张伟是哪个区的区长？", "……")]) == "李娜是哪个区的区长？"


def test_later_turns_build_on_the_corrected_question():
    history = [("重庆地铁运营里程有多长？", "……"), ("不对，我是说成都", "……")]
    assert rewrite_question("那2024年呢？", history) == "2024年成都地铁运营里程有多长？"


def test_english_no_i_meant_swaps_the_place():
    q = rewrite_question("No, I meant Sichuan", [("How long is the metro network of Chongqing?", "…")])
    assert q == "How long is the metro network of Sichuan?"


def test_the_first_item_without_a_list_in_the_answer_is_not_guessed_from_a_citation():
    q = rewrite_question("第一项是什么？", [("大会部署了多少项重大任务？", "大会部署了7项重大任务。[1]")])
    assert "7项重大任务" not in q.replace("大会部署了多少项重大任务", "")


def test_english_them_after_how_many_is_the_counted_thing():
    q = rewrite_question("Where do they work?", [("How many engineers does Huawei employ in Chengdu?", "…")])
    assert q == "Where do the engineers of Huawei work?"


def test_english_what_about_a_phrase_with_the_same_head_noun_swaps_the_phrase():
    q = rewrite_question("What about the textile industry?", [("How large is the steel industry of Hubei?", "…")])
    assert q == "How large is the textile industry of Hubei?"


def test_english_and_with_a_question_of_its_own_takes_the_names_it_lacks():
    q = rewrite_question("And what is the target for 2026?", [("How many buses did Yutong Group build in 2024?", "…")])
    assert q == "What is the target for 2026 (Yutong Group)?"


def test_english_it_after_a_passive_question_is_the_subject_without_its_participle():
    q = rewrite_question("Who designed it?", [("When was the Chaotianmen Bridge opened?", "…")])
    assert q == "Who designed the Chaotianmen Bridge?"


def test_history_items_with_missing_parts_are_read_without_error():
    history = [(INDUSTRY,), None, ("", "……"), [INDUSTRY, None]]
    assert rewrite_question("那四川呢？", history) == "四川汽车产业整体规模有多大？"


def test_a_huge_earlier_turn_does_not_make_the_rewrite_huge():
    history = [("川渝" + "汽车" * 20000 + "产业规模有多大？", "两地" * 50000)]
    assert len(rewrite_question("那四川呢？", history)) <= 4000 + 10


def test_a_pronoun_also_carries_the_other_noun_phrases_of_the_previous_question_as_readings():
    done = rewrite("它的面积有多大？", [("花园镇的游客中心在哪一年迁到了成都？", "")])
    assert done.text == "花园镇的游客中心的面积有多大？"  # the topic is still the rewrite
    assert done.readings == ("成都的面积有多大？",)


def test_an_english_pronoun_has_no_other_readings():
    done = rewrite("How big is it?", [("When did the visitor centre move to Chengdu?", "")])
    assert done.readings == ()
