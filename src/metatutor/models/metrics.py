"""Metrics of predicted P(correct) against observed answers: how every layer scores predictions (the
benchmarks in `metatutor.evaluation`, the adaptive test's replay in `metatutor.assessment`)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score


def score(correct: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """AUC (pooled), accuracy at 0.5, RMSE and log-loss; AUC is NaN when only one class is present."""
    y = np.asarray(correct, dtype=np.float64)
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-7, 1 - 1e-7)
    if len(y) == 0:
        return {"auc": float("nan"), "acc": float("nan"), "rmse": float("nan"), "logloss": float("nan"), "n": 0}
    auc = float(roc_auc_score(y, p)) if len(np.unique(y)) > 1 else float("nan")
    return {
        "auc": auc,
        "acc": float(np.mean((p >= 0.5) == (y > 0.5))),
        "rmse": float(np.sqrt(np.mean((p - y) ** 2))),
        "logloss": float(log_loss(y, p, labels=[0, 1])),
        "n": len(y),
    }
