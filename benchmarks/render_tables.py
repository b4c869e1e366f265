"""Render every table under docs/results/ from its JSON; `--check` fails when a committed table differs.

Each `X.md` is `metatutor.evaluation.tables.render(X.json)`, except the tables listed in `COMBINED`, which
gather the models of several runs (each JSON exactly as its run wrote it; the table names the file of each
row). JSON files without a `task` (timings written by the scripts in benchmarks/) have no table.

docs/benchmarks.md quotes some of these tables between markers, which this script fills in and checks too:

    <!-- table: kt_assist2009_pid.md -->
    ...
    <!-- end table -->

Usage:
    python benchmarks/render_tables.py            # rewrite docs/results/*.md
    python benchmarks/render_tables.py --check    # exit 1 and list the tables that differ (CI)
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

from metatutor.evaluation.tables import render, render_kt_runs

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
DOCS = [RESULTS.parent / "benchmarks.md"]
BLOCK = re.compile(r"(<!-- table: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- end table -->)", re.S)
BASELINES = ["irt", "bkt", "pfa", "bestlr"]
# table -> [(JSON file, the models taken from it)]. The baselines and DKT of the kt tables come from two
# runs: DKT was re-run after each of its changes (`benchmarks/kt_all.sh` writes both files again).
KT_DATASETS = ("assist2009_pid", "statics", "assist2015", "pykt_assist2015")
COMBINED: dict[str, list[tuple[str, list[str] | None]]] = {
    f"kt_{ds}.md": [(f"kt_{ds}.json", BASELINES), (f"kt_{ds}_dkt.json", ["dkt"])] for ds in KT_DATASETS
}
# the headline of each dataset, both tracks side by side (docs/benchmarks.md §3; no attn run on assist2015)
COMBINED |= {
    f"kt_tracks_{ds}.md": [(f"kt_{ds}_dkt.json", ["dkt"]), *([] if ds == "assist2015" else [(f"kt_attn_{ds}.json", None)]),
                           (f"kt_ensemble_{ds}.json", None), (f"kt_ensemble_pairs_{ds}.json", None)]
    for ds in KT_DATASETS
}


def tables(results: Path = RESULTS) -> dict[Path, str]:
    """Every table's path and the Markdown its JSON renders to."""
    out: dict[Path, str] = {}
    sources = {src for parts in COMBINED.values() for src, _ in parts}
    for name, parts in COMBINED.items():
        if all((results / src).exists() for src, _ in parts):
            out[results / name] = render_kt_runs([(src, json.loads((results / src).read_text()), models)
                                                  for src, models in parts])
    for path in sorted(results.glob("*.json")):
        if path.with_suffix(".md").name in COMBINED or (path.name in sources and not path.with_suffix(".md").exists()):
            continue
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("task") in ("kt", "coldstart", "cat", "cat_simulation", "practice"):
            out[path.with_suffix(".md")] = render(data)
    return out


def embedded(doc: Path, rendered: dict[str, str]) -> tuple[str, list[str]]:
    """`doc` with every marked block set to its table, and the names of the blocks that were not."""
    stale: list[str] = []

    def fill(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in rendered:
            stale.append(f"{name} (no such table)")
            return m.group(0)
        if m.group("body") != rendered[name]:
            stale.append(name)
        return m.group(1) + rendered[name] + m.group(4)

    return BLOCK.sub(fill, doc.read_text()), stale


def check(results: Path = RESULTS, docs: list[Path] | None = None) -> list[str]:
    """A short report per table that is missing or differs from what its JSON renders (empty: all agree)."""
    problems = []
    rendered = tables(results)
    for doc in DOCS if docs is None else docs:
        problems += [f"{doc.name}: the quoted table {name} differs from its JSON" for name in
                     embedded(doc, {p.name: t for p, t in rendered.items()})[1]]
    for path, text in rendered.items():
        if not path.exists():
            problems.append(f"{path.name}: missing (its JSON renders a table)")
            continue
        committed = path.read_text()
        if committed != text:
            diff = difflib.unified_diff(committed.splitlines(), text.splitlines(), "committed", "rendered", n=0,
                                        lineterm="")
            problems.append(f"{path.name} differs from its JSON:\n  " + "\n  ".join(list(diff)[2:14]))
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.check:
        problems = check(args.results, DOCS if args.results == RESULTS else [])
        for p in problems:
            print(p)
        if problems:
            print(f"{len(problems)} table(s) differ; run python benchmarks/render_tables.py", file=sys.stderr)
        return 1 if problems else 0
    rendered = tables(args.results)
    for path, text in rendered.items():
        path.write_text(text)
        print(f"wrote {path}")
    for doc in DOCS if args.results == RESULTS else []:
        text, stale = embedded(doc, {p.name: t for p, t in rendered.items()})
        doc.write_text(text)
        print(f"wrote {doc} ({len(stale)} quoted table(s) updated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
