"""What the learned reader could still gain from more signals of the kinds it reads, measured on
features collected once: every probe is fitted on the fitting set and read on the validation set
(never on cmrc2018). Each probe is set beside the same fit without it.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reader_probes.py [--fit ../shared/bench/drcd_test]
        [--check ../shared/bench/drcd_dev] [--cache DIR] [--out probes.json]

- ``trees``: listwise boosted regression trees over the 30 unit features, grown from the linear
  scores by Newton steps on the per-question softmax loss (``rag train --unit-trees``'s: 15
  leaves, ≥ 100 units a leaf, leaf values shrunk by λ = 20, step 0.3), read after 25 to 800 rounds;
- ``slot``: five features of the question's wh-slot (the words just before and just after
  什么/哪/谁/多少/几… found in the unit, both in order with a gap for the answer, or in reverse),
  as unit features and, from the three best units, as evidence features;
- ``vectors``: the 384 products of the question's and the unit's e5 vectors as unit features
  (a learned weighting of the cosine), at three strengths of the L2 penalty;
- ``cross_encoder``: the time of one forward pass of the bundled e5-small over 1, 3 and 5
  (question, unit) pairs on one core: the cost of reading candidates with a cross-encoder;
- ``cross_fit``: the first two of e5-small's twelve layers (the most a 60 ms answer can afford on
  this CPU) fine-tuned as a cross-encoder on the fitting set's (question, unit) pairs (the linear
  scorer's six best units of each answerable question, its three best of each hidden-gold one;
  word embeddings frozen; 730 steps of 32 pairs, AdamW 2e-4, about 10 minutes on two cores),
  then read on the validation set's three best units: alone, and beside the linear scores (the
  weight, and a logistic evidence model over the v4 probability and the pair scores, fitted on one
  half of the validation articles and read on the other, both ways);
- ``cross_sanity``: the same 2-layer model on the easiest task it could be given (which sentence
  of the gold passage holds the answer; 2 507 fitting questions, listwise, 400 steps at two
  learning rates), read on 200 validation questions every 100 steps beside character overlap and
  chance: whether the model can learn the matching at all within this compute.

Unit probes report top-1 (the best-scored unit holds a gold answer) and the share of answerable
questions whose answer (the units within the widest margin whose median answer is ≤ 55
characters) holds one; evidence probes the AUC and the hidden-gold questions refused at the cut
that refuses 3 % of the answerable ones (read on the validation set itself: a comparison of
signals, not a threshold). The first run collects features (about 8 minutes a set with the
benchmark index cached) into ``--cache``; later runs read them.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WH = re.compile(r"为什么|为何|什么|哪[一-龥]?|谁|多少|几|何[时处地年人种]|怎样|如何|怎么")
END = re.compile(r"[？?。！!，,\s]*(?:吗|呢)?[？?。！!\s]*$")
MEDIAN_CHARS = 55
PROBES = ("trees", "slot", "vectors", "cross_encoder", "cross_fit", "cross_sanity")
# Probes that read the benchmark folders themselves, so need no collected features.
RAW_PROBES = {"cross_encoder", "cross_sanity"}


def _collected(folder: Path, cache: Path):
    """(asked questions, question texts by id, vectors by (id, hidden)) of one benchmark, cached."""
    from rag.answer.features import IdfTable
    from rag.answer.reader import Reader
    from rag.answer.train import collect
    from rag.bench import ensure_bench_index, load_bench, open_bench_engine, still_answerable
    from rag.chunking import ChunkSettings

    bench = load_bench(folder)
    path = cache / f"{bench.name}-{bench.passages_sha256[:12]}.pkl"
    texts = {q["id"]: q["question"] for q in bench.questions}
    if path.exists():
        asked, (df, n_docs), vectors = pickle.loads(path.read_bytes())
    else:
        index_dir, _ = ensure_bench_index(bench, chunking=ChunkSettings())
        engine = open_bench_engine(index_dir, chunking=ChunkSettings(), model=Reader.untrained())
        t = time.perf_counter()
        asked = collect(engine, bench.questions, still_answerable(bench))
        # The IDF is kept as plain counts, so that the cache outlives changes to IdfTable.
        frequencies, n_docs = engine.reader.document_frequencies()
        df = {t: frequencies.get(t) for t in frequencies.vocab}  # the benchmarks' indexes are local ones
        vectors = {}
        for a in asked:
            qv = np.asarray(engine.query_vector(texts[a.qid]), np.float32)
            uv = [engine.reader.sentence_vector(u.article_id, u.start, u.end) for u in a.units]
            missing = [i for i, v in enumerate(uv) if v is None]
            for i, v in zip(missing, engine.embedder.encode_passages([a.units[i].text for i in missing]) if missing else []):
                uv[i] = v
            vectors[(a.qid, a.hidden)] = (qv, np.asarray(uv, np.float32).reshape(len(a.units), -1))
            a.idf = None
        print(f"collected {bench.name}: {len(asked)} asked in {time.perf_counter() - t:.0f} s", flush=True)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps((asked, (df, n_docs), vectors)))
        tmp.replace(path)
    idf = IdfTable.from_counts(df, n_docs)
    for a in asked:
        a.idf = idf
    return asked, texts, vectors


def slot_features(question: str, unit: str) -> list[float]:
    """The wh-slot of ``question`` in ``unit``: shares of the words before and after it found,
    both found in order with a gap of 1–30 characters, both found in reverse, one side found at an end."""
    from rag.answer.features import normalise

    q, u = END.sub("", normalise(question)), normalise(unit)
    m = WH.search(q)
    if not m:
        return [0.0] * 5
    left, right = q[:m.start()], q[m.end():]
    ln, lstart, lend = next(((n, i, i + n) for n in range(min(len(left), 8), 1, -1)
                             if (i := u.rfind(left[-n:])) >= 0), (0, -1, -1))
    rn, rstart, rend = next(((n, i, i + n) for n in range(min(len(right), 8), 1, -1)
                             if (i := u.find(right[:n])) >= 0), (0, -1, -1))
    both = ln >= 2 and rn >= 2
    return [ln / min(len(left), 8) if left else 0.0, rn / min(len(right), 8) if right else 0.0,
            float(both and 0 < rstart - lend <= 30), float(both and 0 < lstart - rend <= 30),
            float((ln >= 2 and not right) or (rn >= 2 and not left))]


def _answer_hit(groups, scores) -> tuple[float, float]:
    """(margin, share of questions whose margin answer holds gold) at the widest margin with median ≤ 55."""
    from rag.answer.train import _chosen, widest_margin

    m = widest_margin(list(zip(groups, scores)), MEDIAN_CHARS)
    return m, float(np.mean([any(a.labels[i] > 0 for i in _chosen(a, s, m)) for a, s in zip(groups, scores)]))


def _unit_report(groups, scores) -> dict:
    margin, hit = _answer_hit(groups, scores)
    top1 = float(np.mean([a.labels[int(np.argmax(s))] > 0 for a, s in zip(groups, scores)]))
    return {"top1": round(top1, 4), "answer_holds_gold": round(hit, 4), "margin": margin}


def _listwise(fit, check, columns, names, l2=1e-3):
    from rag.answer.train import _fit_listwise

    model = _fit_listwise([(columns(a), a.labels) for a in fit], names, l2=l2)
    return model, [model.logits(columns(a)) for a in check]


def probe_trees(fit, check, rounds=(25, 50, 100, 200, 300, 400, 600, 800)) -> dict:
    """The trees of ``rag train --unit-trees`` (``train.UNIT_TREE_PARAMS``), read after each count of rounds."""
    from rag.answer.features import UNIT_FEATURES
    from rag.answer.reader import Trees
    from rag.answer.train import _fit_unit_trees

    model, base_check = _listwise(fit, check, lambda a: a.rows, UNIT_FEATURES)
    grown = _fit_unit_trees([(a.rows, a.labels) for a in fit], model, rounds=max(rounds))
    out = {"without": _unit_report(check, base_check)}
    for r in rounds:
        first = Trees(grown.features, 0.0, grown.trees[:r])
        out[f"{r} rounds"] = _unit_report(check, [b + first.logits(a.rows) for a, b in zip(check, base_check)])
    return out


def probe_slot(fit, check, texts) -> dict:
    from rag.answer.features import UNIT_FEATURES

    for a in fit + check:
        a.slot = np.asarray([slot_features(texts[a.qid], u.text) for u in a.units]).reshape(len(a.units), 5)
    _, base = _listwise(fit, check, lambda a: a.rows, UNIT_FEATURES)
    _, with_slot = _listwise(fit, check, lambda a: np.hstack([a.rows, a.slot]), UNIT_FEATURES + tuple(f"slot{i}" for i in range(5)))
    return {"without": _unit_report(check, base), "with": _unit_report(check, with_slot)}


def probe_slot_evidence(fit_all, check_all, texts) -> dict:
    from sklearn.metrics import roc_auc_score

    from rag.answer.features import UNIT_FEATURES
    from rag.answer.train import _fit_evidence, _fit_listwise, evidence_rows

    fit = [a for a in fit_all if not a.near_miss]
    check = [a for a in check_all if not a.near_miss]
    unit = _fit_listwise([(a.rows, a.labels) for a in fit if a.answerable and len(a.units)], UNIT_FEATURES)

    def rows(asked):
        x, y = evidence_rows(asked, unit)  # sets each unit's score
        extra = []
        for a in asked:
            top = sorted(range(len(a.units)), key=lambda i: -a.units[i].score)[:3]
            f = [slot_features(texts[a.qid], a.units[i].text) for i in top] or [[0.0] * 5]
            extra.append([f[0][0], f[0][1], f[0][2], f[0][0] * f[0][1], max(v[2] for v in f), max(v[0] + v[1] for v in f)])
        return x, np.asarray(extra), y

    xf, ef, yf = rows(fit)
    xc, ec, yc = rows(check)
    out = {}
    for tag, a, b in (("without", xf, xc), ("with", np.hstack([xf, ef]), np.hstack([xc, ec]))):
        for kind in ("linear", "blend"):
            p = _fit_evidence(a, yf, kind).logits(b)
            cut = np.sort(p[yc == 1])[int(0.03 * (yc == 1).sum())]
            out[f"{tag} ({kind})"] = {"auc": round(float(roc_auc_score(yc, p)), 4),
                                      "hidden_refused_at_3pct": round(float(np.mean(p[yc == 0] < cut)), 4)}
    return out


def probe_vectors(fit, check, vectors, l2s=(1e-3, 0.03, 0.3)) -> dict:
    from rag.answer.features import UNIT_FEATURES

    for a in fit + check:
        qv, uv = vectors[(a.qid, a.hidden)]
        a.qu = uv * qv[None, :]
    dim = fit[0].qu.shape[1]
    out = {}
    for l2 in l2s:
        _, base = _listwise(fit, check, lambda a: a.rows, UNIT_FEATURES, l2=l2)
        _, with_v = _listwise(fit, check, lambda a: np.hstack([a.rows, a.qu]), UNIT_FEATURES + tuple(f"qu{i}" for i in range(dim)), l2=l2)
        out[f"L2 {l2}"] = {"without": _unit_report(check, base), "with": _unit_report(check, with_v)}
    return out


def probe_cross_encoder() -> dict:
    """Forward-pass time of the bundled e5-small over (question, unit) pairs, one core."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from rag.e5convert import ensure_e5_model

    torch.set_num_threads(1)
    path = ensure_e5_model()
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    question = "该公司于哪一年在证券交易所上市？"
    unit = "公司成立于一九九八年，总部设在重庆，主要生产摩托车和汽车零部件，并于二零零四年在证券交易所上市。"
    out = {}
    for n in (1, 3, 5):
        enc = tok([question] * n, [unit] * n, return_tensors="pt", padding=True)
        with torch.inference_mode():
            model(**enc)
            times = []
            for _ in range(10):
                t = time.perf_counter()
                model(**enc)
                times.append(time.perf_counter() - t)
        out[f"{n} pairs of {enc['input_ids'].shape[1]} tokens"] = {"p50_ms": round(1000 * float(np.median(times)), 1)}
    return out


def _cross_model(path: Path, layers: int):
    """e5-small's first ``layers`` layers with a linear head over [CLS; mean], word embeddings frozen."""
    import torch
    from transformers import AutoModel

    class Cross(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = AutoModel.from_pretrained(path)
            self.bert.encoder.layer = self.bert.encoder.layer[:layers]
            self.bert.pooler = None
            self.head = torch.nn.Linear(2 * self.bert.config.hidden_size, 1)

        def forward(self, enc):
            h = self.bert(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
            mask = enc["attention_mask"][..., None]
            return self.head(torch.cat([h[:, 0], (h * mask).sum(1) / mask.sum(1)], -1)).squeeze(-1)

    model = Cross()
    # Most of e5-small's weights are its 250k-token embedding matrix: frozen, the steps stay cheap.
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    return model


def probe_cross_fit(fit_all, check_all, texts, layers: int = 2, steps: int = 730, lr: float = 2e-4) -> dict:
    """A truncated e5-small fine-tuned as a cross-encoder (module docstring), read on ``check_all``."""
    import random

    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from transformers import AutoTokenizer

    from rag.answer.reader import load_reader
    from rag.answer.train import evidence_rows, group_of
    from rag.e5convert import ensure_e5_model

    torch.manual_seed(0)
    rng = random.Random(0)
    torch.set_num_threads(2)
    path = ensure_e5_model()
    tok = AutoTokenizer.from_pretrained(path)
    reader = load_reader()

    def pairs_of(asked, k_answerable, k_hidden):
        """Each question with its best units by the linear scorer, and their scores."""
        for a in asked:
            scores = reader.unit_scores(a.rows)
            order = np.argsort(-scores)[: k_hidden if a.hidden else k_answerable]
            yield a, order, scores[order]

    def encode(questions, units):
        return tok(questions, units, truncation="only_second", max_length=64, padding=True, return_tensors="pt")

    train = [(texts[a.qid], a.units[i].text, float(a.labels[i])) for a, order, _ in pairs_of(fit_all, 6, 3) for i in order]
    model = _cross_model(path, layers)
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, s / 50) * max(0.0, 1 - s / steps))
    started, order = time.perf_counter(), []
    model.train()
    for _ in range(steps):
        if len(order) < 32:
            order = list(range(len(train)))
            rng.shuffle(order)
        batch = [train[order.pop()] for _ in range(32)]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            model(encode([b[0] for b in batch], [b[1] for b in batch])), torch.tensor([b[2] for b in batch]), pos_weight=torch.tensor(2.0))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    fit_seconds = time.perf_counter() - started
    model.eval()
    scored = []
    with torch.inference_mode():
        for a, top, linear in pairs_of(check_all, 3, 3):
            units = [a.units[i].text for i in top]
            cross = model(encode([texts[a.qid]] * len(units), units)).numpy() if units else np.zeros(0)
            scored.append((top, linear, cross))
    ex, ey = evidence_rows(check_all, reader.unit)
    p = np.clip([reader.probability(r) for r in ex], 1e-6, 1 - 1e-6)
    halves = np.array([sum(map(ord, group_of(a.qid))) % 2 for a in check_all])
    answerable = [i for i, a in enumerate(check_all) if a.answerable]

    def top1(idx, w):
        return float(np.mean([check_all[i].labels[scored[i][0][np.argmax(scored[i][1] + w * scored[i][2])]] > 0
                              for i in idx]))

    def row(i):
        _, s, c = scored[i]
        pair = (c.max(), c[0], c[np.argmax(s + c)]) if len(c) else (-10.0,) * 3
        return [np.log(p[i] / (1 - p[i])), *pair]

    x = np.array([row(i) for i in range(len(check_all))])

    def refused(q, y):
        return float((q[y == 0] < np.quantile(q[y == 1], 0.03)).mean())

    out = {"layers": layers, "steps": steps, "pairs": len(train), "fit_seconds": round(fit_seconds)}
    for half in (0, 1):
        fit_i = [i for i in answerable if halves[i] == half]
        read_i = [i for i in answerable if halves[i] != half]
        w = max(np.arange(0, 3.01, 0.1), key=lambda w: top1(fit_i, w))
        f, r = halves == half, halves != half
        stacked = LogisticRegression(C=1.0).fit(x[f], ey[f]).predict_proba(x[r])[:, 1]
        out[f"read on half {1 - half}"] = {
            "top1_v4": round(top1(read_i, 0.0), 4), "top1_cross_alone": round(top1(read_i, 1e6), 4),
            "weight": round(float(w), 1), "top1_stacked": round(top1(read_i, w), 4),
            "auc_v4": round(float(roc_auc_score(ey[r], p[r])), 4),
            "auc_cross_alone": round(float(roc_auc_score(ey[r], x[r, 1])), 4),
            "auc_stacked": round(float(roc_auc_score(ey[r], stacked)), 4),
            "hidden_refused_at_3pct_v4": round(refused(p[r], ey[r]), 4),
            "hidden_refused_at_3pct_stacked": round(refused(stacked, ey[r]), 4),
        }
    return out


def _sentence_picks(folder: Path, limit: int, seed: int) -> list[tuple[str, list[str], int]]:
    """(question, up to 8 sentences of its gold passage, index of the one holding the answer) for
    questions whose gold passage has 2+ sentences and exactly one of them holds a gold string."""
    import random

    from rag.bench import load_bench
    from rag.sentences import split_sentences

    bench = load_bench(folder)
    passages = {p["id"]: p["text"] for p in bench.passages}
    rng, picks, rows = random.Random(seed), [], list(bench.questions)
    rng.shuffle(rows)
    for row in rows:
        sentences = split_sentences(passages[row["passage_ids"][0]])
        hits = [i for i, t in enumerate(sentences) if any(a and a in t for a in row["answers"])]
        if len(sentences) < 2 or len(hits) != 1:
            continue
        others = [i for i in range(len(sentences)) if i != hits[0]]
        keep = sorted([hits[0], *rng.sample(others, min(7, len(others)))])
        picks.append((row["question"], [sentences[i] for i in keep], keep.index(hits[0])))
        if len(picks) == limit:
            break
    return picks


def probe_cross_sanity(fit_dir: Path, check_dir: Path, layers: int = 2, steps: int = 400, lr: float = 1e-4,
                       fit_n: int = 3000, check_n: int = 200) -> dict:
    """The easiest task a cross-encoder could be asked here, to tell a model that cannot learn
    from a pipeline that feeds it wrongly: among the sentences of the gold passage, pick the one
    holding the answer (listwise softmax, 4 questions a step). Read on ``check_n`` validation
    questions every 100 steps, beside character overlap with the question and chance."""
    import random

    import torch
    from transformers import AutoTokenizer

    from rag.e5convert import ensure_e5_model

    torch.manual_seed(0)
    torch.set_num_threads(2)
    rng = random.Random(0)
    path = ensure_e5_model()
    tok = AutoTokenizer.from_pretrained(path)
    model = _cross_model(path, layers)
    fit, check = _sentence_picks(fit_dir, fit_n, 0), _sentence_picks(check_dir, check_n, 1)

    def scores(question, sentences):
        enc = tok([question] * len(sentences), sentences, truncation="only_second", max_length=64,
                  padding=True, return_tensors="pt")
        return model(enc)

    def top1() -> float:
        model.eval()
        with torch.inference_mode():
            right = [int(scores(q, ss).argmax()) == gold for q, ss, gold in check]
        model.train()
        return round(float(np.mean(right)), 4)

    def overlap(q, t):
        return len(set(q) & set(t)) / (len(set(t)) or 1)

    out = {"layers": layers, "lr": lr, "fit_questions": len(fit), "check_questions": len(check),
           "top1_character_overlap": round(float(np.mean([int(np.argmax([overlap(q, t) for t in ss])) == g
                                                            for q, ss, g in check])), 4),
           "top1_chance": round(float(np.mean([1 / len(ss) for _, ss, _ in check])), 4),
           "top1_by_step": {0: top1()}, "loss_by_step": {}}
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=lr, weight_decay=0.01)
    order, losses, started = [], [], time.perf_counter()
    for step in range(1, steps + 1):
        if len(order) < 4:
            order = list(range(len(fit)))
            rng.shuffle(order)
        loss = sum(torch.nn.functional.cross_entropy(scores(q, ss)[None], torch.tensor([g]))
                   for q, ss, g in (fit[order.pop()] for _ in range(4))) / 4
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 100 == 0:
            out["top1_by_step"][step] = top1()
            out["loss_by_step"][step] = round(float(np.mean(losses[-100:])), 3)
    out["fit_seconds"] = round(time.perf_counter() - started)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fit", type=Path, default=REPO.parent / "shared" / "bench" / "drcd_test")
    p.add_argument("--check", type=Path, default=REPO.parent / "shared" / "bench" / "drcd_dev")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "yuwen" / "probes")
    p.add_argument("--probes", default=",".join(PROBES))
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    for folder in (args.fit, args.check):
        if not (folder / "questions.jsonl").is_file():
            print(f"error: {folder} is not a benchmark folder (no questions.jsonl)", file=sys.stderr)
            return 2
    wanted = {w.strip() for w in args.probes.split(",") if w.strip()}
    unknown = sorted(wanted - set(PROBES))
    if unknown or not wanted:
        print(f"error: --probes takes some of {', '.join(PROBES)} (got {', '.join(unknown) or 'none'})", file=sys.stderr)
        return 2
    results: dict = {"fit": args.fit.name, "check": args.check.name}
    if wanted - RAW_PROBES:
        fit_all, fit_texts, fit_vectors = _collected(args.fit, args.cache)
        check_all, check_texts, check_vectors = _collected(args.check, args.cache)
        fit = [a for a in fit_all if a.answerable and not a.near_miss and len(a.units)]
        check = [a for a in check_all if a.answerable and not a.near_miss and len(a.units)]
        texts = {**fit_texts, **check_texts}
        results["answerable"] = [len(fit), len(check)]
    if "trees" in wanted:
        results["trees"] = probe_trees(fit, check)
    if "slot" in wanted:
        results["slot_units"] = probe_slot(fit, check, texts)
        results["slot_evidence"] = probe_slot_evidence(fit_all, check_all, texts)
    if "vectors" in wanted:
        results["vectors"] = probe_vectors(fit, check, {**fit_vectors, **check_vectors})
    if "cross_encoder" in wanted:
        results["cross_encoder"] = probe_cross_encoder()
    if "cross_fit" in wanted:
        results["cross_fit"] = probe_cross_fit([a for a in fit_all if not a.near_miss],
                                               [a for a in check_all if not a.near_miss], texts)
    if "cross_sanity" in wanted:
        from rag.bench import BenchError

        try:
            results["cross_sanity"] = {f"lr {lr}": probe_cross_sanity(args.fit, args.check, lr=lr) for lr in (1e-4, 5e-4)}
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    text = json.dumps(results, ensure_ascii=False, indent=1)
    print(text)
    if args.out:
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
