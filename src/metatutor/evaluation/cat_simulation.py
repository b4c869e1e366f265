"""`benchmark cat --simulation`: examinees of known ability θ ~ N(0, 1) take adaptive tests on a Rasch bank;
ability RMSE, bias and mean SE against test length, and item exposure, per selector and estimator."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metatutor.assessment.selection import SelectorConfig
from metatutor.assessment.simulation import calibrate_exposure, rasch_bank, simulate

# (name, selector, estimator, Sympson-Hetter r_max)
CONDITIONS: tuple[tuple[str, SelectorConfig, str, float | None], ...] = (
    ("random+eap", SelectorConfig(criterion="random"), "eap", None),
    ("mfi+eap", SelectorConfig(criterion="mfi"), "eap", None),
    ("kl+eap", SelectorConfig(criterion="kl"), "eap", None),
    ("mfi+map", SelectorConfig(criterion="mfi"), "map", None),
    ("mfi+mle", SelectorConfig(criterion="mfi"), "mle", None),
    ("mfi+eap+randomesque5", SelectorConfig(criterion="mfi", randomesque=5), "eap", None),
    ("mfi+eap+sympson-hetter0.2", SelectorConfig(criterion="mfi"), "eap", 0.2),
)


@dataclass
class SimulationStudy:
    n_items: int
    n_examinees: int
    length: int
    seed: int
    rows: list[dict[str, Any]] = field(default_factory=list)  # {"condition", "length", "rmse", "bias", "se"}
    exposure: dict[str, dict[str, float]] = field(default_factory=dict)
    step_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"task": "cat_simulation", "n_items": self.n_items, "n_examinees": self.n_examinees,
                "length": self.length, "seed": self.seed, "rows": self.rows, "exposure": self.exposure,
                "summary": {c: {"rmse_at_10": self.at(c, 10, "rmse"), "rmse_at_20": self.at(c, 20, "rmse"),
                                "bias_at_10": self.at(c, 10, "bias"), **self.exposure[c]} for c in self.exposure}}

    def at(self, condition: str, length: int, key: str) -> float:
        """The value at a test length (NaN beyond the simulated length)."""
        vals = [r[key] for r in self.rows if r["condition"] == condition and r["length"] == length]
        return float(vals[0]) if vals else float("nan")

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1))

    def to_markdown(self) -> str:
        lines = [f"### cat simulation: Rasch bank of {self.n_items} items, {self.n_examinees} examinees θ ~ N(0, 1)",
                 "", "| condition | RMSE@5 | RMSE@10 | RMSE@20 | RMSE@50 | bias@10 | SE@10 | max exposure (10 items) |",
                 "|---|---|---|---|---|---|---|---|"]
        for c, e in self.exposure.items():
            cells = [f"{self.at(c, n, 'rmse'):.3f}" for n in (5, 10, 20, self.length)]
            lines.append(f"| {c} | " + " | ".join(cells) + f" | {self.at(c, 10, 'bias'):+.3f} | "
                         f"{self.at(c, 10, 'se'):.3f} | {e['max_exposure_at_10']:.3f} |")
        return "\n".join(lines) + "\n"

    def plot(self, path: str | Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for c in self.exposure:
            rows = [r for r in self.rows if r["condition"] == c]
            ax.plot([r["length"] for r in rows], [r["rmse"] for r in rows], label=c)
        ax.set_xlabel("test length (items)")
        ax.set_ylabel("ability RMSE")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        ax.set_title(f"CAT on a {self.n_items}-item Rasch bank, θ ~ N(0, 1)")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def run_cat_simulation(*, n_items: int = 500, n_examinees: int = 1000, length: int = 50, seed: int = 0,
                       progress: Callable[[str], None] | None = None) -> SimulationStudy:
    bank = rasch_bank(n_items, np.random.default_rng(seed))
    theta = np.random.default_rng(seed + 1).normal(size=n_examinees)
    study = SimulationStudy(n_items=n_items, n_examinees=n_examinees, length=length, seed=seed)
    for name, selector, estimator, r_max in CONDITIONS:
        k = None
        if r_max is not None:  # calibrated on its own simulated cohort (seed + 2), for tests of 10 items
            k = calibrate_exposure(bank, length=10, selector=selector, r_max=r_max, estimator=estimator,
                                   seed=seed + 2, cohort=n_examinees)
        t0 = time.perf_counter()
        sim = simulate(bank, theta, length=length, selector=selector, estimator=estimator,
                       rng=np.random.default_rng(seed + 3), exposure_k=k)
        study.step_ms[name] = 1000 * (time.perf_counter() - t0) / (n_examinees * length)
        rmse, bias, se = sim.rmse(), sim.bias(), sim.mean_se()
        for t in range(length):
            study.rows.append({"condition": name, "length": t + 1, "rmse": float(rmse[t]), "bias": float(bias[t]),
                               "se": float(se[t])})
        study.exposure[name] = {"max_exposure_at_10": float(sim.exposure(n_items, 10).max()),
                                "max_exposure": float(sim.exposure(n_items).max()),
                                "unused_items_at_10": int((sim.exposure(n_items, 10) == 0).sum()),
                                "step_ms": study.step_ms[name]}
        if progress:
            progress(name)
    return study
