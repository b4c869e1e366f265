"""Item calibration from response logs: 1PL, 2PL and 3PL by marginal maximum a posteriori (Bock-Aitkin EM).

Abilities are integrated out on a fixed quadrature grid: the E-step turns each learner's posterior over the
grid into expected counts per item and grid point (two matrix products), the M-step refits every item at
once on those small (I, G) tables by Fisher scoring (`metatutor.models.mml_steps`), with priors
b ~ N(b0, sd_b), log a ~ N(log a0, sd_log_a), c ~ Beta(α, β). SQUAREM (Varadhan & Roland 2008, Scand. J.
Statist. 35) extrapolates along the EM path, so far fewer E-steps reach the same fixed point. Recalibration
treats the current estimates (with their standard errors) as the prior for the new responses.

Shared by the IRT learner model (`metatutor.models.irt`) and the item bank (`metatutor.assessment`).

Glossary: N responses, L learners, I items, G grid points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logsumexp

from metatutor.errors import ConfigError
from metatutor.models.mml_steps import (
    Curves,
    ItemParams,
    ItemPrior,
    ScoreGroups,
    item_curves,
    log_prior,
    m_step,
    matrix_e_step,
)
from metatutor.models.response_matrix import ResponseMatrix, fills_every_cell_once

KINDS = ("1pl", "2pl", "3pl")
# where an extrapolated SQUAREM point is clipped to (b, log a, logit c, log sd): well outside any estimate
_BOUNDS = {"b": 12.0, "log_a": 3.0, "logit_c": 12.0, "log_sd": 3.0}


@dataclass(frozen=True)
class CalibrationConfig:
    kind: str = "2pl"
    difficulty_sd: float = 2.0  # prior sd of b (around 0, or around the current b when recalibrating)
    log_discrimination_sd: float = 0.5  # prior sd of log a
    guess_prior: tuple[float, float] = (5.0, 17.0)  # Beta(α, β) prior of c (3PL), mean ≈ 0.23
    max_iter: int = 100  # E-steps at most
    tol: float = 1e-5  # stop when the log posterior gains less than tol per learner
    grid_points: int = 41
    # centre each item's difficulty prior on its skill's mean difficulty (a second EM pass, empirical Bayes):
    # items answered a few times borrow strength from the other items of their skill
    skill_prior: bool = False
    # 1PL only: the spread of θ, held fixed (1.0 is the Rasch model with a ≡ 1 on θ ~ N(0, 1)); None learns it
    ability_sd: float | None = None
    m_steps: int = 2  # Fisher-scoring steps per M-step
    accelerate: bool = True  # SQUAREM; False runs plain EM (same fixed point, more E-steps)


@dataclass(frozen=True)
class Calibration:
    """Raw EM output on the scale θ ~ N(0, sd²): sd is learned for 1PL (a ≡ 1) and 1 otherwise."""

    a: np.ndarray  # (I,)
    b: np.ndarray  # (I,)
    c: np.ndarray  # (I,)
    sd: float
    se_b: np.ndarray  # (I,) standard error of b from the expected information
    log_marginal: float
    iterations: int  # E-steps run


@dataclass(frozen=True)
class _Evaluation:
    """One E-step at `params`: the log posterior there, the log marginal likelihood, the expected counts."""

    params: ItemParams
    log_posterior: float
    log_marginal: float
    seen: np.ndarray  # (I, G)
    right: np.ndarray  # (I, G)
    curves: Curves  # the items' curves at params


def calibrate(learner: np.ndarray, item: np.ndarray, correct: np.ndarray, *, n_learners: int, n_items: int,
              config: CalibrationConfig | None = None, init: Calibration | None = None,
              prior_b: np.ndarray | None = None, prior_b_sd: np.ndarray | None = None,
              reduce: Callable[[np.ndarray], np.ndarray] | None = None) -> Calibration:
    """Calibrate items from (learner code, item code, 0/1) triples (N,).

    `init` warm-starts the parameters; `prior_b`/`prior_b_sd` (I,) centre the difficulty prior on earlier
    estimates (recalibration), otherwise N(0, difficulty_sd). Learners may answer any subset of the items
    (missing responses are simply absent), an item more than once. Data-parallel: each process passes
    the triples of its own learners and `reduce`, which sums an array over the processes
    (`Replicas.sum`); the E-step's counts are summed, so every process takes the same M-steps.

    Example:
        >>> cal = calibrate(learner, item, correct, n_learners=500, n_items=20, config=CalibrationConfig(kind="2pl"))
    """
    cfg = config or CalibrationConfig()
    if cfg.kind not in KINDS:
        raise ConfigError(f"calibration kind must be one of {', '.join(KINDS)}, not {cfg.kind!r}")
    if cfg.ability_sd is not None and (cfg.kind != "1pl" or not cfg.ability_sd > 0):
        raise ConfigError(f"ability_sd fixes the spread of a 1PL calibration and must be > 0; got {cfg.ability_sd!r} "
                          f"for kind {cfg.kind!r}")
    learner, item = np.asarray(learner, dtype=np.int64), np.asarray(item, dtype=np.int64)
    correct = np.asarray(correct, dtype=np.float64)
    z = np.linspace(-5.0, 5.0, cfg.grid_points)  # (G,) standard-normal points
    log_w = -0.5 * z**2 - logsumexp(-0.5 * z**2)
    groups: ScoreGroups | None = None
    unit_a = init is None or bool(np.all(np.asarray(init.a) == 1.0))  # score groups need a ≡ 1
    if cfg.kind == "1pl" and unit_a and fills_every_cell_once(learner, item, n_learners=n_learners, n_items=n_items):
        groups = ScoreGroups.of(learner, item, correct, n_learners=n_learners, n_items=n_items)
        seen0, right0 = groups.seen_per_item, groups.right_per_item
    else:
        matrix = ResponseMatrix.from_triples(learner, item, correct, n_learners=n_learners, n_items=n_items)
        seen0, right0 = matrix.answers_per_item(), matrix.right_per_item()
    if reduce is not None:
        seen0, right0 = reduce(np.stack([seen0, right0]))
        n_learners = int(reduce(np.array([n_learners]))[0])  # for the tolerance: all learners
    params = _start(seen0, right0, cfg, init)
    prior = ItemPrior(b0=np.zeros(n_items) if prior_b is None else np.asarray(prior_b, dtype=np.float64),
                      sd_b=np.full(n_items, cfg.difficulty_sd) if prior_b_sd is None
                      else np.asarray(prior_b_sd, dtype=np.float64),
                      log_a0=params.log_a.copy() if init is not None else np.zeros(n_items),
                      sd_log_a=cfg.log_discrimination_sd, alpha=cfg.guess_prior[0], beta=cfg.guess_prior[1])
    learn_sd = cfg.kind == "1pl" and cfg.ability_sd is None

    def evaluate(at: ItemParams) -> _Evaluation:
        curves = item_curves(at, z)
        marginal, seen, right = (groups.e_step(at, curves, z, log_w) if groups is not None
                                 else matrix_e_step(matrix, curves, log_w))
        if reduce is not None:
            total = reduce(np.concatenate([[marginal], np.ravel(seen), np.ravel(right)]))
            size, marginal = seen.size, float(total[0])
            seen, right = total[1 : 1 + size].reshape(seen.shape), total[1 + size :].reshape(right.shape)
        return _Evaluation(at, marginal + float(log_prior(at, prior, kind=cfg.kind).sum()), marginal, seen, right,
                           curves)

    def update(ev: _Evaluation) -> ItemParams:
        out = ev.params.copy()
        m_step(out, z, ev.seen, ev.right, prior, kind=cfg.kind, learn_sd=learn_sd, steps=cfg.m_steps, curves=ev.curves)
        return out

    run = _squarem if cfg.accelerate else _plain_em
    final, iterations = run(params, evaluate, update, max_iter=cfg.max_iter, tol=cfg.tol * max(n_learners, 1))
    fit = final.params
    a = np.exp(fit.log_a)
    c = expit(fit.logit_c) if fit.logit_c is not None else np.zeros(n_items)
    cv = final.curves
    # information about b in the expected counts: Σ_g seen · a² (P - c)² Q / ((1 - c)² P), where P - c = (1 - c) σ(η)
    # and Q = (1 - c) σ(-η): in logs, so that far-off items (P or Q below 1e-308) give 0, not 0 / 0
    log_ratio = 3 * cv.log_q - 2 * cv.log_1mc + 2 * cv.eta - cv.log_p  # log (P - c)² Q / ((1 - c)² P), (I, G)
    info_b = (final.seen * np.exp(log_ratio)).sum(1) * a**2
    se_b = 1.0 / np.sqrt(info_b + 1.0 / prior.sd_b**2)
    return Calibration(a=a, b=fit.b.copy(), c=c, sd=float(np.exp(fit.log_sd)), se_b=se_b,
                       log_marginal=final.log_marginal, iterations=iterations)


def _plain_em(params: ItemParams, evaluate: Callable[[ItemParams], _Evaluation],
              update: Callable[[_Evaluation], ItemParams], *, max_iter: int, tol: float) -> tuple[_Evaluation, int]:
    """EM until the log posterior gains less than `tol` in an iteration; MAP-EM never lowers it."""
    current = evaluate(params)
    for iterations in range(1, max_iter):
        nxt = evaluate(update(current))
        if nxt.log_posterior - current.log_posterior < tol:
            return (nxt if nxt.log_posterior >= current.log_posterior else current), iterations + 1
        current = nxt
    return current, max(max_iter, 1)


def _squarem(params: ItemParams, evaluate: Callable[[ItemParams], _Evaluation],
             update: Callable[[_Evaluation], ItemParams], *, max_iter: int, tol: float) -> tuple[_Evaluation, int]:
    """SQUAREM's S3 scheme: from x0, two EM steps x1 = F(x0), x2 = F(x1) give r = x1 - x0 and
    v = x2 - 2 x1 + x0; the point x0 - 2α r + α² v with α = -‖r‖ / ‖v‖ (α ≤ -1: at least the two EM
    steps) is kept when its log posterior is no lower than x1's, x2 otherwise. Stops when a cycle gains
    less than `tol` of log posterior."""
    current, used = evaluate(params), 1
    while used < max_iter:
        x0 = current.params
        p1 = update(current)
        e1 = evaluate(p1)
        if e1.log_posterior - current.log_posterior < tol or used + 1 >= max_iter:
            return (e1 if e1.log_posterior >= current.log_posterior else current), used + 1
        p2 = update(e1)
        v0, v1, v2 = x0.to_vector(), p1.to_vector(), p2.to_vector()
        r, v = v1 - v0, v2 - 2 * v1 + v0
        norm_v = float(np.linalg.norm(v))
        alpha = min(-float(np.linalg.norm(r)) / norm_v, -1.0) if norm_v > 0 else -1.0
        jump = _clip(x0.from_vector(v0 - 2 * alpha * r + alpha**2 * v))
        e_jump = evaluate(jump)
        used += 3
        if e_jump.log_posterior >= e1.log_posterior:
            previous, current = current, e_jump
        else:
            previous, current = current, evaluate(p2)
            used += 1
        if current.log_posterior - previous.log_posterior < tol:
            break
    return current, used


def _clip(params: ItemParams) -> ItemParams:
    params.b = np.clip(params.b, -_BOUNDS["b"], _BOUNDS["b"])
    params.log_a = np.clip(params.log_a, -_BOUNDS["log_a"], _BOUNDS["log_a"])
    if params.logit_c is not None:
        params.logit_c = np.clip(params.logit_c, -_BOUNDS["logit_c"], _BOUNDS["logit_c"])
    params.log_sd = float(np.clip(params.log_sd, -_BOUNDS["log_sd"], _BOUNDS["log_sd"]))
    return params


def skill_difficulty_prior(b: np.ndarray, skill: np.ndarray, counts: np.ndarray, *, default_sd: float,
                           min_count: int = 30, weight_cap: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Empirical-Bayes difficulty prior (I,) means and sds from a first calibration: an item's prior is centred
    on the mean b of its skill's items (each weighted by min(responses, weight_cap)), with the spread of the
    well-measured items (>= min_count responses) around their skills' means as sd. Items without a skill
    (skill -1) keep N(0, default_sd), as does everything when no skill has a well-measured item."""
    b, skill, counts = np.asarray(b, dtype=np.float64), np.asarray(skill), np.asarray(counts)
    mean, sd = np.zeros(len(b)), np.full(len(b), default_sd)
    has = (skill >= 0) & (counts > 0)
    if not has.any():
        return mean, sd
    codes, group = np.unique(skill[has], return_inverse=True)
    w = np.minimum(counts[has], weight_cap).astype(np.float64)
    skill_mean = np.bincount(group, weights=w * b[has]) / np.bincount(group, weights=w)
    centre = skill_mean[group]
    well = counts[has] >= min_count
    if not well.any():
        return mean, sd
    spread = float(np.sqrt(np.mean((b[has][well] - centre[well]) ** 2)))
    known = np.isin(skill, codes)
    mean[known] = skill_mean[np.searchsorted(codes, skill[known])]
    sd[known] = max(spread, 0.1)
    return mean, sd


def _start(seen: np.ndarray, right: np.ndarray, cfg: CalibrationConfig, init: Calibration | None) -> ItemParams:
    """Warm start from `init`, else a = 1 and b from each item's share right: for θ ~ N(0, sd²),
    P(right) ≈ σ(-b / √(1 + π sd² / 8)), so b ≈ -logit(p) √(1 + π sd² / 8)."""
    n = len(seen)
    sd = cfg.ability_sd if cfg.ability_sd is not None else 1.0
    if init is not None:
        c0 = np.asarray(init.c, dtype=np.float64).clip(1e-3, 0.5)
        return ItemParams(b=np.asarray(init.b, dtype=np.float64).copy(),
                          log_a=np.log(np.asarray(init.a, dtype=np.float64)),
                          logit_c=np.log(c0 / (1 - c0)) if cfg.kind == "3pl" else None,
                          log_sd=float(np.log(sd if cfg.ability_sd is not None else init.sd)))
    logit_c = np.full(n, np.log(0.2 / 0.8)) if cfg.kind == "3pl" else None
    share = (right + 0.5) / (seen + 1.0)
    if cfg.kind == "3pl":  # the share above guessing
        share = np.clip((share - 0.2) / 0.8, 0.02, 0.98)
    b = np.clip(-np.log(share / (1 - share)) * np.sqrt(1 + np.pi * sd**2 / 8), -4.0, 4.0)
    return ItemParams(b=b, log_a=np.zeros(n), logit_c=logit_c, log_sd=float(np.log(sd)))
