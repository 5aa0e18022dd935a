"""Fitting the learned reader: on a small benchmark made here (two passages per article, so hiding
one leaves a sibling on the same topic), the fit separates answerable questions from questions
whose gold passage is hidden, on questions it was not fitted on; and it is deterministic."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.answer.features import UNIT_FEATURES
from rag.answer.reader import Boosted, Linear, Reader, ReaderError, load_reader
from rag.answer.train import (
    TREE_PARAMS,
    Asked,
    _fit_listwise,
    _fit_trees,
    _fit_unit_trees,
    collect,
    evidence_rows,
    fit_reader,
    fit_units,
    out_of_fold,
    out_of_fold_units,
)
from rag.bench import (
    article_texts,
    ensure_bench_index,
    hidden_passages,
    load_bench,
    open_bench_engine,
    still_answerable,
)
from rag.nearmiss import twins

TOWNS = ["青石", "白沙", "红岩", "金竹", "银杏", "松溪", "柳塘", "桃源", "梅岭", "竹山", "石门", "云台", "凤鸣", "龙泉"]
RIVERS = ["清江", "乌江", "沱江", "涪江", "嘉陵江", "綦江", "大宁河", "小江", "龙河", "御临河", "濑溪河", "芙蓉江", "任河", "梅溪河"]
GOODS = ["柑橘", "茶叶", "竹笋", "蜂蜜", "花椒", "核桃", "香菇", "脐橙", "板栗", "莲藕", "青梅", "猕猴桃", "枇杷", "杨梅"]
BUILDERS = ["张守义", "李延年", "王承恩", "赵德芳", "陈子昂", "周敦颐", "吴道子", "郑板桥", "孙思邈", "马致远", "黄庭坚", "胡雪岩", "朱熹", "沈括"]


def _bench(folder):
    passages, questions = [], []
    for i, town in enumerate(TOWNS):
        title = f"{town}镇"
        geo, hist = f"{i}-1", f"{i}-2"
        passages.append({"id": geo, "title": title, "text": f"{town}镇位于{RIVERS[i]}畔，气候温和。当地盛产{GOODS[i]}，远销各地。"})
        passages.append({"id": hist, "title": title, "text": f"{town}镇历史悠久，老街建于{1500 + 7 * i}年，由{BUILDERS[i]}主持修建。"})
        questions += [
            {"id": f"{geo}-a", "question": f"{town}镇盛产什么特产？", "answers": [GOODS[i]], "passage_ids": [geo]},
            {"id": f"{geo}-b", "question": f"{town}镇位于哪条河边？", "answers": [RIVERS[i]], "passage_ids": [geo]},
            {"id": f"{hist}-a", "question": f"{town}镇的老街是哪一年修建的？", "answers": [f"{1500 + 7 * i}年"], "passage_ids": [hist]},
            {"id": f"{hist}-b", "question": f"{town}镇老街由谁主持修建？", "answers": [BUILDERS[i]], "passage_ids": [hist]},
        ]
    folder.mkdir()
    for name, rows in (("passages.jsonl", passages), ("questions.jsonl", questions)):
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return load_bench(folder)


@pytest.fixture(scope="module")
def asked(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    bench = _bench(root / "towns")
    index_dir, _ = ensure_bench_index(bench, root / "index", embedder="minilm")
    engine = open_bench_engine(index_dir, embedder="minilm", model=Reader.untrained())
    return collect(engine, bench.questions, still_answerable(bench), twins=twins(bench.questions, article_texts(bench)),
                   articles=hidden_passages(bench, "article"))


def test_collection_asks_each_question_normally_and_with_its_gold_hidden(asked):
    normal = [a for a in asked if not a.hidden and not a.near_miss]
    hidden = [a for a in asked if a.hidden and not a.whole_article]
    assert len(hidden) == 4 * len(TOWNS)
    assert normal and all(a.labels.sum() >= 1 for a in normal)
    assert all(a.labels.sum() == 0 for a in hidden)


def test_collection_asks_once_more_with_the_whole_gold_article_gone(asked):
    whole = [a for a in asked if a.whole_article]
    assert len(whole) == 4 * len(TOWNS)  # every town has a sibling passage, so this hides more than the gold
    assert all(a.hidden and not a.answerable for a in whole)
    town = lambda a: a.qid.split("-")[0]  # noqa: E731
    assert all(not any(h.chunk.article_id.split("-")[0] == town(a) for h in a.hits) for a in whole)


def test_a_reader_fitted_without_whole_article_negatives_says_how_many_it_had(asked):
    with_them = fit_reader(asked)
    without = fit_reader([a for a in asked if not a.whole_article])
    assert with_them.card["fitted_on_hidden_articles"] == 4 * len(TOWNS)
    assert without.card["fitted_on_hidden_articles"] == 0


@pytest.mark.parametrize("model", ["trees", "linear"])
def test_the_fit_separates_answerable_from_hidden_gold_on_held_apart_towns(asked, model):
    town = lambda a: int(a.qid.split("-")[0])  # noqa: E731
    fit = [a for a in asked if town(a) < 10]
    held = [a for a in asked if town(a) >= 10]
    reader = fit_reader(fit, evidence_model=model)
    x, y = evidence_rows(held, reader.unit)
    p = np.array([reader.probability(row) for row in x])
    assert p[y == 1].mean() > p[y == 0].mean() + 0.2
    decided = (p >= reader.threshold) == (y == 1)
    assert decided.mean() >= 0.75


def test_near_miss_twins_are_negatives_asked_with_their_gold_article_in_view(asked):
    near = [a for a in asked if a.near_miss]
    assert len(near) >= len(TOWNS)  # at least the year of every town's old street changes
    assert all(not a.answerable and a.labels.sum() == 0 and not a.hidden for a in near)
    # each twin asks something else than its original
    assert all(a.view.kind.text != b.view.kind.text for a in near for b in asked if b.qid == a.qid and not b.near_miss)


def test_the_fit_refuses_near_miss_twins_of_held_apart_towns_more_than_their_originals(asked):
    town = lambda a: int(a.qid.split("-")[0])  # noqa: E731
    reader = fit_reader([a for a in asked if town(a) < 10])
    held = [a for a in asked if town(a) >= 10 and not a.hidden]
    x, y = evidence_rows(held, reader.unit)
    p = np.array([reader.probability(row) for row in x])
    near = np.array([a.near_miss for a in held])
    assert p[~near & (y == 1)].mean() > p[near].mean() + 0.2


def test_fitting_is_deterministic(asked):
    assert fit_reader(asked).as_dict() == fit_reader(asked).as_dict()


def test_saved_parameters_load_back_equal(asked, tmp_path):
    reader = fit_reader(asked)
    path = reader.save(tmp_path / "reader.json")
    assert load_reader(str(path)).as_dict() == reader.as_dict()


def test_damaged_parameters_are_one_clear_error(tmp_path):
    bad = tmp_path / "reader.json"
    bad.write_text("{not json", "utf-8")
    with pytest.raises(ReaderError, match="damaged"):
        load_reader(str(bad))


def test_parameters_fitted_on_other_features_are_refused(asked, tmp_path):
    d = fit_reader(asked).as_dict()
    d["unit"]["features"] = d["unit"]["features"][:-1] + ["something_else"]
    path = tmp_path / "reader.json"
    path.write_text(json.dumps(d), "utf-8")
    with pytest.raises(ReaderError, match="refit"):
        load_reader(str(path))


def test_rag_train_writes_parameters_with_a_model_card(tmp_path, monkeypatch, capsys):
    from rag.cli import main

    monkeypatch.setenv("YUWEN_CACHE", str(tmp_path / "cache"))
    _bench(tmp_path / "towns")
    out = tmp_path / "reader.json"
    assert main(["train", "--bench", str(tmp_path / "towns"), "--embedder", "minilm", "--out", str(out)]) == 0
    card = load_reader(str(out)).card
    assert card["data"] == "towns" and card["data_hash"] and card["command"].startswith("rag train")
    assert card["fitted_on_hidden"] > 0 and card["fitted_on_near_miss"] > 0


@pytest.mark.parametrize("folds", ["1", "-3", "500"])
def test_a_fold_count_that_cannot_work_is_one_line_before_anything_is_read(tmp_path, capsys, folds):
    from rag.cli import main

    assert main(["train", "--bench", str(tmp_path / "none"), "--unit-folds", folds]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --unit-folds") and "\n" not in err


def test_trees_give_the_logits_scikit_learn_gives():
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4))
    y = (x[:, 0] * x[:, 1] + x[:, 2] > 0).astype(float)
    names = ("a", "b", "c", "d")
    ours = _fit_trees(x, y, names)
    theirs = HistGradientBoostingClassifier(**TREE_PARAMS, early_stopping=False, random_state=0).fit(x, y)
    assert np.allclose(ours.logits(x), theirs.decision_function(x))


def test_a_tree_file_whose_arrays_do_not_fit_together_is_refused(asked, tmp_path):
    d = fit_reader(asked, evidence_model="trees").as_dict()
    d["evidence"]["trees"][0]["left"] = d["evidence"]["trees"][0]["left"][:-1]
    path = tmp_path / "reader.json"
    path.write_text(json.dumps(d), "utf-8")
    with pytest.raises(ReaderError, match="damaged"):
        load_reader(str(path))


def test_out_of_fold_probabilities_do_not_remember_their_own_labels():
    # Labels that are noise: a model asked about the rows it was fitted on finds a pattern there;
    # one fitted without them cannot, so the refusal threshold is not read off flattery.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 5))
    y = rng.integers(0, 2, size=400).astype(float)
    groups = [str(i // 4) for i in range(400)]
    in_sample = 1 / (1 + np.exp(-_fit_trees(x, y, tuple("abcde")).logits(x)))
    oof = out_of_fold(x, y, groups, "trees")
    gap = lambda p: p[y == 1].mean() - p[y == 0].mean()  # noqa: E731
    assert gap(in_sample) > 0.2
    assert abs(gap(oof)) < 0.1


def test_the_answer_probability_falls_below_the_threshold_exactly_when_either_model_declines():
    from rag.answer.features import EVIDENCE_FEATURES, UNIT_FEATURES
    from rag.answer.reader import Linear

    n = len(EVIDENCE_FEATURES)

    def on_first(weight: float, index: int) -> Linear:  # logit = weight * row[index]
        w = np.zeros(n)
        w[index] = weight
        return Linear(EVIDENCE_FEATURES, np.zeros(n), np.ones(n), w, 0.0)

    unit = Linear(UNIT_FEATURES, np.zeros(len(UNIT_FEATURES)), np.ones(len(UNIT_FEATURES)), np.zeros(len(UNIT_FEATURES)), 0.0)
    reader = Reader(unit=unit, evidence=on_first(1.0, 0), threshold=0.3, constraint=on_first(1.0, 1), constraint_threshold=0.1)
    for e in (-3.0, -0.5, 0.0, 2.0):
        for c in (-4.0, -2.5, -1.0, 3.0):
            row = np.zeros(n)
            row[0], row[1] = e, c
            declines = 1 / (1 + np.exp(-e)) < 0.3 or 1 / (1 + np.exp(-c)) < 0.1
            assert (reader.probability(row) < reader.threshold) == declines
    assert Reader.from_dict(reader.as_dict()).as_dict() == reader.as_dict()


def _asked_pair(i: int, answer_before: bool):
    """A made-up question whose best-scored unit opens with a pronoun when the answer stands in
    the sentence before it, and with a name when the best unit holds the answer itself."""
    from rag.answer.features import UNIT_FEATURES, QuestionView, Unit
    from rag.answer.train import Asked
    from rag.questions import analyse

    town = TOWNS[i % len(TOWNS)]
    texts = [f"{town}镇建成{GOODS[i % len(GOODS)]}加工厂。", f"它是全省最大的加工厂，年产{i + 3}万吨。"] if answer_before \
        else [f"{town}镇气候温和，雨水充沛。", f"{BUILDERS[i % len(BUILDERS)]}主持修建了{town}镇的加工厂。"]
    units = [Unit(hit=0, article_id=f"a{i}", start=20 * n, end=20 * n + len(t), text=t, order=n) for n, t in enumerate(texts)]
    rows = np.zeros((2, len(UNIT_FEATURES)), dtype=np.float32)
    rows[:, 0] = [0.2, 0.9]  # the second unit scores best (the unit model below reads "dense" alone)
    labels = np.array([1.0, 0.0] if answer_before else [0.0, 1.0], dtype=np.float32)
    view = QuestionView.of(analyse("加工厂建在哪里？"), lambda t: 1.0)
    return Asked(f"q{i}", False, True, view, units, rows, labels, [], None)


def test_the_join_model_learns_that_a_best_sentence_opening_with_a_pronoun_leaves_the_answer_before_it():
    from rag.answer.neighbours import join_row
    from rag.answer.reader import Linear
    from rag.answer.train import choose_answer_shape
    from rag.answer.features import UNIT_FEATURES

    n = len(UNIT_FEATURES)
    unit = Linear(UNIT_FEATURES, np.zeros(n), np.ones(n), np.eye(n)[0] * 5, 0.0)
    asked = [_asked_pair(i, answer_before=i % 2 == 0) for i in range(40)]
    shape = choose_answer_shape(asked, unit, median_chars=60)
    assert shape.join_before is not None and shape.join_threshold <= 1.0
    logit = lambda a: float(shape.join_before.logits(join_row(a.units[1], a.units[0], True)[None, :])[0])  # noqa: E731
    assert logit(asked[0]) > logit(asked[1])  # the pronoun-led best unit: its neighbour before is the answer


def test_answers_never_grow_past_the_median_length_asked_for():
    from rag.answer.reader import Linear
    from rag.answer.train import choose_answer_shape
    from rag.answer.features import UNIT_FEATURES

    n = len(UNIT_FEATURES)
    unit = Linear(UNIT_FEATURES, np.zeros(n), np.ones(n), np.eye(n)[0] * 5, 0.0)
    asked = [_asked_pair(i, answer_before=i % 2 == 0) for i in range(40)]
    shape = choose_answer_shape(asked, unit, median_chars=20)  # one sentence is about 15-20 characters
    assert shape.join_threshold > 1.0 and shape.margin < 3.5  # nothing may join: two sentences are too long


def test_fitting_without_joins_gives_a_reader_that_joins_no_neighbour(asked):
    reader = fit_reader(asked, joins=False)
    assert reader.join_before is None and reader.join_after is None
    assert "join_before" not in reader.as_dict()


def test_join_models_load_back_equal(asked, tmp_path):
    from rag.answer.neighbours import JOIN_FEATURES
    from rag.answer.reader import Linear

    n = len(JOIN_FEATURES)
    model = Linear(JOIN_FEATURES, np.zeros(n), np.ones(n), np.arange(n) / n, -1.0)
    reader = Reader(unit=fit_reader(asked).unit, evidence=fit_reader(asked).evidence, join_before=model, join_threshold=0.3)
    back = load_reader(str(reader.save(tmp_path / "reader.json")))
    assert back.join_after is None and back.join_threshold == 0.3
    row = np.linspace(0, 1, n)
    assert back.join_probability(row, -1) == pytest.approx(reader.join_probability(row, -1))
    assert back.join_probability(row, 1) == 0.0


def _interaction_groups(seed: int, n: int = 300) -> list[tuple[np.ndarray, np.ndarray]]:
    """Questions of eight units each, whose answer is the unit where two features agree in sign
    (an interaction no linear score can read), with a third feature that helps a little."""
    rng = np.random.default_rng(seed)
    groups = []
    for _ in range(n):
        x = rng.normal(size=(8, 3))
        score = np.where(x[:, 0] * x[:, 1] > 0, 2.0, 0.0) + 0.3 * x[:, 2] + rng.normal(scale=0.3, size=8)
        y = np.zeros(8)
        y[int(np.argmax(score))] = 1.0
        groups.append((x, y))
    return groups


def test_trees_grown_from_the_linear_unit_scores_pick_the_answer_unit_more_often_on_new_questions():
    names = ("a", "b", "c")
    fit, new = _interaction_groups(0), _interaction_groups(1)
    linear = _fit_listwise(fit, names)
    boosted = Boosted(names, linear, _fit_unit_trees(fit, linear, rounds=60))

    def top1(model):
        return np.mean([y[int(np.argmax(model.logits(x)))] for x, y in new])

    assert top1(boosted) > top1(linear) + 0.1


def test_unit_trees_are_fitted_only_when_asked_for(asked):
    assert isinstance(fit_reader(asked).unit, Linear)
    assert isinstance(fit_reader(asked, unit_trees=True).unit, Boosted)


def test_a_reader_with_unit_trees_loads_back_equal(asked, tmp_path):
    reader = fit_reader(asked, unit_trees=True)
    loaded = load_reader(str(reader.save(tmp_path / "reader.json")))
    assert loaded.as_dict() == reader.as_dict()
    rows = np.concatenate([a.rows for a in asked if len(a.rows)])
    assert np.allclose(loaded.unit_scores(rows), reader.unit_scores(rows), atol=1e-4)


def test_out_of_fold_unit_scorers_do_not_remember_the_questions_they_score():
    # Noise labels: the scorer fitted on these questions finds the labelled units among them more
    # often than chance (1 in 8); scorers fitted without each question's article cannot.
    rng = np.random.default_rng(3)
    asked = []
    for i in range(120):
        rows = rng.normal(size=(8, len(UNIT_FEATURES)))
        labels = np.zeros(8)
        labels[rng.integers(8)] = 1
        asked.append(Asked(qid=f"{i // 3}-1-{i % 3}", hidden=False, answerable=True, view=None, units=[], rows=rows,
                           labels=labels, hits=[], idf=None))
    top1 = lambda models: np.mean([a.labels[int(np.argmax(m.logits(a.rows)))] for a, m in zip(asked, models)])  # noqa: E731
    assert top1([fit_units(asked)] * len(asked)) >= 0.2
    assert top1(out_of_fold_units(asked)) < 0.16


def test_a_reader_fitted_on_out_of_fold_unit_scores_says_so_in_its_card(asked):
    assert fit_reader(asked, unit_folds=5).card["unit_folds"] == 5
    assert "unit_folds" not in fit_reader(asked).card
