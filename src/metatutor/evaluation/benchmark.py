"""`benchmark kt`: fit each model on each fold's training learners, score it on unseen test learners.

Metrics are at question level: one prediction per response (a multi-skill question is one response),
pooled over all test responses of a fold. Results follow the JSON shape documented in docs/benchmarks.md.

Every row names its track (`metatutor.models.TRACK`: `sequence` or `classmates`), and every fitted model
passes the leak audit (`evaluation.leak_audit`) on a sample of the fold's test learners before its row is
kept: a prediction that moves when the answers at or after its position are flipped stops the run with
`LeakAuditError`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metatutor.errors import ConfigError
from metatutor.evaluation.leak_audit import TOLERANCE, audit_causal
from metatutor.evaluation.metrics import score
from metatutor.evaluation.protocols import resolve_protocol
from metatutor.models import make_model, model_track

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
TRACK_CHOICES = ("sequence", "classmates", "all")
# what `benchmark kt` runs when no models are named, per track
KT_MODELS = {"sequence": ["irt", "bkt", "pfa", "bestlr", "dkt"], "classmates": ["pairs", "default-classmates"]}
AUDIT_LEARNERS = 32  # test learners per fold and model in the leak audit (two cuts each)


def select_by_track(names: list[str] | None, track: str, *, track_of: Callable[[str], str],
                    defaults: dict[str, list[str]], what: str = "model") -> list[str]:
    """The names a run executes: `names` (all of them in `track`), or the track's defaults when None.

    Under `--track classmates` the generic `default` means `default-classmates`; a name of the other track
    is an error rather than silently dropped."""
    if track not in TRACK_CHOICES:
        raise ConfigError(f"unknown track {track!r}; choose from {', '.join(TRACK_CHOICES)}")
    if names is None:
        names = [*defaults.get("sequence", []), *defaults.get("classmates", [])] if track == "all" \
            else list(defaults.get(track, []))
        if not names:
            raise ConfigError(f"no {what} is on the {track!r} track")
    if track == "classmates":
        names = ["default-classmates" if n == "default" else n for n in names]
    names = list(dict.fromkeys(names))
    tracks = {n: track_of(n) for n in names}  # raises on unknown names
    wrong = [n for n, t in tracks.items() if track != "all" and t != track]
    if wrong:
        raise ConfigError(f"--track {track} runs {what}s of that track only; "
                          + ", ".join(f"{n} is {tracks[n]}" for n in wrong))
    return names


@dataclass
class BenchmarkResult:
    task: str
    dataset: str
    protocol: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    track: str = "all"  # the track the run was asked for (each row names its own)
    extra: dict[str, Any] = field(default_factory=dict)  # more top-level JSON fields (configs, leak_audit)

    def summary(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for model in dict.fromkeys(r["model"] for r in self.rows):
            rows = [r for r in self.rows if r["model"] == model]
            aucs = np.array([np.nan if r["auc"] is None else r["auc"] for r in rows], dtype=float)
            out[model] = {
                "auc": float(np.nanmean(aucs)),
                "auc_std": float(np.nanstd(aucs)),
                "acc": float(np.mean([r["acc"] for r in rows])),
                "rmse": float(np.mean([r["rmse"] for r in rows])),
                "train_seconds": float(np.mean([r["train_seconds"] for r in rows])),
                "folds": len(rows),
            }
            if "track" in rows[0]:
                out[model]["track"] = rows[0]["track"]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "dataset": self.dataset, "protocol": self.protocol, "track": self.track,
                "rows": self.rows, "summary": self.summary(), **self.extra}

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2, default=json_default))

    def to_markdown(self) -> str:
        from metatutor.evaluation.tables import render

        return render(json.loads(json.dumps(self.to_json(), default=json_default)))


def json_default(value: Any) -> Any:
    """What `json.dumps` cannot write by itself: numpy scalars and arrays, tuples in dataclasses."""
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value)}")




def config_of(obj: Any) -> dict[str, Any] | None:
    """A model's or method's settings as a dict (its config dataclass), or None when it has none."""
    config = getattr(obj, "config", None)
    return asdict(config) if is_dataclass(config) and not isinstance(config, type) else None


def run_kt_benchmark(data: str | Path, *, protocol: str = "auto", models: list[str] | None = None,
                     folds: list[int] | None = None, seed: int = 0, k: int = 5,
                     format: str | None = None, model_settings: dict[str, Any] | None = None,
                     track: str = "all", audit_learners: int = AUDIT_LEARNERS,
                     progress: Progress | None = None) -> BenchmarkResult:
    """Run `benchmark kt`. `models` None: the track's models (`KT_MODELS`); `progress` is called with a
    short message after each fitted model. Raises `LeakAuditError` when a model fails the leak audit."""
    from metatutor.evaluation.protocols import iter_splits

    path = Path(data)
    proto = resolve_protocol(path, protocol)
    names = select_by_track(models, track, track_of=model_track, defaults=KT_MODELS)
    result = BenchmarkResult(task="kt", dataset=path.name if path.is_dir() else path.stem, protocol=proto,
                             track=track)
    configs: dict[str, Any] = {}
    audits: dict[str, float] = {}
    result.extra = {"configs": configs, "leak_audit": {"tolerance": TOLERANCE, "learners": audit_learners,
                                                       "cuts_per_learner": 2, "max_change": audits}}
    for split in iter_splits(path, proto, folds=folds, seed=seed, k=k, format=format):
        split.check_disjoint()
        for name in names:
            settings = {"random_state": seed, **(model_settings or {})}
            model = make_model(name, **settings)
            configs.setdefault(name, {"class": type(model).__name__, "config": config_of(model)})
            started = time.perf_counter()
            model.fit(split.train, split.valid)
            train_seconds = time.perf_counter() - started
            proba = model.predict_proba(split.test)
            metrics = score(split.test.correct, proba)
            audit = audit_causal(model.predict_proba, split.test, learners=audit_learners, seed=seed + split.fold)
            audits[name] = max(audits.get(name, 0.0), audit.max_change)
            row = {"model": name, "track": model_track(name), "fold": int(split.fold), **metrics,
                   "train_seconds": round(train_seconds, 2), "leak_max_change": audit.max_change,
                   "leak_cross_learner_change": audit.cross_learner_change}
            row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            result.rows.append(row)
            log.info("fold %s %s: AUC %.4f (%.0f s), leak audit %.3g", split.fold, name, metrics["auc"],
                     train_seconds, audit.max_change)
            audit.check(f"{name} on fold {split.fold}")  # loud: the run stops here
            if progress:
                progress(f"fold {split.fold} {name}: AUC {metrics['auc']:.4f}")
    return result
