"""How long grading one answer can take: a hostile corpus plus random fuzz, every answer at most 1 kB,
graded against items of every answer type. Target: every answer graded or refused within 200 ms.

The hostile corpus holds power towers (`9**9**9**9`, `10^10^10`), huge exponents (`x^99999`), huge
integers and decimals, brackets nested 500 deep, long sums and products, products of sums whose
expansion explodes, rational functions with many denominators, factorials, unsupported commands and
odd characters. The fuzz draws random token soup and random well-formed expressions up to 1 kB.
Every grade is timed `--repeats` times: `worst_ms` is the slowest single run (pauses of a shared
machine and the garbage collector's full passes included: `longest_gc_pause_ms`), `worst_median_ms` and
`p99_ms` use each grade's median run.

Usage: python benchmarks/grading_bound.py --json docs/results/grading_bound.json
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from metatutor.content.algebra import _expanded
from metatutor.content.catalog import generate
from metatutor.content.grading import grade
from metatutor.content.items import Item

ITEMS = ("expr-like-terms:000001", "pow-laws:000002", "ineq-negative:000003", "frac-add-unlike:000004",
         "eq-two-step:000005", "ratio-share:000006", "dec-compare:000007", "pct-what-percent:000008")
LIMIT = 1024


def _fit(text: str) -> str:
    """Trim to at most 1 kB of UTF-8."""
    while len(text.encode("utf-8")) > LIMIT:
        text = text[: len(text) - max(1, (len(text.encode("utf-8")) - LIMIT) // 4)]
    return text


def hostile_corpus() -> list[str]:
    """Answers meant to make a grader hang or run out of memory (each at most 1 kB)."""
    sums = "+".join(f"x^{k % 9 + 1}*y" for k in range(120))
    corpus = [
        "9**9**9**9", "9^9^9^9", "10^10^10", "2^(10^10)", "(2^100)^100", "2^-100^100", "x^99999", "x^100",
        "x^-100", "(x+1)^100", "((x+1)^100)^100", "(x+y+z+w)^100", "(x+1)^16*(y+1)^16*(z+1)^16",
        "(" * 511 + "x" + ")" * 511, "-" * 1023 + "1", "+" * 1024, "1" * 1024, "9" * 30, "9" * 31,
        "0." + "0" * 28 + "1", "1e999999", "1" + "0" * 1000, "x" * 1024, "x+" * 511 + "x", "1+" * 511 + "1",
        "x*" * 511 + "x", "(x+1)*" * 170 + "(x+1)", "(x+1)^100*(x-1)^100", "(a+b+c+d+e)*" * 40 + "(a+b+c+d+e)",
        "+".join(f"1/(x+{k})" for k in range(1, 90)), "+".join(f"1/{p}" for p in range(2, 200)),
        "*".join(f"(x-{k})" for k in range(60)) + "-" + "*".join(f"(x-{k})" for k in range(60)),
        "1/(x-x)", "0^-1", "1/0", "100000!", "sqrt(2)", "\\sqrt{2}", "\\frac{" * 200 + "1" + "}{2}" * 200,
        "\\left(" * 250 + "x" + "\\right)" * 250, "{" * 500 + "x" + "}" * 500, "x^{" * 300 + "2" + "}" * 300,
        "2^2^2^2^2^2^2^2^2^2^2^2", "((((2^2)^2)^2)^2)^2^2^2", "x^(x)", "x^0.5", "x^(1/2)", "\x00", "\u202e2+x",
        "é" * 512, "😀" * 256, "x<y<z", "x==2", "x = y = 3", sums, _fit(sums * 3), "(x^9*y^9*z^9)^11",
        "(99999999999999999999999999999^100)", "999999999999999999999999999999^100", "(1/3)^100*(2/7)^100",
        "-(-(-(-(-(-(-(-(-(-x)))))))))" * 10, "1 1/2" * 100, "\\frac{1}{2}" * 90, "2x+3" + " " * 1000,
        "x\\cdot" * 150 + "x", "\\placeholder{}", "\\mathrm{x}", ";" * 1000, "1;2;3", "x > 3; x < 4",
    ]
    return [_fit(c) for c in corpus]


def fuzz(rng: random.Random, n: int) -> list[str]:
    """Random token soup and random well-formed expressions, up to 1 kB."""
    tokens = ["x", "y", "2", "10", "99", "0.5", "+", "-", "*", "/", "^", "**", "(", ")", "{", "}", "\\frac",
              "\\cdot", "\\left(", "\\right)", " ", "=", "<", ">=", "−", "1 1/2", "%", "!"]
    out = []
    for k in range(n):
        if k % 2:
            size = rng.randint(1, 400)
            out.append(_fit("".join(rng.choice(tokens) for _ in range(size))))
        else:
            out.append(_fit(_expression(rng, rng.randint(1, 9))))
    return out


def _expression(rng: random.Random, depth: int) -> str:
    if depth <= 0 or rng.random() < 0.15:
        return rng.choice(["x", "y", str(rng.randint(0, 10**rng.randint(1, 12))), "1/3", "0.25"])
    kind = rng.randrange(5)
    a, b = _expression(rng, depth - 1), _expression(rng, depth - 1)
    if kind == 0:
        return f"{a}+{b}"
    if kind == 1:
        return f"({a})*({b})"
    if kind == 2:
        return f"({a})/({b})"
    if kind == 3:
        return f"({a})^{rng.randint(-12, 40)}"
    return f"\\frac{{{a}}}{{{b}}}"


def time_grades(answers: list[str], items: list[Item], repeats: int = 1) -> np.ndarray:
    """(len(answers) * len(items), repeats) milliseconds of each grade, each repeated `repeats` times."""
    times = []
    for answer in answers:
        for item in items:
            row = []
            for _ in range(repeats):
                _expanded.cache_clear()  # every run meets the answer afresh (and the key uncached: pessimistic)
                t0 = time.perf_counter()
                grade(item, answer)
                row.append((time.perf_counter() - t0) * 1000.0)
            times.append(row)
    return np.asarray(times)


def _gc_timer(pauses: list[float]) -> Callable[[str, dict[str, int]], None]:
    """A gc callback that records how long each collection takes (ms)."""
    started: list[float] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            pauses.append((time.perf_counter() - started[0]) * 1000.0)

    return callback


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fuzz", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="time every grade this often (the median filters "
                    "out pauses of a shared machine; the worst single time is reported too)")
    ap.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after start-up, as a tuned worker "
                    "would, so the collector's full passes skip the start-up heap")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    items = [generate(i) for i in ITEMS]
    grade(items[0], "2x + 1")  # load sympy before timing (a worker does this at start-up)
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    pauses: list[float] = []
    gc.callbacks.append(_gc_timer(pauses))
    hostile = hostile_corpus()
    rnd = fuzz(random.Random(args.seed), args.fuzz)
    result: dict[str, object] = {"items": list(ITEMS), "limit_bytes": LIMIT, "seed": args.seed}
    for name, answers in (("hostile", hostile), ("fuzz", rnd)):
        runs = time_grades(answers, items, args.repeats)  # (G, R)
        ms = np.median(runs, axis=1)
        worst = int(np.argmax(ms))
        result[name] = {"answers": len(answers), "grades": len(ms), "repeats": args.repeats,
                        "worst_ms": round(float(runs.max()), 2), "worst_median_ms": round(float(ms.max()), 2),
                        "p99_ms": round(float(np.percentile(ms, 99)), 2), "p50_ms": round(float(np.median(ms)), 3),
                        "slowest": answers[worst // len(items)][:80], "slowest_item": ITEMS[worst % len(items)]}
    result["gc_freeze"] = args.gc_freeze
    result["longest_gc_pause_ms"] = round(max(pauses, default=0.0), 2)
    allms = [result[k]["worst_ms"] for k in ("hostile", "fuzz")]  # type: ignore[index]
    result["worst_ms"] = max(allms)
    result["target_ms"] = 200
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
