"""Fit and check the support model of the answer verifier (rag/answer/verify.py) on DRCD.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/verifier_calibration.py [--sample 1000] [--write]

Sentence-passage pairs are built from the benchmark's questions, the way a model that restates
the question with its answer would write (「哪一本书规范了梵语的语法？」+「八篇书」 →
「八篇书规范了梵语的语法。」):

- supported: that claim against its gold passage (the answer's sentence and its neighbours, about
  one chunk of ~300 characters): the question's wording paraphrases the passage;
- wrong passage: the claim against the most similar window of a sibling passage of the same
  article that does not hold the answer (a citation to the wrong passage);
- changed fact: the claim with its answer replaced (digits changed, or another question's answer
  from the same article) against the gold passage (a changed number or name).

Features are those of ``support_features`` (character-pair coverage, character share, best
sentence cosine with the default embedder, numbers present, names present). A logistic model is
fitted on ``drcd_test`` (``full``: all; ``cross``: without the two character features, for English
sentences over Chinese passages);
the threshold is the probability that maximises balanced accuracy on ``drcd_test``. The figures
are then measured on ``drcd_dev`` (nothing fitted there). ``--write`` stores the weights, the
threshold and these figures in ``rag/answer/verifier.json``; the JSON report goes to
``benchmarks/results/verifier_calibration.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag.answer.verify import FEATURES, PARAMS_FILE, VerifierParams, coverage, support_features  # noqa: E402
from rag.sentences import sentence_spans  # noqa: E402

BENCH = REPO.parent / "shared" / "bench"
RESULTS = REPO / "benchmarks" / "results"
WINDOW = 300  # characters: about one chunk of the index
QWORDS = ("哪一个", "哪一位", "哪一种", "哪一年", "哪一本", "哪一门", "哪一座", "哪一项", "哪一部", "哪一家", "哪一所",
          "哪一天", "哪一国", "哪一", "哪个", "哪位", "哪种", "哪些", "哪里", "哪儿", "哪国", "哪年", "什么", "谁", "多少", "几")


def load(folder: Path) -> tuple[list[dict], dict[str, dict]]:
    questions = [json.loads(x) for x in (folder / "questions.jsonl").read_text("utf-8").splitlines() if x.strip()]
    passages = {p["id"]: p for p in (json.loads(x) for x in (folder / "passages.jsonl").read_text("utf-8").splitlines()
                                     if x.strip())}
    return questions, passages


def claim_of(question: str, answer: str) -> str:
    """The question restated with its answer in place of the question word."""
    q = re.sub(r"[？?。\s]+$", "", question.strip())
    for w in QWORDS:
        if w in q:
            return q.replace(w, answer, 1) + "。"
    return f"{q}：{answer}。"


def window(text: str, at: int) -> str:
    """The sentences around position ``at`` of ``text``, about WINDOW characters."""
    spans = sentence_spans(text)
    if not spans:
        return text[:WINDOW]
    i = next((k for k, (s, e) in enumerate(spans) if s <= at < e), 0)
    a = b = i
    while spans[b][1] - spans[a][0] < WINDOW and (a > 0 or b < len(spans) - 1):
        if b < len(spans) - 1:
            b += 1
        if spans[b][1] - spans[a][0] < WINDOW and a > 0:
            a -= 1
    return text[spans[a][0]:spans[b][1]]


def best_window(text: str, claim: str) -> str:
    """The window of ``text`` most like ``claim`` (by character coverage): the hardest wrong passage."""
    spans = sentence_spans(text)
    candidates = [window(text, s) for s, _ in spans] or [text[:WINDOW]]
    return max(candidates, key=lambda w: coverage(claim, w))


def changed(answer: str, others: list[str], rng: random.Random) -> str | None:
    """The answer with a fact changed: its digits, else another answer of the same article."""
    if re.search(r"\d", answer):
        return re.sub(r"\d", lambda m: str((int(m.group(0)) + rng.randint(1, 8)) % 10), answer, count=1)
    pool = [o for o in others if o != answer and o not in answer and answer not in o]
    return rng.choice(pool) if pool else None


def pairs(folder: Path, sample: int, seed: int = 0) -> list[dict]:
    """The labelled sentence-passage pairs of a benchmark (``sample`` questions, evenly spread)."""
    questions, passages = load(folder)
    rng = random.Random(seed)
    by_article: dict[str, list[str]] = defaultdict(list)
    for pid in passages:
        by_article[pid.rsplit("-", 1)[0]].append(pid)
    answers_of: dict[str, list[str]] = defaultdict(list)
    for q in questions:
        answers_of[q["passage_ids"][0].rsplit("-", 1)[0]].append(q["answers"][0])
    step = max(1, len(questions) // sample)
    out = []
    for q in questions[::step][:sample]:
        pid, answer = q["passage_ids"][0], q["answers"][0]
        text = passages[pid]["text"]
        at = text.find(answer)
        if at < 0:
            continue
        gold = window(text, at)
        claim = claim_of(q["question"], answer)
        out.append({"claim": claim, "passage": gold, "label": 1, "kind": "supported"})
        article = pid.rsplit("-", 1)[0]
        siblings = [p for p in by_article[article] if p != pid and answer not in passages[p]["text"]]
        if siblings:
            out.append({"claim": claim, "passage": best_window(passages[rng.choice(siblings)]["text"], claim),
                        "label": 0, "kind": "wrong passage"})
        other = changed(answer, answers_of[article], rng)
        if other and other not in gold:
            out.append({"claim": claim_of(q["question"], other), "passage": gold, "label": 0, "kind": "changed fact"})
    return out


def dense_of(rows: list[dict], embedder, cache: Path) -> np.ndarray:
    """Per pair, the best cosine of the claim to a passage sentence; kept in ``cache`` (the
    embedding is the slow part: ~15 min for 2 x 1 000 questions on 2 cores)."""
    digest = hashlib.sha1("\n".join(r["claim"] + "\t" + r["passage"] for r in rows).encode("utf-8")).hexdigest()[:16]
    key = cache / f"{embedder.id.replace('/', '_').replace('@', '_')}-{digest}.npy"
    if key.is_file():
        return np.load(key)
    claims = sorted({r["claim"] for r in rows})
    sentences = sorted({s for r in rows for s in _sentences(r["passage"])})
    cv = dict(zip(claims, embedder.encode_queries(claims)))
    sv = dict(zip(sentences, embedder.encode_passages(sentences)))
    dense = np.array([max([float(sv[s] @ cv[r["claim"]]) for s in _sentences(r["passage"])] or [0.0]) for r in rows])
    cache.mkdir(parents=True, exist_ok=True)
    np.save(key, dense)
    return dense


def featurise(rows: list[dict], dense: np.ndarray) -> np.ndarray:
    """One row of FEATURES per pair."""
    out = []
    for r, d in zip(rows, dense):
        f = support_features(r["claim"], r["passage"], float(d))
        out.append([f[n] for n in FEATURES])
    return np.asarray(out, dtype=np.float64)


def _sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def fit(x: np.ndarray, y: np.ndarray, columns: list[int]) -> tuple[list[float], float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=1000).fit(x[:, columns], y)
    return [round(float(w), 4) for w in model.coef_[0]], round(float(model.intercept_[0]), 4)


def decide(params: VerifierParams, x: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities, and decisions with the numbers rule applied."""
    probs = np.array([params.probability(dict(zip(FEATURES, row)), model) for row in x])
    return probs, (probs >= params.threshold) & (x[:, FEATURES.index("numbers")] > 0)


def figures(rows: list[dict], supported: np.ndarray) -> dict:
    kinds = defaultdict(list)
    for r, s in zip(rows, supported):
        kinds[r["kind"]].append(bool(s))
    rates = {k: round(sum(v) / len(v), 4) for k, v in kinds.items()}
    counts = {k: len(v) for k, v in kinds.items()}
    neg = [s for r, s in zip(rows, supported) if r["label"] == 0]
    return {"pairs": counts, "marked_supported": rates,
            "true_support_rate": rates.get("supported"),
            "false_support_rate": round(sum(neg) / len(neg), 4) if neg else None,
            "balanced_accuracy": round((rates.get("supported", 0) + 1 - (sum(neg) / len(neg) if neg else 0)) / 2, 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", type=int, default=1000, help="questions per benchmark (default 1000)")
    ap.add_argument("--write", action="store_true", help="store the fitted model in rag/answer/verifier.json")
    args = ap.parse_args(argv)
    from rag.embedders import load_embedder

    embedder = load_embedder("e5-small")
    started = time.perf_counter()
    fit_rows = pairs(BENCH / "drcd_test", args.sample)
    val_rows = pairs(BENCH / "drcd_dev", args.sample)
    cache = Path.home() / ".cache" / "yuwen" / "verifier-pairs"
    x_fit = featurise(fit_rows, dense_of(fit_rows, embedder, cache))
    x_val = featurise(val_rows, dense_of(val_rows, embedder, cache))
    y_fit = np.array([r["label"] for r in fit_rows])
    w_full, b_full = fit(x_fit, y_fit, list(range(len(FEATURES))))
    w_cross, b_cross = fit(x_fit, y_fit, list(range(2, len(FEATURES))))
    base = VerifierParams({"full": w_full, "cross": w_cross}, {"full": b_full, "cross": b_cross}, 0.5)
    probs = np.array([base.probability(dict(zip(FEATURES, row)), "full") for row in x_fit])
    numbers_ok = x_fit[:, FEATURES.index("numbers")] > 0

    def balanced(t: float) -> float:
        s = (probs >= t) & numbers_ok
        return (s[y_fit == 1].mean() + 1 - s[y_fit == 0].mean()) / 2

    threshold = round(float(max(np.linspace(0.05, 0.95, 91), key=balanced)), 3)
    params = VerifierParams(base.weights, base.bias, threshold)
    report = {
        "command": f"benchmarks/verifier_calibration.py --sample {args.sample}",
        "features": list(FEATURES), "embedder": embedder.id, "threshold": threshold,
        "weights": params.weights, "bias": params.bias,
        "fit_drcd_test": figures(fit_rows, decide(params, x_fit, "full")[1]),
        "validate_drcd_dev": figures(val_rows, decide(params, x_val, "full")[1]),
        "validate_drcd_dev_cross": figures(val_rows, decide(params, x_val, "cross")[1]),
        "without_numbers_rule_drcd_dev": figures(val_rows, decide(params, x_val, "full")[0] >= threshold),
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "verifier_calibration.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if args.write:
        card = {k: report[k] for k in ("command", "embedder", "fit_drcd_test", "validate_drcd_dev",
                                       "validate_drcd_dev_cross", "without_numbers_rule_drcd_dev")}
        out = VerifierParams(params.weights, params.bias, threshold, card).save(PARAMS_FILE)
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
