"""Ability estimation from the answered items of one examinee: bounded MLE, MAP and EAP, each with a
standard error. All three are stable on all-correct and all-wrong patterns (MLE returns the bound).
`eap_cohort` scores a whole cohort's EAP in one pass (one matrix product over the θ grid).

Glossary: N answered items (of one examinee; of all of them in `eap_cohort`), L examinees, I items,
G grid points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_expit

from metatutor.assessment.irt import GRID, THETA_BOUNDS, fisher_information, log_likelihood_grid, p_correct
from metatutor.errors import ConfigError
from metatutor.models.response_matrix import ResponseMatrix, sum_over_answers

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


def eap_cohort(learner: np.ndarray, item: np.ndarray, correct: np.ndarray, a: np.ndarray, b: np.ndarray,
               c: np.ndarray, *, n_learners: int, prior_mean: float | np.ndarray = 0.0,
               prior_sd: float | np.ndarray = 1.0, grid: np.ndarray = GRID) -> tuple[np.ndarray, np.ndarray]:
    """EAP θ and posterior sd (L,) of every examinee at once, from (examinee code, item code, 0/1) triples
    (N,), item codes indexing a, b, c (I,); the numbers `eap` gives on each examinee's answers (which
    clips P to [1e-12, 1 - 1e-12], so far-off items can differ in the last digits). An examinee with no
    answers gets the prior. `prior_mean`/`prior_sd`: one for all, or one each (L,).

    Example:
        >>> theta, se = eap_cohort(learner, item, correct, a, b, c, n_learners=1000)
    """
    a, b, c = (np.asarray(v, dtype=np.float64) for v in (a, b, c))
    learner, item = np.asarray(learner, dtype=np.int64), np.asarray(item, dtype=np.int64)
    y = np.asarray(correct, dtype=np.float64)
    if np.any(c > 0):
        p = np.clip(p_correct(grid[None, :], a[:, None], b[:, None], c[:, None]), 1e-12, 1.0 - 1e-12)  # (I, G)
        matrix = ResponseMatrix.from_triples(learner, item, y, n_learners=n_learners, n_items=len(b))
        loglik = matrix.log_likelihood(np.log(p), np.log1p(-p))  # (L, G)
    else:
        # without guessing, log P - log(1 - P) = a (θ - b) is linear in θ: Σ_i y_i log P_i + (1 - y_i) log(1 - P_i)
        # = θ Σ_i a_i y_i + Σ_i log(1 - P_i) - Σ_i a_i b_i y_i, and the last term cancels in the posterior
        eta = a[:, None] * (grid[None, :] - b[:, None])  # (I, G)
        weighted = np.bincount(learner, weights=y * a[item], minlength=n_learners)  # (L,) Σ_i a_i y_i
        loglik = weighted[:, None] * grid[None, :] + sum_over_answers(learner, item, log_expit(-eta),
                                                                      n_learners=n_learners)
    mean, sd = np.asarray(prior_mean, dtype=np.float64), np.asarray(prior_sd, dtype=np.float64)
    if mean.ndim or sd.ndim:  # one prior each: (L, 1) against the grid
        mean, sd = (np.broadcast_to(v, (n_learners,))[:, None] for v in (mean, sd))
    logpost = loglik - 0.5 * ((grid - mean) / sd) ** 2  # (L, G)
    logpost -= logpost.max(axis=1, keepdims=True)
    post = np.exp(logpost, out=logpost)  # unnormalised
    total = post.sum(axis=1)
    theta = post @ grid / total
    var = post @ grid**2 / total - theta**2
    return theta, np.sqrt(np.maximum(var, 0.0))


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
