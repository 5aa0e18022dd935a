"""Fit the learned reader on a benchmark's questions: each question asked as it is (its units that
hold a gold answer are the positives) and again with its gold passages hidden (the evidence that
remains should be judged not to answer). Deterministic: same data, same parameters."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..questions import analyse
from .evidence import candidate_units, embed_units, score_units
from .features import EVIDENCE_FEATURES, UNIT_FEATURES, QuestionView, Unit, evidence_features, normalise
from .neighbours import JOIN_FEATURES, join_row, neighbour
from .reader import Blend, Boosted, Linear, Reader, Trees

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
# Collecting needs the features only; the scores it sets are refitted from them.
_UNSCORED = Reader.untrained()


@dataclass
class Asked:
    """One question asked once (normal or with its gold hidden), with everything fitting needs."""

    qid: str
    hidden: bool
    answerable: bool  # normal and some unit holds a gold answer / hidden and none can
    view: QuestionView
    units: list[Unit]
    rows: np.ndarray  # unit features
    labels: np.ndarray  # 1 where the unit holds a gold answer in a gold passage
    hits: list
    idf: object
    near_miss: bool = False  # asked as its near-miss twin (gold visible, one constraint changed): a negative
    whole_article: bool = False  # hidden with every passage of its gold article: the topic gone from the corpus


def _read(engine, question: str, kind, qv, k: int, hidden: tuple[str, ...] = ()):
    """Retrieve for ``question`` and read its candidate units: (hits, units, question view, unit rows)."""
    hits = engine.search(question, k=k, hidden=hidden)
    articles = engine.reader.articles_of(h.chunk.article_id for h in hits)
    units, neighbours = candidate_units(hits, articles)
    embed_units(units, qv, engine.embedder, engine.reader.sentence_vector)
    view, rows = score_units(kind, units, neighbours, hits, articles, engine.idf, _UNSCORED)
    return hits, units, view, rows


def collect(engine, questions: Sequence[dict], still: set[str], k: int = 5, progress: Progress | None = None,
            twins: dict | None = None, articles: dict[str, tuple[str, ...]] | None = None) -> list[Asked]:
    """Ask every question normally and with its gold hidden, and as its near-miss twin when
    ``twins`` (question id -> :class:`~rag.nearmiss.Twin`) has one; keep features and labels.
    Hidden questions whose answer still stands in a sibling passage (``still``) are left out.
    ``articles`` (question id -> every passage of its gold article) asks once more with all of
    them hidden where that hides more than the gold passages."""
    twins = twins or {}
    articles = articles or {}
    out: list[Asked] = []
    idf = engine.idf
    for n, item in enumerate(questions):
        gold = set(item["passage_ids"])
        answers = [normalise(a) for a in item["answers"] if normalise(a)]
        kind = analyse(item["question"])
        qv = engine.query_vector(item["question"])
        askings = [(), () if item["id"] in still else tuple(gold)]
        whole = articles.get(item["id"], ())
        if set(whole) - gold:
            askings.append(tuple(whole))
        for i, hide in enumerate(askings):
            hidden = i > 0
            if hidden and not hide:
                continue
            hits, units, view, rows = _read(engine, item["question"], kind, qv, k, hide)
            holds = [any(a in normalise(u.text) for a in answers) for u in units]
            if hidden and any(holds):
                continue  # another passage states the answer too: not a clean negative
            labels = np.array([float(u.article_id in gold and h) for u, h in zip(units, holds)], dtype=np.float32)
            answerable = bool(labels.sum()) if not hidden else False
            if not hidden and not answerable:
                continue  # the gold passage was not retrieved, or no unit holds the answer whole
            out.append(Asked(item["id"], hidden, answerable, view, units, rows, labels, hits, idf,
                             whole_article=i == 2))
        twin = twins.get(item["id"])
        if twin is not None:
            hits, units, view, rows = _read(engine, twin.question, analyse(twin.question),
                                            engine.query_vector(twin.question), k)
            out.append(Asked(item["id"], False, False, view, units, rows, np.zeros(len(units), dtype=np.float32), hits,
                             idf, near_miss=True))
        if progress:
            progress(n + 1, len(questions))
    return out


def _fit_linear(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], c: float = 1.0) -> Linear:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit((x - mean) / scale, y)
    return Linear(names, mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]))


# Boosted trees for the evidence model: small, shrunk, a fixed number of rounds (no early stopping,
# so the fit is deterministic). The default evidence model blends them with the logistic one
# (mean logit); the three were compared on drcd_dev (model card).
TREE_PARAMS = {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 15, "l2_regularization": 1.0}


def _fit_trees(x: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> Trees:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(**TREE_PARAMS, early_stopping=False, random_state=0)
    model.fit(np.nan_to_num(x), y)
    trees = []
    for (predictor,) in model._predictors:  # scikit-learn's own tree arrays, read as they are
        n = predictor.nodes
        trees.append({"feature": n["feature_idx"].astype(np.int64), "threshold": n["num_threshold"].astype(np.float64),
                      "left": n["left"].astype(np.int64), "right": n["right"].astype(np.int64),
                      "leaf": n["is_leaf"].astype(bool), "value": n["value"].astype(np.float64)})
    return Trees(names, float(np.ravel(model._baseline_prediction)[0]), tuple(trees))


EVIDENCE_MODELS = ("blend", "trees", "linear")


def _fit_evidence(x: np.ndarray, y: np.ndarray, kind: str) -> Linear | Trees | Blend:
    if kind == "blend":
        return Blend(EVIDENCE_FEATURES, (_fit_linear(x, y, EVIDENCE_FEATURES), _fit_trees(x, y, EVIDENCE_FEATURES)))
    if kind == "trees":
        return _fit_trees(x, y, EVIDENCE_FEATURES)
    if kind == "linear":
        return _fit_linear(x, y, EVIDENCE_FEATURES)
    raise ValueError(f"unknown evidence model '{kind}': use one of {', '.join(EVIDENCE_MODELS)}")


def group_of(qid: str) -> str:
    """The article a question id belongs to (DRCD's 1147-2-1 → 1147), so that folds keep an
    article's questions together; an id of another form is its own group."""
    return qid.split("-")[0] if "-" in qid else qid


def folds_of(groups: Sequence[str], folds: int = 5) -> np.ndarray:
    """Each row's fold, the same for every row of one group (a hash of the group: stable across runs)."""
    return np.array([int(hashlib.sha256(g.encode()).hexdigest(), 16) % folds for g in groups], dtype=np.int64)


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: Sequence[str], kind: str, folds: int = 5) -> np.ndarray:
    """Each row's probability from a model fitted without its article: the probabilities a refusal
    threshold is read off (in-sample ones are too sure of themselves, trees above all)."""
    fold = folds_of(groups, folds)
    p = np.zeros(len(y))
    for f in range(folds):
        test = fold == f
        if not test.any() or len(set(y[~test])) < 2:
            continue
        model = _fit_evidence(x[~test], y[~test], kind)
        p[test] = 1.0 / (1.0 + np.exp(-model.logits(x[test])))
    return p


def _fit_listwise(groups: Sequence[tuple[np.ndarray, np.ndarray]], names: tuple[str, ...], l2: float = 1e-3) -> Linear:
    """A linear unit scorer fitted so that, within each question, the softmax of its scores puts
    the most mass on the units that hold the answer (the answer is the best-scored unit, so the
    fit compares units of one question, never units of different questions)."""
    from scipy.optimize import minimize

    x = np.concatenate([g[0] for g in groups]).astype(np.float64)
    pos = np.concatenate([g[1] for g in groups]).astype(np.float64)
    sizes = np.array([len(g[0]) for g in groups])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    gid = np.repeat(np.arange(len(groups)), sizes)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    xs = (x - mean) / scale

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = xs @ w
        e = np.exp(s - np.maximum.reduceat(s, starts)[gid])
        z = np.add.reduceat(e, starts)
        zp = np.add.reduceat(e * pos, starts)
        value = -np.sum(np.log(zp) - np.log(z)) / len(groups) + 0.5 * l2 * w @ w
        grad = xs.T @ (e / z[gid] - e * pos / zp[gid]) / len(groups) + l2 * w
        return float(value), grad

    w = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500}).x
    return Linear(names, mean, scale, w, 0.0)


# Trees grown from the linear unit scores by Newton steps on the same per-question softmax loss:
# small trees, many units a leaf, leaf values shrunk, a fixed number of rounds (deterministic).
# On drcd_dev (fitted on drcd_test, benchmarks/reader_probes.py) the share of answerable questions
# whose answer holds gold rose with the rounds to 300 (0.907 -> 0.920) and fell after (0.913 at 800);
# through the whole reader they were a trade (model card), so `rag train --unit-trees` opts in.
UNIT_TREE_PARAMS = {"rounds": 300, "max_leaf_nodes": 15, "min_samples_leaf": 100, "l2": 20.0, "step": 0.3}


def _fit_unit_trees(groups: Sequence[tuple[np.ndarray, np.ndarray]], base: Linear, rounds: int | None = None) -> Trees:
    """Boosted regression trees that, added to ``base``'s logits, lower the listwise loss of
    :func:`_fit_listwise` further (each round: one tree on the loss's Newton step)."""
    from sklearn.tree import DecisionTreeRegressor

    prm = UNIT_TREE_PARAMS
    x = np.concatenate([g[0] for g in groups]).astype(np.float64)
    pos = np.concatenate([g[1] for g in groups]).astype(np.float64)
    sizes = np.array([len(g[0]) for g in groups])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    gid = np.repeat(np.arange(len(groups)), sizes)
    target = pos / np.maximum(np.add.reduceat(pos, starts), 1e-12)[gid]
    s = base.logits(x)
    trees = []
    for _ in range(prm["rounds"] if rounds is None else rounds):
        e = np.exp(s - np.maximum.reduceat(s, starts)[gid])
        p = e / np.add.reduceat(e, starts)[gid]
        g, h = p - target, np.maximum(p * (1 - p), 1e-6)
        fitted = DecisionTreeRegressor(max_leaf_nodes=prm["max_leaf_nodes"], min_samples_leaf=prm["min_samples_leaf"],
                                       random_state=0).fit(x, -g / h, sample_weight=h)
        leaf = fitted.apply(x)
        n = fitted.tree_.node_count
        value = prm["step"] * np.bincount(leaf, -g, n) / (np.bincount(leaf, h, n) + prm["l2"])
        s += value[leaf]
        t = fitted.tree_
        is_leaf = t.children_left < 0
        trees.append({"feature": np.where(is_leaf, 0, t.feature).astype(np.int64), "threshold": t.threshold.astype(np.float64),
                      "left": np.where(is_leaf, 0, t.children_left).astype(np.int64),
                      "right": np.where(is_leaf, 0, t.children_right).astype(np.int64),
                      "leaf": is_leaf, "value": value.astype(np.float64)})
    return Trees(base.features, 0.0, tuple(trees))


def fit_units(normal: Sequence[Asked], unit_trees: bool = False) -> Linear | Boosted:
    """The unit scorer fitted on the units of ``normal`` questions: listwise linear and, with
    ``unit_trees``, boosted trees grown from its scores."""
    groups_u = [(a.rows, a.labels) for a in normal]
    unit = _fit_listwise(groups_u, UNIT_FEATURES)
    if unit_trees:
        unit = Boosted(UNIT_FEATURES, unit, _fit_unit_trees(groups_u, unit))
    return unit


def out_of_fold_units(asked: Sequence[Asked], unit_trees: bool = False, folds: int = 5) -> list[Linear | Boosted]:
    """For each asked question, a unit scorer fitted without its article's questions: evidence rows
    scored by it look as they will on questions the scorer never saw (in-sample scores are surer
    of the answerable questions than unseen ones will be, boosted ones above all)."""
    fold = folds_of([group_of(a.qid) for a in asked], folds)
    models = {}
    for f in sorted(set(fold.tolist())):
        models[f] = fit_units([a for a, k in zip(asked, fold) if k != f and not a.hidden and not a.near_miss], unit_trees)
    return [models[int(k)] for k in fold]


def evidence_rows(asked: Sequence[Asked], unit_model: Linear | Boosted | Sequence[Linear | Boosted]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The evidence features of every asked question (units scored by ``unit_model``, or by the
    question's own model when one is given per question) and its label."""
    models = unit_model if isinstance(unit_model, (list, tuple)) else [unit_model] * len(asked)
    xs, ys = [], []
    for a, model in zip(asked, models):
        for u, s in zip(a.units, model.logits(a.rows)):
            u.score = float(s)
        xs.append(evidence_features(a.view, a.units, a.rows, a.hits, a.idf))
        ys.append(1.0 if a.answerable else 0.0)
    return np.asarray(xs, dtype=np.float64), np.asarray(ys)


def top1_accuracy(asked: Sequence[Asked], unit_model: Linear | Boosted) -> float:
    """Share of the answerable questions whose best-scored unit holds a gold answer."""
    good = [a for a in asked if a.answerable]
    hits = 0
    for a in good:
        s = unit_model.logits(a.rows)
        hits += bool(a.labels[int(np.argmax(s))]) if len(s) else 0
    return hits / max(len(good), 1)


def choose_threshold(p: np.ndarray, y: np.ndarray, false_refusals: float) -> float:
    """The highest probability cut that refuses at most ``false_refusals`` of the answerable."""
    pos = np.sort(p[y == 1])
    if not len(pos):
        return 0.5
    i = int(np.floor(false_refusals * len(pos)))
    return float(pos[min(i, len(pos) - 1)]) - 1e-6


MARGINS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
JOIN_THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 1.01)  # 1.01: never join


def _chosen(a: Asked, scores: np.ndarray, margin: float, max_units: int = 3, max_chars: int = 320) -> list[int]:
    """The units the answer takes by the margin alone (indices into ``a.units``), best first."""
    order = np.argsort(-scores)
    chosen, used = [int(order[0])], len(a.units[order[0]].text)
    for i in order[1:]:
        if len(chosen) >= max_units or scores[i] < scores[order[0]] - margin:
            break
        if used + len(a.units[i].text) <= max_chars:
            chosen.append(int(i))
            used += len(a.units[i].text)
    return chosen


def choose_margin(asked: Sequence[Asked], unit: Linear | Boosted, median_chars: int, max_units: int = 3, max_chars: int = 320) -> float:
    """The widest margin (logits below the best unit that further units may score) whose answers
    on the answerable questions keep a median length of at most ``median_chars``."""
    scored = [(a, unit.logits(a.rows)) for a in asked if a.answerable and len(a.units)]
    return widest_margin(scored, median_chars, max_units, max_chars)


def widest_margin(scored: Sequence[tuple[Asked, np.ndarray]], median_chars: int, max_units: int = 3,
                  max_chars: int = 320) -> float:
    """``choose_margin`` over questions already scored: (question, its unit scores) pairs."""
    best = MARGINS[0]
    for margin in MARGINS:
        lengths = [sum(len(a.units[i].text) for i in _chosen(a, s, margin, max_units, max_chars)) for a, s in scored]
        if lengths and np.median(lengths) <= median_chars:
            best = margin
    return best


@dataclass
class _JoinCase:
    """One answerable question's best unit and one of its neighbours, as the join model sees them."""

    step: int
    row: np.ndarray
    label: float  # the neighbour holds the answer and the margin's units do not
    asked: int  # index of the question
    extra: int  # characters the join adds


def _join_cases(asked: Sequence[Asked], scores: Sequence[np.ndarray], margin: float) -> tuple[list[_JoinCase], list[tuple[int, bool]]]:
    """Every neighbour a join could add, and for each question (its margin answer's length, hit);
    ``scores``: each question's unit scores, already set on its units."""
    cases, base = [], []
    for qi, (a, s) in enumerate(zip(asked, scores)):
        chosen = _chosen(a, s, margin)
        base.append((sum(len(a.units[i].text) for i in chosen), bool(any(a.labels[i] for i in chosen))))
        best = a.units[chosen[0]]
        for step in (-1, 1):
            nb = neighbour(best, a.units, step)
            j = next((i for i, u in enumerate(a.units) if u is nb), None)
            if j is None or j in chosen:
                continue
            label = float(a.labels[j] == 1 and not base[-1][1])
            cases.append(_JoinCase(step, join_row(best, nb, a.view.kind.wants != "other"), label, qi, len(nb.text)))
    return cases, base


def _join_models(cases: Sequence[_JoinCase]) -> dict[int, Linear]:
    """The join model of each direction that has both neighbours that hold the answer and ones that do not."""
    models = {}
    for step in (-1, 1):
        mine = [c for c in cases if c.step == step]
        y = np.array([c.label for c in mine])
        if len(set(y)) == 2:
            models[step] = _fit_linear(np.stack([c.row for c in mine]), y, JOIN_FEATURES)
    return models


def _joined(cases: Sequence[_JoinCase], base: Sequence[tuple[int, bool]], p: Sequence[float], t: float,
            max_chars: int = 320) -> tuple[float, float]:
    """(hit rate, median length) of the answers when every neighbour of probability ≥ ``t`` joins."""
    lengths = [n for n, _ in base]
    hit = [h for _, h in base]
    for c, pc in zip(cases, p):
        if pc >= t and lengths[c.asked] + c.extra <= max_chars:
            lengths[c.asked] += c.extra
            hit[c.asked] = hit[c.asked] or bool(c.label)
    return float(np.mean(hit)), float(np.median(lengths))


@dataclass(frozen=True)
class AnswerShape:
    """How much an answer takes: further units within ``margin`` of the best, and its neighbours
    whose join probability reaches ``join_threshold`` (models None: no joins)."""

    margin: float
    join_before: Linear | None = None
    join_after: Linear | None = None
    join_threshold: float = 1.01


def choose_answer_shape(asked: Sequence[Asked], unit: Linear | Boosted, median_chars: int, joins: bool = True) -> AnswerShape:
    """The margin and neighbour-join cut (joins fitted at each margin) that put the answer in the
    most answerable fitting questions while their answers' median length stays at most
    ``median_chars``; ties go to the shorter answers. Without ``joins``: the widest such margin."""
    if not joins:
        return AnswerShape(choose_margin(asked, unit, median_chars))
    good = [a for a in asked if a.answerable and len(a.units)]
    scores = [unit.logits(a.rows) for a in good]
    for a, s in zip(good, scores):
        for u, row, sc in zip(a.units, a.rows, s):
            u.score, u.features = float(sc), row.tolist()  # as the answer sees them: join rows read both
    best, best_key = AnswerShape(MARGINS[0]), (-1.0, 0.0)
    for margin in MARGINS:
        cases, base = _join_cases(good, scores, margin)
        models = _join_models(cases)
        p = [1.0 / (1.0 + np.exp(-models[c.step].logits(c.row[None, :])[0])) if c.step in models else 0.0 for c in cases]
        for t in JOIN_THRESHOLDS if models else JOIN_THRESHOLDS[-1:]:
            hit, median = _joined(cases, base, p, t)
            if median <= median_chars and (hit, -median) > best_key:
                best_key = (hit, -median)
                best = AnswerShape(margin, models.get(-1), models.get(1), t) if t <= 1.0 else AnswerShape(margin)
    return best


def fit_reader(
    asked: Sequence[Asked], false_refusals: float = 0.03, card: dict | None = None, median_chars: int = 60,
    evidence_model: str = "blend", constraint_false_refusals: float = 0.01, joins: bool = True,
    unit_trees: bool = False, unit_folds: int = 0,
) -> Reader:
    """The unit scorer (on the units of the normal questions: a listwise linear model and, with
    ``unit_trees``, boosted trees grown from its scores), then the evidence model on the
    scored evidence of the normal and hidden-gold questions and, when near-miss twins were
    asked, the constraint model on the normal questions and the twins; each model's refusal
    threshold declines ``false_refusals`` / ``constraint_false_refusals`` of the answerable
    fitting questions, read off out-of-fold probabilities; then how much an answer takes
    (:func:`choose_answer_shape`; ``joins``: with the neighbour-join models). ``unit_folds`` > 1:
    the evidence rows are scored out of fold (:func:`out_of_fold_units`), not by the unit scorer
    fitted on them."""
    normal = [a for a in asked if not a.hidden and not a.near_miss]
    y = np.concatenate([a.labels for a in normal])
    # Listwise linear (and, opted in, trees grown from its scores on the same loss): pointwise
    # boosted trees, alone or blended with it, picked the right unit less often on drcd_dev
    # (top-1 0.852 and 0.858 against 0.868).
    unit = fit_units(normal, unit_trees)
    ex, ey = evidence_rows(asked, out_of_fold_units(asked, unit_trees, unit_folds) if unit_folds > 1 else unit)
    near = np.array([a.near_miss for a in asked])
    groups = [group_of(a.qid) for a in asked]
    # The evidence model against hidden gold, the constraint model against near-miss twins, each
    # with its own threshold: one model for both let the twins (easy to tell by their odd
    # constraint) crowd out the hidden-gold questions (drcd_dev hidden-gold refusals 0.866 ->
    # 0.788), and the product of the two spent the false-refusal budget badly (model card).
    evidence = _fit_evidence(ex[~near], ey[~near], evidence_model)
    threshold = choose_threshold(_probabilities(evidence, ex, ~near, ey, groups, evidence_model), ey, false_refusals)
    constraint, constraint_threshold = None, 0.0
    if near.any() and constraint_false_refusals > 0:
        keep = near | (ey == 1)
        constraint = _fit_evidence(ex[keep], ey[keep], evidence_model)
        constraint_threshold = choose_threshold(_probabilities(constraint, ex, keep, ey, groups, evidence_model), ey,
                                                constraint_false_refusals)
    info = dict(card or {})
    info.update({
        "fitted_on_questions": len(normal),
        "fitted_on_hidden": sum(a.hidden for a in asked),
        "fitted_on_hidden_articles": sum(a.whole_article for a in asked),
        "fitted_on_near_miss": sum(a.near_miss for a in asked),
        "units": int(len(y)),
        "unit_top1_train": round(top1_accuracy(asked, unit), 4),
        "evidence_model": evidence_model,
    })
    if unit_folds > 1:
        info["unit_folds"] = unit_folds
    shape = choose_answer_shape(asked, unit, median_chars, joins)
    info["median_chars"] = median_chars
    return Reader(unit=unit, evidence=evidence, threshold=threshold, margin=shape.margin, card=info, constraint=constraint,
                  constraint_threshold=constraint_threshold, join_before=shape.join_before, join_after=shape.join_after,
                  join_threshold=shape.join_threshold)


def _probabilities(model, x: np.ndarray, fitted: np.ndarray, y: np.ndarray, groups: Sequence[str], kind: str) -> np.ndarray:
    """Out-of-fold probabilities of ``model``'s kind on the rows it was ``fitted`` on, and the
    fitted model's own on the others (which it never saw)."""
    p = 1.0 / (1.0 + np.exp(-model.logits(x)))
    p[fitted] = out_of_fold(x[fitted], y[fitted], [g for g, f in zip(groups, fitted) if f], kind)
    return p


def data_hash(questions: Sequence[dict], passages_sha256: str) -> str:
    """A short hash of the fitting data: the passages file and the questions' ids."""
    h = hashlib.sha256(passages_sha256.encode())
    for q in questions:
        h.update(q["id"].encode())
    return h.hexdigest()[:16]


def train(
    engine, bench, false_refusals: float = 0.03, progress: Progress | None = None, card: dict | None = None,
    median_chars: int = 60, evidence_model: str = "blend", near_miss: bool = True,
    constraint_false_refusals: float = 0.01, joins: bool = True, unit_trees: bool = False, unit_folds: int = 0,
    hide_articles: bool = False,
) -> Reader:
    """Collect on ``bench`` (a :class:`~rag.bench.BenchSet` indexed by ``engine``) and fit;
    ``near_miss`` adds each question's near-miss twin as a negative, ``hide_articles`` each
    question asked with its whole gold article hidden."""
    from ..bench import article_texts, hidden_passages, still_answerable
    from ..nearmiss import twins

    started = time.perf_counter()
    pairs = twins(bench.questions, article_texts(bench)) if near_miss else {}
    whole = hidden_passages(bench, "article") if hide_articles else {}
    asked = collect(engine, bench.questions, still_answerable(bench), progress=progress, twins=pairs, articles=whole)
    info = {"data": bench.name, "data_hash": data_hash(bench.questions, bench.passages_sha256),
            "questions": len(bench.questions)}
    info.update(card or {})
    reader = fit_reader(asked, false_refusals=false_refusals, card=info, median_chars=median_chars,
                        evidence_model=evidence_model, constraint_false_refusals=constraint_false_refusals, joins=joins,
                        unit_trees=unit_trees, unit_folds=unit_folds)
    log.info("fitted the reader on %d asked questions in %.1f s", len(asked), time.perf_counter() - started)
    return reader
