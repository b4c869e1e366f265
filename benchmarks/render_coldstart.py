"""Print the cold-start table of docs/benchmarks.md from `benchmark coldstart --json` output, with the
best baseline at each k and the margin of the recommended method over it.

Usage: python benchmarks/render_coldstart.py docs/results/coldstart_assist2009_pid.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BASELINES = ("population", "scratch", "map", "finetune", "dkt", "irt")


def render(path: str) -> str:
    data = json.loads(Path(path).read_text())
    summary = data["summary"]
    ks = sorted({int(k) for s in summary.values() for k in s["auc_at_k"]})
    lines = [f"**{data['dataset']}** ({data['protocol']} protocol, {max(s['folds'] for s in summary.values())} folds)", "",
             "| method | " + " | ".join(f"k={k}" for k in ks) + " | AUC@10 | fit s/fold |",
             "|---" * (len(ks) + 3) + "|"]
    for model, s in summary.items():
        cells = " | ".join(f"{s['auc_at_k'][str(k)]:.4f}" for k in ks)
        at10 = "" if s["auc_at_10"] is None else f"{s['auc_at_10']:.4f}"
        lines.append(f"| {model} | {cells} | {at10} | {s['fit_seconds']:.0f} |")
    if "default" in summary:
        best = {k: max(summary[b]["auc_at_k"][str(k)] for b in BASELINES if b in summary) for k in ks}
        names = {k: max((b for b in BASELINES if b in summary), key=lambda b: summary[b]["auc_at_k"][str(k)])
                 for k in ks}
        lines.append("| best baseline | " + " | ".join(f"{best[k]:.4f} ({names[k]})" for k in ks) + " | | |")
        lines.append("| **default − best baseline** | " + " | ".join(
            f"**{summary['default']['auc_at_k'][str(k)] - best[k]:+.4f}**" for k in ks) + " | | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print("\n".join(render(p) for p in sys.argv[1:]))
