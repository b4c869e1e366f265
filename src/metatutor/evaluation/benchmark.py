"""`benchmark kt`: fit each model on each fold's training learners, score it on unseen test learners.

Metrics are at question level: one prediction per response (a multi-skill question is one response),
pooled over all test responses of a fold. Results follow the JSON shape documented in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metatutor.evaluation.metrics import score
from metatutor.evaluation.protocols import resolve_protocol
from metatutor.models import make_model

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class BenchmarkResult:
    task: str
    dataset: str
    protocol: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for model in dict.fromkeys(r["model"] for r in self.rows):
            rows = [r for r in self.rows if r["model"] == model]
            aucs = np.array([r["auc"] for r in rows], dtype=float)
            out[model] = {
                "auc": float(np.nanmean(aucs)),
                "auc_std": float(np.nanstd(aucs)),
                "acc": float(np.mean([r["acc"] for r in rows])),
                "rmse": float(np.mean([r["rmse"] for r in rows])),
                "train_seconds": float(np.mean([r["train_seconds"] for r in rows])),
                "folds": len(rows),
            }
        return out

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "dataset": self.dataset, "protocol": self.protocol,
                "rows": self.rows, "summary": self.summary()}

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2, default=_clean))

    def to_markdown(self) -> str:
        lines = [f"### {self.task}: {self.dataset} ({self.protocol} protocol)", "",
                 "| model | AUC (mean ± std) | ACC | RMSE | folds | train s/fold |",
                 "|---|---|---|---|---|---|"]
        for model, s in self.summary().items():
            lines.append(f"| {model} | {s['auc']:.4f} ± {s['auc_std']:.4f} | {s['acc']:.4f} | {s['rmse']:.4f} | "
                         f"{int(s['folds'])} | {s['train_seconds']:.0f} |")
        return "\n".join(lines) + "\n"


def _clean(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def run_kt_benchmark(data: str | Path, *, protocol: str = "auto", models: list[str] | None = None,
                     folds: list[int] | None = None, seed: int = 0, k: int = 5,
                     format: str | None = None, model_settings: dict[str, Any] | None = None,
                     progress: Progress | None = None) -> BenchmarkResult:
    """Run `benchmark kt`. `progress` is called with a short message after each fitted model."""
    from metatutor.evaluation.protocols import iter_splits

    path = Path(data)
    proto = resolve_protocol(path, protocol)
    names = models or ["irt", "bkt", "pfa", "bestlr", "dkt"]
    result = BenchmarkResult(task="kt", dataset=path.name if path.is_dir() else path.stem, protocol=proto)
    for split in iter_splits(path, proto, folds=folds, seed=seed, k=k, format=format):
        split.check_disjoint()
        for name in names:
            settings = {"random_state": seed, **(model_settings or {})}
            model = make_model(name, **settings)
            started = time.perf_counter()
            model.fit(split.train, split.valid)
            train_seconds = time.perf_counter() - started
            proba = model.predict_proba(split.test)
            metrics = score(split.test.correct, proba)
            row = {"model": name, "fold": int(split.fold), **metrics, "train_seconds": round(train_seconds, 2)}
            row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            result.rows.append(row)
            log.info("fold %s %s: AUC %.4f (%.0f s)", split.fold, name, metrics["auc"], train_seconds)
            if progress:
                progress(f"fold {split.fold} {name}: AUC {metrics['auc']:.4f}")
    return result
