"""What each hand rule of ``rag/rules.py`` is worth: switch each off in turn and measure the change.

    nice -n 19 .venv/bin/python benchmarks/ablation.py                      # the table of RESULTS.md
    nice -n 19 .venv/bin/python benchmarks/ablation.py --sample 200 --rules list_items,hard_anchors
    .venv/bin/python benchmarks/ablation.py --dry-run                       # only print the commands

For each benchmark folder (default ``../shared/bench/drcd_dev`` and ``../shared/bench/cmrc2018``)
the CLI is run once with every rule on and once per rule with that rule off
(``YUWEN_RULES_OFF=<rule>`` in the child's environment, ``HF_HUB_OFFLINE=1``):

    .venv/bin/rag eval --bench DIR --sample N --hide-gold --json

The runs are sequential (the machine has two cores; each run already uses them). Printed: a
markdown table with the all-on figures first, then per rule the change (off minus on) of
``answer_hit``, ``false_refusal_rate`` and ``hidden_refusal_accuracy`` on each set, and
"gains nothing" = yes when switching the rule off changed none of the recorded figures
(``METRICS`` below) on any set. Written (atomically, after every run, so a stopped ablation
keeps what it measured): ``benchmarks/results/ablation.json``. The children's stderr (progress
bars, index builds) goes to ``--log``; one line per run goes to our stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results"
DEFAULT_BENCHES = [REPO.parent / "shared" / "bench" / "drcd_dev", REPO.parent / "shared" / "bench" / "cmrc2018"]
DEFAULT_OUT = RESULTS / "ablation.json"
DEFAULT_LOG = Path(tempfile.gettempdir()) / "yuwen_ablation.log"

# The keys of the CLI's out["overall"] that are recorded for each run.
METRICS = (
    "answer_hit",
    "false_refusal_rate",
    "citation_precision",
    "answer_chars_p50",
    "hidden_refusal_accuracy",
    "hidden_n",
    "still_answered",
)
# The ones whose change the table shows (short column names).
SHOWN = {"answer_hit": "hit", "false_refusal_rate": "false ref.", "hidden_refusal_accuracy": "hidden ref."}
WHAT_CHARS = 48


def rag_executable() -> str:
    """The project's ``rag`` CLI: the virtualenv's, else the one beside this Python, else on PATH."""
    for candidate in (REPO / ".venv" / "bin" / "rag", Path(sys.executable).parent / "rag"):
        if candidate.exists():
            return str(candidate)
    return "rag"


NEAR_MISS = ("near_miss_refusal_accuracy", "near_miss_n")


def eval_command(bench: Path, sample: int, near_miss: bool = False) -> list[str]:
    """The CLI call of one run (``near_miss``: the near-miss twins asked too)."""
    return [rag_executable(), "eval", "--bench", str(bench), "--sample", str(sample), "--hide-gold", "--json",
            *(["--near-miss"] if near_miss else [])]


def child_env(rule_off: str | None) -> dict[str, str]:
    """The environment of one run: offline, and only ``rule_off`` (or no rule) switched off."""
    env = dict(os.environ)
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("YUWEN_RULES_OFF", None)  # an inherited switch would spoil the all-on run
    if rule_off:
        env["YUWEN_RULES_OFF"] = rule_off
    return env


def run_eval(bench: Path, sample: int, rule_off: str | None, log: Path, near_miss: bool = False) -> dict:
    """Run the CLI once and return the recorded keys of its ``out["overall"]``."""
    cmd = eval_command(bench, sample, near_miss)
    with open(log, "a", encoding="utf-8") as err:
        err.write(f"\n=== {'YUWEN_RULES_OFF=' + rule_off + ' ' if rule_off else ''}{shlex.join(cmd)}\n")
        err.flush()
        proc = subprocess.run(cmd, cwd=REPO, env=child_env(rule_off), stdout=subprocess.PIPE, stderr=err,
                              text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"`{shlex.join(cmd)}` (rules off: {rule_off or 'none'}) exited {proc.returncode}; "
                           f"see {log}")
    try:
        overall = json.loads(proc.stdout)["overall"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise RuntimeError(f"`{shlex.join(cmd)}` printed no JSON with an 'overall' object ({exc}); see {log}") from exc
    missing = [k for k in METRICS if k not in overall]
    if missing:
        raise RuntimeError(f"the CLI's overall lacks {', '.join(missing)} (was --hide-gold honoured?)")
    return {k: overall.get(k) for k in METRICS + (NEAR_MISS if near_miss else ())}


def delta(off: float | None, on: float | None) -> float | None:
    """off minus on, rounded; None when either is missing."""
    if off is None or on is None:
        return None
    return round(off - on, 4)


def compute_deltas(runs: dict[str, dict], rules: list[str]) -> dict[str, dict[str, dict[str, float | None]]]:
    """rule -> bench -> metric -> off minus on, over the benches where both runs exist."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for rule in rules:
        out[rule] = {}
        for bench, r in runs.items():
            if r.get("all_on") is None or rule not in r.get("off", {}):
                continue
            keys = [k for k in METRICS + NEAR_MISS if k in r["all_on"] and k in r["off"][rule]]
            out[rule][bench] = {k: delta(r["off"][rule][k], r["all_on"][k]) for k in keys}
    return out


def gains_nothing(runs: dict[str, dict], rule: str) -> bool | None:
    """True when switching ``rule`` off changed no recorded figure on any set (None: not measured everywhere)."""
    pairs = [(r["all_on"], r["off"][rule]) for r in runs.values() if r.get("all_on") and rule in r.get("off", {})]
    if len(pairs) < len(runs) or not pairs:
        return None
    return all(on[k] == off.get(k) for on, off in pairs for k in METRICS + NEAR_MISS if k in on)


def _short(text: str, limit: int = WHAT_CHARS) -> str:
    text = text.replace("|", "/").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _num(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "–"
    if signed:
        return "0" if v == 0 else f"{v:+.3f}"
    return f"{v:.3f}"


def markdown_table(runs: dict[str, dict], rules: list[str], whats: dict[str, str]) -> str:
    """The all-on row, then one row per rule with the change of the SHOWN figures on each set."""
    benches = list(runs)
    head = ["rule", "what it does"] + [f"{b} Δ{short}" for b in benches for short in SHOWN.values()] + ["gains nothing"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 3) + [":---:"]) + "|"]
    row = ["**all on**", "every rule applies (absolute figures)"]
    for b in benches:
        on = runs[b].get("all_on") or {}
        row += [_num(on.get(k)) for k in SHOWN]
    lines.append("| " + " | ".join(row + [""]) + " |")
    deltas = compute_deltas(runs, rules)
    for rule in rules:
        row = [f"`{rule}`", _short(whats[rule])]
        for b in benches:
            d = deltas[rule].get(b)
            row += [_num(d.get(k), signed=True) if d else "…" for k in SHOWN]
        nothing = gains_nothing(runs, rule)
        row.append("…" if nothing is None else ("**yes**" if nothing else "no"))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` to a temp file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def results_json(runs: dict[str, dict], rules: list[str], whats: dict[str, str], benches: list[Path], sample: int,
                 argv: list[str], seconds: float, complete: bool) -> dict:
    return {
        "what": "each hand rule of rag/rules.py switched off in turn (YUWEN_RULES_OFF); deltas are off minus on",
        "command": "nice -n 19 .venv/bin/python benchmarks/ablation.py " + shlex.join(argv),
        "eval": shlex.join(["rag", "eval", "--bench", "DIR", "--sample", str(sample), "--hide-gold", "--json"]),
        "benches": {b.name: str(b) for b in benches},
        "sample": sample,
        "complete": complete,
        "seconds": round(seconds, 1),
        "rules": {r: whats[r] for r in rules},
        "runs": runs,
        "deltas": compute_deltas(runs, rules),
        "gains_nothing": {r: gains_nothing(runs, r) for r in rules},
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Runs are sequential; run the script itself under `nice -n 19`.")
    p.add_argument("--bench", type=Path, action="append", default=None, metavar="DIR",
                   help="a benchmark folder (repeatable; default: ../shared/bench/drcd_dev and ../shared/bench/cmrc2018)")
    p.add_argument("--sample", type=int, default=1000, metavar="N",
                   help="questions per set, evenly spaced (default 1000; each is also asked with its gold hidden)")
    p.add_argument("--rules", default=None, metavar="a,b", help="only these rules (default: every rule in rag/rules.py)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="PATH",
                   help=f"the JSON written (default {DEFAULT_OUT.relative_to(REPO)})")
    p.add_argument("--log", type=Path, default=DEFAULT_LOG, metavar="PATH",
                   help=f"where the children's stderr is appended (default {DEFAULT_LOG})")
    p.add_argument("--dry-run", action="store_true", help="print the commands that would run, run nothing")
    p.add_argument("--near-miss", action="store_true",
                   help="also ask the near-miss twins and show the change of their refusal accuracy")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    from rag.rules import RULES

    whats = {name: rule.what for name, rule in RULES.items()}
    rules = list(RULES) if args.rules is None else [r.strip() for r in args.rules.split(",") if r.strip()]
    unknown = [r for r in rules if r not in RULES]
    if unknown or not rules:
        print(f"error: unknown rule(s) {', '.join(unknown) or '(none given)'}; the rules are {', '.join(RULES)}",
              file=sys.stderr)
        return 2
    if args.sample < 1:
        print("error: --sample must be at least 1", file=sys.stderr)
        return 2
    benches = [b.resolve() for b in (args.bench or DEFAULT_BENCHES)]
    names = [b.name for b in benches]
    if len(set(names)) != len(names):
        print(f"error: two benchmark folders share a name: {', '.join(names)}", file=sys.stderr)
        return 2
    plan = [(b, off) for b in benches for off in [None, *rules]]
    if args.near_miss:
        SHOWN["near_miss_refusal_accuracy"] = "near-miss ref."

    if args.dry_run:
        for b, off in plan:
            env = "HF_HUB_OFFLINE=1" + (f" YUWEN_RULES_OFF={off}" if off else "")
            print(f"(cd {shlex.quote(str(REPO))} && {env} {shlex.join(eval_command(b, args.sample, args.near_miss))} 2>>{args.log})")
        print(f"# {len(plan)} runs, one after another; results to {args.out}", file=sys.stderr)
        return 0

    missing = [str(b) for b in benches if not b.is_dir()]
    if missing:
        print(f"error: no benchmark folder {', '.join(missing)}", file=sys.stderr)
        return 2
    runs: dict[str, dict] = {b.name: {"all_on": None, "off": {}} for b in benches}
    started = time.perf_counter()
    print(f"{len(plan)} runs of {args.sample} questions (+ hidden-gold), children's stderr to {args.log}",
          file=sys.stderr)
    for i, (b, off) in enumerate(plan, 1):
        t0 = time.perf_counter()
        try:
            overall = run_eval(b, args.sample, off, args.log, args.near_miss)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            write_json_atomic(args.out, results_json(runs, rules, whats, benches, args.sample, argv,
                                                     time.perf_counter() - started, complete=False))
            return 1
        if off is None:
            runs[b.name]["all_on"] = overall
        else:
            runs[b.name]["off"][off] = overall
        write_json_atomic(args.out, results_json(runs, rules, whats, benches, args.sample, argv,
                                                 time.perf_counter() - started, complete=i == len(plan)))
        figures = " ".join(f"{short}={_num(overall[k])}" for k, short in SHOWN.items())
        print(f"[{i}/{len(plan)}] {b.name} {'off=' + off if off else 'all on'}: {figures} "
              f"({time.perf_counter() - t0:.0f} s; {time.perf_counter() - started:.0f} s in all)",
              file=sys.stderr, flush=True)

    print(markdown_table(runs, rules, whats))
    print(f"\n{args.sample} questions per set (each also asked with its gold hidden); Δ = rule off minus all on. "
          f"Written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
