"""`benchmark coldstart`: how well each method models a NEW learner from their first k answers.

On the test learners of each fold (never seen in training or meta-training), for each k: observe the
first k responses, adapt, predict the next `query` responses without seeing them (their answers are
zeroed before the method gets them); learners with fewer than k + query responses are left out at
that k. AUC, accuracy and the expected calibration error (ECE, 10 equal-width bins) are pooled over all
predicted responses. AUC@10 is the ordinary online AUC
over each new learner's first 10 responses (response t predicted from responses 0..t-1).

Every method is on the `sequence` track (it sees the new learner's own answers and what it learned from
the training learners; none uses item-to-item effects counted over other learners), and every row says so.
Each fitted method passes the leak audit (`evaluation.leak_audit`) on a sample of the fold's test learners:
k-shot, the query's answers shown to it and flipped must not move any query prediction; online, flipping
the answers from a cut t on must not move the predictions at positions ≤ t. A failure stops the run with
`LeakAuditError`.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.evaluation.benchmark import AUDIT_LEARNERS, BenchmarkResult, config_of, json_default, select_by_track
from metatutor.evaluation.leak_audit import TOLERANCE, audit_causal, audit_no_feedback
from metatutor.evaluation.metrics import score
from metatutor.evaluation.protocols import iter_splits, resolve_protocol
from metatutor.evaluation.tracker_method import TRACKER_METHODS, TrackerMethod
from metatutor.meta import (
    BASELINES,
    DEFAULT_METHOD,
    OURS,
    ColdStartMethod,
    Population,
    cold_start_episodes,
    make_method,
)
from metatutor.meta.episodes import hide_answers

log = logging.getLogger(__name__)
KS = (0, 1, 2, 3, 5, 10, 20)
BASELINE_NAMES = ("population", "scratch", "map", "finetune", "dkt", "irt", *TRACKER_METHODS)
# what `benchmark coldstart` runs when no methods are named, per track (no method uses classmates' answers)
COLDSTART_METHODS = {"sequence": ["population", "irt", "map", "dkt", "finetune", "default"], "classmates": []}
Progress = Callable[[str], None]


def method_track(name: str) -> str:
    """Every cold-start method is on the `sequence` track; unknown names are an error."""
    if name not in (*BASELINES, *OURS, *TRACKER_METHODS, "default"):
        raise ConfigError(f"unknown cold-start method {name!r}; choose from {', '.join((*BASELINES, *OURS, 'default'))}")
    return "sequence"


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
            online_ece = [r["ece"] for r in self.online if r["model"] == model and r.get("ece") is not None]
            out[model] = {
                "auc_at_k": {str(k): mean("auc", k) for k in ks},
                "ece_at_k": {str(k): mean("ece", k) for k in ks} if all("ece" in r for r in rows) else {},
                "ece_at_10": float(np.mean(online_ece)) if online_ece else None,
                "auc_std_at_k": {str(k): float(np.std([r["auc"] for r in rows if r["k"] == k])) for k in ks},
                "acc_at_k": {str(k): mean("acc", k) for k in ks},
                "auc_at_10": float(np.mean(online)) if online else None,
                "fit_seconds": float(np.mean(self.fit_seconds.get(model, [0.0]))),
                "folds": len({r["fold"] for r in rows}),
                **self.timing.get(model, {}),
            }
            if "track" in rows[0]:
                out[model]["track"] = rows[0]["track"]
        return out

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "online": self.online, "population_seconds": self.population_seconds}

    def to_markdown(self) -> str:
        from metatutor.evaluation.tables import render_coldstart

        return render_coldstart(json.loads(json.dumps(self.to_json(), default=json_default)))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ColdStartResult:
        """Rebuild a result from the JSON that `to_json` wrote (to re-plot or re-render it)."""
        result = cls(dataset=data["dataset"], protocol=data["protocol"])
        result.track = data.get("track", "all")
        result.extra = {k: data[k] for k in ("configs", "leak_audit", "provenance") if k in data}
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


def online_predictions(method: ColdStartMethod, responses: Responses, *, horizon: int = 10,
                       show_answers: bool = False) -> np.ndarray:
    """(N,) P(correct) of each response at position t < `horizon` from the same learner's responses
    0..t-1 (one query response at a time); NaN at later positions. The query's answer is hidden from the
    method unless `show_answers` (the leak audit shows it to check that it is not read)."""
    out = np.full(len(responses), np.nan)
    order = responses.order
    for t in range(horizon):
        long_enough = np.repeat(responses.lengths > t, responses.lengths)
        at_t = long_enough & (order == t)
        if not at_t.any():
            continue
        query = responses.select_rows(at_t)
        out[at_t] = method.predict_query(responses.select_rows(long_enough & (order < t)),
                                         query if show_answers else hide_answers(query))
    return out


def expected_calibration_error(correct: np.ndarray, proba: np.ndarray, *, bins: int = 10) -> float:
    """Σ_b (n_b / n) |mean answer − mean P(correct)| over `bins` equal-width bins of P(correct)."""
    y, p = np.asarray(correct, dtype=np.float64), np.asarray(proba, dtype=np.float64)
    if not len(y):
        return float("nan")
    b = np.minimum((p * bins).astype(np.int64), bins - 1)
    gap = np.abs(np.bincount(b, y, minlength=bins) - np.bincount(b, p, minlength=bins))
    return float(gap.sum() / len(y))


def calibrated_score(correct: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """`score` (AUC, accuracy, ...) and the expected calibration error."""
    return {**score(correct, proba), "ece": expected_calibration_error(correct, proba)}


def online_auc_at_10(method: ColdStartMethod, test: Responses) -> tuple[float, int]:
    """AUC of each response t < 10 predicted from responses 0..t-1 of the same learner."""
    first = test.first_k(10)
    p = online_predictions(method, first)
    metrics = score(first.correct, p)
    return metrics["auc"], int(metrics["n"])


def audit_method(method: ColdStartMethod, test: Responses, episodes: list[Any], *, name: str = "",
                 learners: int = AUDIT_LEARNERS, seed: int = 0) -> dict[str, float]:
    """The leak audit of one fitted method: largest change per setting (`k=<k>` for each k-shot episode,
    `online`; `online_cross_learner` is reported, not checked), checked against `TOLERANCE` (raises
    `LeakAuditError`)."""
    changes: dict[str, float] = {}
    for ep in episodes:
        if len(ep.query):
            audit = audit_no_feedback(method.predict_query, ep.support, ep.query, ep.answers, learners=learners,
                                      seed=seed)
            changes[f"k={ep.k}"] = audit.max_change
            audit.check(f"{name or method.name} (k-shot, k={ep.k})")
    audit = audit_causal(lambda r: online_predictions(method, r, show_answers=True), test.first_k(10),
                         learners=learners, seed=seed, horizon=10)
    changes["online"] = audit.max_change
    changes["online_cross_learner"] = audit.cross_learner_change
    audit.check(f"{name or method.name} (online)")
    return changes


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
                            timing: bool = True, track: str = "all", audit_learners: int = AUDIT_LEARNERS,
                            progress: Progress | None = None) -> ColdStartResult:
    """Run `benchmark coldstart`. `settings` maps a method name (or "population_dkt", the population DKT
    every DKT-based method starts from) to its keyword settings. Raises `LeakAuditError` when a method
    fails the leak audit."""
    path = Path(data)
    proto = resolve_protocol(path, protocol)
    names = select_by_track(models, track, track_of=method_track, defaults=COLDSTART_METHODS, what="method")
    result = ColdStartResult(dataset=path.name if path.is_dir() else path.stem, protocol=proto)
    result.track = track
    settings = settings or {}
    configs: dict[str, Any] = {}
    audits: dict[str, float] = {}
    result.extra = {"configs": configs, "leak_audit": {"tolerance": TOLERANCE, "learners": audit_learners,
                                                       "max_change": audits}}
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
                chosen = settings.get(name, settings.get(real, {}))
                method = TrackerMethod(real, **chosen) if real in TRACKER_METHODS else make_method(real, **chosen)
                started = time.perf_counter()
                method.fit(split.train, split.valid, population)
                fitted[real] = (method, time.perf_counter() - started)
            method, seconds = fitted[real]
            configs.setdefault(name, {"method": real, "class": type(method).__name__, "config": config_of(method),
                                      "settings": settings.get(name, settings.get(real, {}))})
            result.fit_seconds.setdefault(name, []).append(seconds)
            changes = audit_method(method, split.test, episodes, name=name, learners=audit_learners,
                                   seed=seed + split.fold)
            audits[name] = max(audits.get(name, 0.0), *(v for k, v in changes.items() if "cross" not in k))
            for ep in episodes:
                if not len(ep.query):
                    continue
                m = calibrated_score(ep.answers, method.predict_query(ep.support, ep.query))
                result.rows.append({"model": name, "track": method_track(name), "fold": int(split.fold), "k": ep.k,
                                    "auc": m["auc"], "acc": m["acc"], "ece": m["ece"], "n": int(m["n"]),
                                    "leak_max_change": changes[f"k={ep.k}"]})
            first = split.test.first_k(10)
            m10 = calibrated_score(first.correct, online_predictions(method, first))
            auc10, n10 = m10["auc"], int(m10["n"])
            result.online.append({"model": name, "track": method_track(name), "fold": int(split.fold), "auc": auc10,
                                  "ece": m10["ece"],
                                  "n": n10, "leak_max_change": changes["online"],
                                  "leak_cross_learner_change": changes["online_cross_learner"]})
            if timing and name not in result.timing:  # on the first fold
                result.timing[name] = adapt_timing(method, split.test)
            log.info("fold %s %s: %s", split.fold, name,
                     {r["k"]: round(r["auc"], 4) for r in result.rows if r["model"] == name and r["fold"] == split.fold})
            if progress:
                progress(f"fold {split.fold} {name}")
    return result
