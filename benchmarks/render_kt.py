"""Print the Markdown tables of docs/benchmarks.md from the JSON files that `benchmark kt` wrote.

Usage: python benchmarks/render_kt.py docs/results/kt_assist2009_pid.json [...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def render(path: str) -> str:
    data = json.loads(Path(path).read_text())
    folds = sorted({r["fold"] for r in data["rows"]})
    head = "| model | AUC mean ± std | " + " | ".join(f"fold {f}" for f in folds) + " | ACC | RMSE | train s/fold |"
    lines = [f"**{data['dataset']}** ({data['protocol']} protocol)", "", head, "|---" * (len(folds) + 5) + "|"]
    for model, s in data["summary"].items():
        per = {r["fold"]: r["auc"] for r in data["rows"] if r["model"] == model}
        cells = " | ".join(f"{per[f]:.4f}" if f in per else "" for f in folds)
        lines.append(f"| {model} | {s['auc']:.4f} ± {s['auc_std']:.4f} | {cells} | {s['acc']:.4f} | {s['rmse']:.4f} "
                     f"| {s['train_seconds']:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print("\n".join(render(p) for p in sys.argv[1:]))
