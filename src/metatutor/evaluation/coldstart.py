"""`benchmark coldstart`: how well each method models a NEW learner from their first k answers.

On the test learners of each fold (never seen in training or meta-training), for each k: observe the
first k responses, adapt, predict the next `query` responses without seeing them (their answers are
zeroed before the method gets them); learners with fewer than k + query responses are left out at
that k. AUC and accuracy are pooled over all predicted responses. AUC@10 is the ordinary online AUC
over each new learner's first 10 responses (response t predicted from responses 0..t-1).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metatutor.data.responses import Responses
from metatutor.evaluation.benchmark import BenchmarkResult
from metatutor.evaluation.metrics import score
from metatutor.evaluation.protocols import iter_splits, resolve_protocol
from metatutor.meta import DEFAULT_METHOD, ColdStartMethod, Population, cold_start_episodes, make_method

log = logging.getLogger(__name__)
KS = (0, 1, 2, 3, 5, 10, 20)
BASELINE_NAMES = ("population", "scratch", "map", "finetune", "dkt", "irt")
Progress = Callable[[str], None]


class ColdStartResult(BenchmarkResult):
    """Rows `{"model", "fold", "k", "auc", "acc", "n"}`; `online` rows hold AUC@10 per fold."""

    def __init__(self, dataset: str, protocol: str) -> None:
        super().__init__(task="coldstart", dataset=dataset, protocol=protocol)
        self.online: list[dict[str, Any]] = []
        self.timing: dict[str, dict[str, float]] = {}
        self.fit_seconds: dict[str, list[float]] = {}
        self.population_seconds: list[float] = []  # the shared population DKT and IRT, per fold

    def summary(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for model in dict.fromkeys(r["model"] for r in self.rows):
            rows = [r for r in self.rows if r["model"] == model]
            ks = sorted({r["k"] for r in rows})

            def mean(key: str, k: int, rows: list[dict[str, Any]] = rows) -> float:
                vals = [r[key] for r in rows if r["k"] == k and r[key] is not None]
                return float(np.mean(vals)) if vals else float("nan")

            online = [r["auc"] for r in self.online if r["model"] == model]
            out[model] = {
                "auc_at_k": {str(k): mean("auc", k) for k in ks},
                "auc_std_at_k": {str(k): float(np.std([r["auc"] for r in rows if r["k"] == k])) for k in ks},
                "acc_at_k": {str(k): mean("acc", k) for k in ks},
                "auc_at_10": float(np.mean(online)) if online else None,
                "fit_seconds": float(np.mean(self.fit_seconds.get(model, [0.0]))),
                "folds": len({r["fold"] for r in rows}),
                **self.timing.get(model, {}),
            }
        return out

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "online": self.online, "population_seconds": self.population_seconds}

    def to_markdown(self) -> str:
        summary = self.summary()
        ks = sorted({int(k) for s in summary.values() for k in s["auc_at_k"]})
        lines = [f"### coldstart: {self.dataset} ({self.protocol} protocol)", "",
                 "| method | " + " | ".join(f"AUC k={k}" for k in ks) + " | AUC@10 | fit s/fold |",
                 "|---|" + "---|" * (len(ks) + 2)]
        for model, s in summary.items():
            cells = [f"{s['auc_at_k'].get(str(k), float('nan')):.4f}" for k in ks]
            at10 = "" if s["auc_at_10"] is None else f"{s['auc_at_10']:.4f}"
            lines.append(f"| {model} | " + " | ".join(cells) + f" | {at10} | {s['fit_seconds']:.0f} |")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ColdStartResult:
        """Rebuild a result from the JSON that `to_json` wrote (to re-plot or re-render it)."""
        result = cls(dataset=data["dataset"], protocol=data["protocol"])
        result.rows = list(data["rows"])
        result.online = list(data.get("online", []))
        for model, s in data.get("summary", {}).items():
            result.fit_seconds[model] = [s.get("fit_seconds", 0.0)]
            timing = {k: s[k] for k in ("adapt_ms_median", "adapt_batch_seconds", "adapt_batch_learners") if k in s}
            if timing:
                result.timing[model] = timing
        return result

    def plot(self, path: str | Path) -> None:
        """The cold-start curve: AUC against k, one line per method (PNG). Baselines dashed, ours solid;
        the recommended method is drawn in black (a `default` row that repeats it is not drawn twice)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        summary = self.summary()
        shown = [m for m in summary if not (m == "default" and DEFAULT_METHOD in summary)]
        colours = matplotlib.colormaps["tab20"]
        fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
        ks: list[int] = []
        for i, model in enumerate(shown):
            s = summary[model]
            ks = sorted(int(k) for k in s["auc_at_k"])
            recommended = model in (DEFAULT_METHOD, "default")
            baseline = model in BASELINE_NAMES
            ax.plot(ks, [s["auc_at_k"][str(k)] for k in ks], marker="o", ms=4 if baseline else 5,
                    lw=3 if recommended else (1.2 if baseline else 1.8), ls="--" if baseline else "-",
                    color="black" if recommended else colours(i % 20),
                    label=f"{model} (default)" if model == DEFAULT_METHOD else model, zorder=3 if recommended else 2)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("responses observed from the new learner (k)")
        ax.set_ylabel("AUC on the next 10 responses (pooled)")
        folds = next(iter(summary.values()))["folds"] if summary else 0
        ax.set_title(f"Cold start on {self.dataset}: new learners, {folds}-fold mean")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2, title="dashed: baselines, solid: meta-learned", title_fontsize=8)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def online_auc_at_10(method: ColdStartMethod, test: Responses) -> tuple[float, int]:
    """AUC of each response t < 10 predicted from responses 0..t-1 of the same learner."""
    first = test.first_k(10)
    ys, ps = [], []
    for t in range(10):
        ep = cold_start_episodes(first, t, query=1)
        if len(ep.query):
            ps.append(method.predict_query(ep.support, ep.query))
            ys.append(ep.answers)
    metrics = score(np.concatenate(ys), np.concatenate(ps))
    return metrics["auc"], int(metrics["n"])


def adapt_timing(method: ColdStartMethod, test: Responses, *, k: int = 10, singles: int = 200,
                 batched: int = 1000) -> dict[str, float]:
    """Median milliseconds to adapt one learner from k responses and predict 10 items; seconds for
    `batched` learners at once."""
    ep = cold_start_episodes(test, k)
    learners = ep.query.learners_present()
    times = []
    for learner in learners[:singles]:
        s, q = ep.support.select_learners([learner]), ep.query.select_learners([learner])
        started = time.perf_counter()
        method.predict_query(s, q)
        times.append(1000 * (time.perf_counter() - started))
    many = learners[np.arange(batched) % len(learners)] if len(learners) else learners
    s = Responses.concat([ep.support.select_learners([x]) for x in dict.fromkeys(many)]) if len(many) else ep.support
    chosen = ep.query.select_learners(list(dict.fromkeys(many)))
    started = time.perf_counter()
    method.predict_query(s, chosen)
    return {"adapt_ms_median": statistics.median(times) if times else float("nan"),
            "adapt_batch_seconds": time.perf_counter() - started, "adapt_batch_learners": chosen.n_learners}


def run_coldstart_benchmark(data: str | Path, *, protocol: str = "auto", models: list[str] | None = None,
                            folds: list[int] | None = None, seed: int = 0, k: int = 5, ks: tuple[int, ...] = KS,
                            query: int = 10, format: str | None = None, settings: dict[str, Any] | None = None,
                            timing: bool = True, progress: Progress | None = None) -> ColdStartResult:
    """Run `benchmark coldstart`. `settings` maps a method name (or "population_dkt", the population DKT
    every DKT-based method starts from) to its keyword settings."""
    path = Path(data)
    proto = resolve_protocol(path, protocol)
    names = list(dict.fromkeys(models or ["population", "irt", "map", "dkt", "finetune", "default"]))
    result = ColdStartResult(dataset=path.name if path.is_dir() else path.stem, protocol=proto)
    settings = settings or {}
    for split in iter_splits(path, proto, folds=folds, seed=seed, k=k, format=format):
        split.check_disjoint()
        population = Population(split.train, split.valid, dkt_settings={"random_state": seed,
                                                                         **settings.get("population_dkt", {})})
        started = time.perf_counter()
        if any(n not in ("population", "irt") for n in names):  # shared by the methods: fitted once, timed apart
            _ = population.dkt, population.irt
        result.population_seconds.append(time.perf_counter() - started)
        episodes = [cold_start_episodes(split.test, kk, query=query) for kk in ks]
        fitted: dict[str, tuple[ColdStartMethod, float]] = {}  # `default` reuses its method's fit
        for name in names:
            real = DEFAULT_METHOD if name == "default" else name
            if real not in fitted:
                method = make_method(real, **settings.get(name, settings.get(real, {})))
                started = time.perf_counter()
                method.fit(split.train, split.valid, population)
                fitted[real] = (method, time.perf_counter() - started)
            method, seconds = fitted[real]
            result.fit_seconds.setdefault(name, []).append(seconds)
            for ep in episodes:
                if not len(ep.query):
                    continue
                m = score(ep.answers, method.predict_query(ep.support, ep.query))
                result.rows.append({"model": name, "fold": int(split.fold), "k": ep.k, "auc": m["auc"],
                                    "acc": m["acc"], "n": int(m["n"])})
            auc10, n10 = online_auc_at_10(method, split.test)
            result.online.append({"model": name, "fold": int(split.fold), "auc": auc10, "n": n10})
            if timing and name not in result.timing:  # on the first fold
                result.timing[name] = adapt_timing(method, split.test)
            log.info("fold %s %s: %s", split.fold, name,
                     {r["k"]: round(r["auc"], 4) for r in result.rows if r["model"] == name and r["fold"] == split.fold})
            if progress:
                progress(f"fold {split.fold} {name}")
    return result
