"""Whether the evidence model should also learn from questions whose whole gold article is gone.

DRCD's hide-gold negatives keep the gold article's other passages (81 % of its questions have
some), so the evidence model learns "a sibling passage on the same topic does not answer"; a
benchmark of one passage per article (cmrc2018), or a user asking about what the corpus never
covered, meets another kind: the topic itself is absent. This script collects the fitting set
once with both kinds of negative (and the near-miss twins), fits the reader with and without the
whole-article ones (everything else as `rag train`'s defaults), and reads both on the validation
set, collected the same way: AUC and refusals at each reader's own threshold, by kind of negative.
Nothing is read on cmrc2018.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/hide_articles.py [--fit ../shared/bench/drcd_test]
        [--check ../shared/bench/drcd_dev] [--cache DIR] [--out-dir DIR] [--out results.json]

The readers are written to ``--out-dir`` (``reader_without.json``, ``reader_with.json``) so that
the full `rag eval` can read each (``YUWEN_READER=...``). The first run collects (about 10
minutes a set with the benchmark index cached) into ``--cache``; later runs read it.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = REPO.parent / "shared" / "bench"
# As `rag train`'s command in the model card.
FIT = {"false_refusals": 0.03, "median_chars": 55, "evidence_model": "blend", "constraint_false_refusals": 0.01}


def collected(folder: Path, cache: Path) -> list:
    """Every question of ``folder`` asked normally, with its gold passages hidden, with its whole
    gold article hidden and as its near-miss twin (`rag.answer.train.collect`), cached."""
    from rag.answer.features import IdfTable
    from rag.answer.reader import Reader
    from rag.answer.train import collect
    from rag.bench import (
        article_texts,
        ensure_bench_index,
        hidden_passages,
        load_bench,
        open_bench_engine,
        still_answerable,
    )
    from rag.chunking import ChunkSettings
    from rag.nearmiss import twins

    bench = load_bench(folder)
    path = cache / f"articles-{bench.name}-{bench.passages_sha256[:12]}.pkl"
    if path.exists():
        asked, (df, n_docs) = pickle.loads(path.read_bytes())
    else:
        index_dir, _ = ensure_bench_index(bench, chunking=ChunkSettings())
        engine = open_bench_engine(index_dir, chunking=ChunkSettings(), model=Reader.untrained())
        t = time.perf_counter()
        asked = collect(engine, bench.questions, still_answerable(bench),
                        twins=twins(bench.questions, article_texts(bench)),
                        articles=hidden_passages(bench, "article"))
        frequencies, n_docs = engine.reader.document_frequencies()
        df = {w: frequencies.get(w) for w in frequencies.vocab}
        for a in asked:
            a.idf = None
        print(f"collected {bench.name}: {len(asked)} asked in {time.perf_counter() - t:.0f} s", flush=True)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps((asked, (df, n_docs))))
        tmp.replace(path)
    idf = IdfTable.from_counts(df, n_docs)
    for a in asked:
        a.idf = idf
    return asked


def kind_of(a) -> str:
    if a.near_miss:
        return "twin"
    if a.whole_article:
        return "article_hidden"
    return "passage_hidden" if a.hidden else "answerable"


def read(reader, asked: list) -> dict:
    """AUC of the answer probability against each kind of negative, and the share of each kind
    refused at the reader's own threshold (for the answerable: the false refusals)."""
    from sklearn.metrics import roc_auc_score

    from rag.answer.train import evidence_rows

    x, _ = evidence_rows(asked, reader.unit)
    p = np.array([reader.probability(r) for r in x])
    kinds = np.array([kind_of(a) for a in asked])
    refused = p < reader.threshold
    out = {"threshold": round(reader.threshold, 4)}
    pos = kinds == "answerable"
    for k in ("answerable", "passage_hidden", "article_hidden", "twin"):
        m = kinds == k
        if not m.any():
            continue
        out[k] = {"n": int(m.sum()), "refused": round(float(refused[m].mean()), 4)}
        if k != "answerable":
            sel = pos | m
            out[k]["auc"] = round(float(roc_auc_score(pos[sel], p[sel])), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fit", type=Path, default=SHARED / "drcd_test")
    ap.add_argument("--check", type=Path, default=SHARED / "drcd_dev")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "yuwen" / "probes")
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/hide_articles"))
    ap.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = ap.parse_args(argv)

    from rag.answer.train import fit_reader

    fit = collected(args.fit, args.cache)
    check = collected(args.check, args.cache)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    report = {"fit": str(args.fit), "check": str(args.check), "fit_params": FIT, "readers": {}}
    for name, keep in (("without", lambda a: not a.whole_article), ("with", lambda a: True)):
        t = time.perf_counter()
        reader = fit_reader([a for a in fit if keep(a)], **FIT)
        reader.save(args.out_dir / f"reader_{name}.json")
        report["readers"][name] = {"fit_seconds": round(time.perf_counter() - t, 1), "check": read(reader, check)}
        print(name, json.dumps(report["readers"][name], ensure_ascii=False), flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
