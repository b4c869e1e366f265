"""What `benchmark practice` reports: its settings (`PracticeConfig`) and its rows, learning curves and
summary (`PracticeResult`), shared by the builtin simulator's study (`evaluation.practice`) and the one
on a simulator fitted to a dataset (`evaluation.practice_fitted`)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

KEYS = ("items_to_mastery", "posttest", "retention")


@dataclass(frozen=True)
class PracticeConfig:
    n_learners: int = 500  # simulated learners per policy
    budget: int = 60  # answers before the post-test
    max_items: int = 300  # answers at most while waiting for true mastery of the goals
    curve_items: int = 120  # answers shown in the learning curve
    delay_days: float = 30.0  # retention test this long after the post-test
    train_learners: int = 1000  # simulated learners whose logs fit the policies' learner model
    seed: int = 0


@dataclass
class PracticeResult:
    config: PracticeConfig
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per (policy, simulator, learner)
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # simulator -> policy -> mean curve
    reached: dict[str, dict[str, float]] = field(default_factory=dict)  # share of learners reaching mastery

    def summary(self) -> dict[str, dict[str, Any]]:
        """`summary[policy]`: means with 95% intervals (builtin simulator first; `by_simulator` for all)."""
        out: dict[str, dict[str, Any]] = {}
        for sim in dict.fromkeys(r["simulator"] for r in self.rows):
            for pol in dict.fromkeys(r["policy"] for r in self.rows if r["simulator"] == sim):
                rows = [r for r in self.rows if r["simulator"] == sim and r["policy"] == pol]
                stats = {k: _mean_ci([r[k] for r in rows]) for k in KEYS}
                entry = {k: stats[k][0] for k in KEYS} | {f"{k}_ci95": stats[k][1] for k in KEYS}
                entry["n"] = len(rows)
                entry["reached_mastery"] = self.reached.get(sim, {}).get(pol)
                target = out.setdefault(pol, {"by_simulator": {}})
                target["by_simulator"][sim] = entry
                if "simulator" not in target:
                    target.update(entry | {"simulator": sim})
        return out

    def to_json(self) -> dict[str, Any]:
        return {"task": "practice", "config": asdict(self.config), "rows": self.rows, "summary": self.summary(),
                "curves": self.curves}

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1))

    def to_markdown(self) -> str:
        c = self.config
        lines = [f"### practice: {c.n_learners} simulated learners per policy, post-test after {c.budget} answers, "
                 f"retention {c.delay_days:g} days later (mean ± 95% CI)", "",
                 "| simulator | policy | items to mastery | reached | post-test | retention |", "|---|---|---|---|---|---|"]
        for pol, s in self.summary().items():
            for sim, e in s["by_simulator"].items():
                reached = "" if e["reached_mastery"] is None else f"{100 * e['reached_mastery']:.0f}%"
                lines.append(f"| {sim} | {pol} | {_fmt(e, 'items_to_mastery', 1)} | {reached} | "
                             f"{_fmt(e, 'posttest', 3)} | {_fmt(e, 'retention', 3)} |")
        return "\n".join(lines) + "\n"

    def plot(self, path: str | Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        sims = list(self.curves)
        fig, axes = plt.subplots(1, len(sims), figsize=(6 * len(sims), 4), squeeze=False)
        for ax, sim in zip(axes[0], sims, strict=True):
            for pol, curve in self.curves[sim].items():
                ax.plot(np.arange(1, len(curve) + 1), curve, label=pol, lw=2.2 if pol == "default" else 1.2)
            ax.axvline(self.config.budget, color="grey", ls=":", lw=1)
            ax.set(xlabel="answers", ylabel="expected post-test score", title=f"learning curves ({sim} simulator)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def _mean_ci(values: list[float | None]) -> tuple[float | None, float | None]:
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if not len(v):
        return None, None
    half = 1.96 * v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    return float(v.mean()), float(half)


def _fmt(e: dict[str, Any], key: str, digits: int) -> str:
    if e[key] is None:
        return "–"
    return f"{e[key]:.{digits}f} ± {e[f'{key}_ci95']:.{digits}f}"
