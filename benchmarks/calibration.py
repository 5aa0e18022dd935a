"""How well the hybrid system's confidence is calibrated: ECE, Brier score and a reliability diagram.

    nice -n 19 .venv/bin/python benchmarks/calibration.py --bench ../shared/bench/cmrc2018 --sample 500
    nice -n 19 .venv/bin/python benchmarks/calibration.py --from run.json      # JSON saved earlier

Input: the JSON that ``rag eval --bench DIR --hide-gold --json --details`` prints, read from
``--from FILE`` or made by running that command (``--bench DIR``, optional ``--sample N``;
``--save-raw FILE`` keeps it for a later ``--from``). From
``out["systems"]["yuwen-hybrid"]["outcomes"]`` the outcomes with a ``confidence`` are taken,
leaving out the hidden-gold ones whose answer still stands elsewhere in their article
(``hidden and still_answerable``). The label is 1 for a normal question (``hidden`` false: its
evidence is there) and 0 for a hidden-gold one (nothing answers it), so the confidence is read as
"the probability that the evidence answers".

Printed: the count, the expected calibration error (10 equal-width bins over [0, 1], each bin's
|mean confidence - observed rate| weighted by its share of the questions), the Brier score, and
per bin its count, mean confidence and observed rate. Written: a reliability diagram
(``benchmarks/results/<bench>_reliability.png``, ``--png``) and the figures as JSON beside it
(``<bench>_calibration.json``). The diagram needs matplotlib (the ``[peers]`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SYSTEM = "yuwen-hybrid"
BINS = 10


def _bin_of(p: float, bins: int) -> int:
    """Equal-width bin of ``p`` in [0, 1]; 1.0 falls in the last bin."""
    return min(int(p * bins), bins - 1)


def _check(probabilities: Sequence[float], labels: Sequence[int | bool], bins: int) -> None:
    if len(probabilities) != len(labels):
        raise ValueError(f"{len(probabilities)} probabilities but {len(labels)} labels")
    if not probabilities:
        raise ValueError("no probabilities")
    if bins < 1:
        raise ValueError("bins must be at least 1")
    if any(not 0.0 <= p <= 1.0 for p in probabilities):
        raise ValueError("probabilities must lie in [0, 1]")
    if any(y not in (0, 1) for y in labels):
        raise ValueError("labels must be 0 or 1")


def reliability_bins(probabilities: Sequence[float], labels: Sequence[int | bool], bins: int = BINS) -> list[dict]:
    """Per equal-width bin over [0, 1]: its bounds, count, mean probability and observed rate of label 1
    (mean and rate None for an empty bin)."""
    _check(probabilities, labels, bins)
    sums = [0.0] * bins
    hits = [0] * bins
    counts = [0] * bins
    for p, y in zip(probabilities, labels):
        b = _bin_of(p, bins)
        counts[b] += 1
        sums[b] += p
        hits[b] += int(y)
    return [
        {
            "lo": round(b / bins, 6),
            "hi": round((b + 1) / bins, 6),
            "n": counts[b],
            "mean_confidence": sums[b] / counts[b] if counts[b] else None,
            "observed_rate": hits[b] / counts[b] if counts[b] else None,
        }
        for b in range(bins)
    ]


def expected_calibration_error(probabilities: Sequence[float], labels: Sequence[int | bool], bins: int = 10) -> float:
    """ECE: over ``bins`` equal-width bins of [0, 1], the sum of |mean probability - observed rate of
    label 1| weighted by the bin's share of the items."""
    table = reliability_bins(probabilities, labels, bins)
    total = len(probabilities)
    return sum(b["n"] / total * abs(b["mean_confidence"] - b["observed_rate"]) for b in table if b["n"])


def brier_score(probabilities: Sequence[float], labels: Sequence[int | bool]) -> float:
    """Mean squared difference between probability and label."""
    _check(probabilities, labels, 1)
    return sum((p - int(y)) ** 2 for p, y in zip(probabilities, labels)) / len(probabilities)


def select(outcomes: Sequence[dict]) -> tuple[list[float], list[int], dict[str, int]]:
    """(confidences, labels, counts) of the outcomes that enter the calibration."""
    probabilities: list[float] = []
    labels: list[int] = []
    counts = {"outcomes": len(outcomes), "no_confidence": 0, "hidden_still_answerable": 0, "near_miss": 0}
    for o in outcomes:
        if o.get("near_miss"):  # the twins are scored apart: the calibration is of normal + hide-gold
            counts["near_miss"] += 1
            continue
        if o.get("confidence") is None:
            counts["no_confidence"] += 1
            continue
        if o.get("hidden") and o.get("still_answerable"):
            counts["hidden_still_answerable"] += 1
            continue
        probabilities.append(float(o["confidence"]))
        labels.append(0 if o.get("hidden") else 1)
    counts["used"] = len(labels)
    counts["normal"] = sum(labels)
    counts["hidden"] = len(labels) - sum(labels)
    return probabilities, labels, counts


def run_eval(bench: Path, sample: int | None) -> dict:
    """Run ``rag eval --bench DIR --hide-gold --json --details`` and return its JSON (progress stays on stderr)."""
    rag = next((str(c) for c in (REPO / ".venv" / "bin" / "rag", Path(sys.executable).parent / "rag") if c.exists()),
               "rag")
    cmd = [rag, "eval", "--bench", str(bench), "--hide-gold", "--json", "--details"]
    if sample is not None:
        cmd += ["--sample", str(sample)]
    print(f"running {shlex.join(cmd)} ...", file=sys.stderr, flush=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"`{shlex.join(cmd)}` exited {proc.returncode}")
    return json.loads(proc.stdout)


def _write_atomic(path: Path, write) -> None:
    """Call ``write(tmp_path)`` on a temp file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plot_reliability(table: list[dict], probabilities: Sequence[float], labels: Sequence[int], title: str,
                     png: Path) -> None:
    """Reliability diagram (observed rate per bin against the diagonal) over a histogram of the confidences."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = len(table)
    width = 1.0 / bins
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 7.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="perfect calibration")
    full = [b for b in table if b["n"]]
    top.bar([b["lo"] for b in full], [b["observed_rate"] for b in full], width=width, align="edge", alpha=0.35,
            color="tab:blue", edgecolor="tab:blue", label="observed rate per bin")
    top.plot([b["mean_confidence"] for b in full], [b["observed_rate"] for b in full], "o-", color="tab:blue",
             markersize=5, label="(mean confidence, observed rate)")
    for b in full:
        top.annotate(str(b["n"]), (b["lo"] + width / 2, b["observed_rate"]), textcoords="offset points",
                     xytext=(0, 4), ha="center", fontsize=7, color="dimgrey")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.05)
    top.set_ylabel("share whose evidence answers (label 1)")
    top.set_title(title, fontsize=10)
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    edges = [i / bins for i in range(bins + 1)]
    normal = [p for p, y in zip(probabilities, labels) if y]
    hidden = [p for p, y in zip(probabilities, labels) if not y]
    bottom.hist([normal, hidden], bins=edges, stacked=True, color=["tab:green", "tab:red"],
                label=[f"normal ({len(normal)})", f"gold hidden ({len(hidden)})"])
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("questions")
    bottom.legend(loc="upper center", fontsize=8)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    _write_atomic(png, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


def bench_name(data: dict, bench: Path | None, source: Path | None) -> str:
    if data.get("bench"):
        return Path(data["bench"]).name
    if bench is not None:
        return bench.resolve().name
    return source.stem if source else "bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from", dest="source", type=Path, metavar="FILE",
                     help="the JSON of `rag eval --bench DIR --hide-gold --json --details`")
    src.add_argument("--bench", type=Path, metavar="DIR", help="run that command on this benchmark folder")
    p.add_argument("--sample", type=int, default=None, metavar="N", help="with --bench: ask N questions evenly spaced")
    p.add_argument("--save-raw", type=Path, default=None, metavar="FILE",
                   help="with --bench: also keep the eval's JSON here (for a later --from)")
    p.add_argument("--system", default=SYSTEM, help=f"the system whose outcomes are read (default {SYSTEM})")
    p.add_argument("--png", type=Path, default=None,
                   help="the reliability diagram (default benchmarks/results/<bench>_reliability.png); "
                        "the JSON goes beside it as <bench>_calibration.json")
    args = p.parse_args(argv)
    if args.source is not None and (args.sample is not None or args.save_raw is not None):
        p.error("--sample and --save-raw go with --bench, not --from")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("error: matplotlib is not installed; install the chart extra with `.venv/bin/pip install -e '.[peers]'`",
              file=sys.stderr)
        return 2

    if args.source is not None:
        try:
            data = json.loads(args.source.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"error: cannot read {args.source}: {exc}", file=sys.stderr)
            return 1
    else:
        try:
            data = run_eval(args.bench, args.sample)
        except (RuntimeError, json.JSONDecodeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if args.save_raw is not None:
            _write_atomic(args.save_raw,
                          lambda tmp: tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8"))

    systems = data.get("systems") or {}
    if args.system not in systems:
        print(f"error: no system '{args.system}' in the JSON (it has: {', '.join(systems) or 'none'})", file=sys.stderr)
        return 1
    outcomes = systems[args.system].get("outcomes")
    if outcomes is None:
        print("error: the JSON has no per-question outcomes: make it with --details", file=sys.stderr)
        return 1
    probabilities, labels, counts = select(outcomes)
    if not probabilities:
        print(f"error: none of the {len(outcomes)} outcomes has a confidence", file=sys.stderr)
        return 1
    if counts["hidden"] == 0:
        print("warning: no hidden-gold question among them (was the eval run with --hide-gold?)", file=sys.stderr)

    name = bench_name(data, args.bench, args.source)
    png = args.png or RESULTS / f"{name}_reliability.png"
    out_json = png.parent / f"{name}_calibration.json"
    table = reliability_bins(probabilities, labels, BINS)
    ece = expected_calibration_error(probabilities, labels, BINS)
    brier = brier_score(probabilities, labels)

    print(f"{name}, {args.system}: {counts['used']} questions with a confidence ({counts['normal']} normal = label 1, "
          f"{counts['hidden']} gold hidden = label 0; left out: {counts['hidden_still_answerable']} hidden but still "
          f"answerable, {counts['no_confidence']} without a confidence)")
    print(f"ECE ({BINS} bins) {ece:.4f}   Brier {brier:.4f}")
    print("| bin | n | mean confidence | observed rate |")
    print("|---|---:|---:|---:|")
    for b in table:
        mean = "–" if b["mean_confidence"] is None else f"{b['mean_confidence']:.3f}"
        rate = "–" if b["observed_rate"] is None else f"{b['observed_rate']:.3f}"
        print(f"| [{b['lo']:.1f}, {b['hi']:.1f}{']' if b['hi'] >= 1 else ')'} | {b['n']} | {mean} | {rate} |")

    plot_reliability(table, probabilities, labels,
                     f"{name}: reliability of {args.system} confidence (ECE {ece:.3f}, n={counts['used']})", png)
    figures = {
        "bench": name,
        "source": str(args.source) if args.source else data.get("bench"),
        "system": args.system,
        "label": "1 = normal question (hidden false), 0 = gold hidden; hidden and still_answerable left out",
        "counts": counts,
        "bins": BINS,
        "ece": round(ece, 6),
        "brier": round(brier, 6),
        "table": [{**b, "mean_confidence": None if b["mean_confidence"] is None else round(b["mean_confidence"], 6),
                   "observed_rate": None if b["observed_rate"] is None else round(b["observed_rate"], 6)}
                  for b in table],
        "png": str(png),
    }
    _write_atomic(out_json, lambda tmp: tmp.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n",
                                                       encoding="utf-8"))
    print(f"written: {png}, {out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
