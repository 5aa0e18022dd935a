"""Follow-up questions read in the context of the previous turn: one behaviour per test."""

from __future__ import annotations

from rag.followup import rewrite_question

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
