"""Ability estimation from the answered items of one examinee: bounded MLE, MAP and EAP, each with a
standard error. All three are stable on all-correct and all-wrong patterns (MLE returns the bound).

Glossary: N answered items, G grid points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metatutor.assessment.irt import GRID, THETA_BOUNDS, fisher_information, log_likelihood_grid, p_correct
from metatutor.errors import ConfigError

ESTIMATORS = ("eap", "map", "mle")


@dataclass(frozen=True)
class Estimate:
    theta: float
    se: float


def eap(correct: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, *, prior_mean: float = 0.0,
        prior_sd: float = 1.0, grid: np.ndarray = GRID) -> Estimate:
    """Expected a posteriori: posterior mean and sd on a grid under a normal prior."""
    post = posterior(correct, a, b, c, prior_mean=prior_mean, prior_sd=prior_sd, grid=grid)
    mean = float(post @ grid)
    var = float(post @ (grid - mean) ** 2)
    return Estimate(mean, float(np.sqrt(max(var, 0.0))))


def posterior(correct: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, *, prior_mean: float = 0.0,
              prior_sd: float = 1.0, grid: np.ndarray = GRID) -> np.ndarray:
    """(G,) normalised posterior over the grid."""
    logpost = -0.5 * ((grid - prior_mean) / prior_sd) ** 2
    if len(correct):
        logpost = logpost + log_likelihood_grid(correct, a, b, c, grid)
    post = np.exp(logpost - logpost.max())
    return np.asarray(post / post.sum())


def _score(theta: float, correct: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """First derivative of the log-likelihood at θ and the test information there."""
    p = np.clip(p_correct(theta, a, b, c), 1e-12, 1 - 1e-12)
    score = float(np.sum(a * (correct - p) * (p - c) / (p * (1.0 - c))))
    return score, float(fisher_information(theta, a, b, c).sum())


def _scoring(correct: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, *, start: float,
             prior_mean: float, precision: float, max_iter: int = 50) -> tuple[float, float]:
    """Fisher scoring on the log posterior (precision 0: the likelihood), kept inside THETA_BOUNDS."""
    lo, hi = THETA_BOUNDS
    theta = float(np.clip(start, lo, hi))
    info = 0.0
    for _ in range(max_iter):
        score, info = _score(theta, correct, a, b, c)
        step = (score - precision * (theta - prior_mean)) / (info + precision + 1e-12)
        new = float(np.clip(theta + step, lo, hi))
        if abs(new - theta) < 1e-6:
            theta = new
            break
        theta = new
    _, info = _score(theta, correct, a, b, c)
    return theta, info


def map_estimate(correct: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, *, prior_mean: float = 0.0,
                 prior_sd: float = 1.0) -> Estimate:
    """Maximum a posteriori under a normal prior; SE = 1 / √(test information + prior precision)."""
    precision = 1.0 / prior_sd**2
    start = eap(correct, a, b, c, prior_mean=prior_mean, prior_sd=prior_sd).theta
    theta, info = _scoring(correct, a, b, c, start=start, prior_mean=prior_mean, precision=precision)
    return Estimate(theta, float(1.0 / np.sqrt(info + precision)))


def mle(correct: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> Estimate:
    """Maximum likelihood bounded to THETA_BOUNDS. With no mixed pattern (all right, all wrong or nothing
    answered) the likelihood has no interior maximum: the bound on that side (0 when empty)."""
    lo, hi = THETA_BOUNDS
    if len(correct) == 0:
        return Estimate(0.0, float("inf"))
    if np.all(correct == 1) or np.all(correct == 0):
        theta = hi if correct[0] == 1 else lo
        info = float(fisher_information(theta, a, b, c).sum())
        return Estimate(theta, float(1.0 / np.sqrt(info)) if info > 0 else float("inf"))
    # a grid search gives a start inside the basin of the global maximum (3PL likelihoods can be bimodal)
    grid = GRID[(lo <= GRID) & (hi >= GRID)]
    start = float(grid[np.argmax(log_likelihood_grid(correct, a, b, c, grid))])
    theta, info = _scoring(correct, a, b, c, start=start, prior_mean=0.0, precision=0.0)
    return Estimate(theta, float(1.0 / np.sqrt(info)) if info > 0 else float("inf"))


def estimate(method: str, correct: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, *,
             prior_mean: float = 0.0, prior_sd: float = 1.0) -> Estimate:
    """Dispatch on `method` ("eap", "map" or "mle")."""
    correct = np.asarray(correct, dtype=np.float64)
    if method == "eap":
        return eap(correct, a, b, c, prior_mean=prior_mean, prior_sd=prior_sd)
    if method == "map":
        return map_estimate(correct, a, b, c, prior_mean=prior_mean, prior_sd=prior_sd)
    if method == "mle":
        return mle(correct, a, b, c)
    raise ConfigError(f"unknown estimator {method!r}; choose from {', '.join(ESTIMATORS)}")
