"""Item calibration from response logs: 1PL, 2PL and 3PL by marginal maximum a posteriori (Bock-Aitkin EM).

Abilities are integrated out on a quadrature grid: the E-step turns each learner's posterior over the grid
into expected counts per item and grid point, the M-step refits the items on those small (I, G) tables
with priors b ~ N(b0, sd_b), log a ~ N(log a0, sd_log_a), c ~ Beta(α, β). Recalibration treats the current
estimates (with their standard errors) as the prior for the new responses.

Glossary: N responses, L learners, I items, G grid points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.functional import logsigmoid

from metatutor.errors import ConfigError

KINDS = ("1pl", "2pl", "3pl")


@dataclass(frozen=True)
class CalibrationConfig:
    kind: str = "2pl"
    difficulty_sd: float = 2.0  # prior sd of b (around 0, or around the current b when recalibrating)
    log_discrimination_sd: float = 0.5  # prior sd of log a
    guess_prior: tuple[float, float] = (5.0, 17.0)  # Beta(α, β) prior of c (3PL), mean ≈ 0.23
    max_iter: int = 100
    tol: float = 1e-5  # stop when the log marginal likelihood gains less than tol per learner
    grid_points: int = 41
    # centre each item's difficulty prior on its skill's mean difficulty (a second EM pass, empirical Bayes):
    # items answered a few times borrow strength from the other items of their skill
    skill_prior: bool = False


@dataclass(frozen=True)
class Calibration:
    """Raw EM output on the scale θ ~ N(0, sd²): sd is learned for 1PL (a ≡ 1) and 1 otherwise."""

    a: np.ndarray  # (I,)
    b: np.ndarray  # (I,)
    c: np.ndarray  # (I,)
    sd: float
    se_b: np.ndarray  # (I,) standard error of b from the expected information
    log_marginal: float
    iterations: int


def calibrate(learner: np.ndarray, item: np.ndarray, correct: np.ndarray, *, n_learners: int, n_items: int,
              config: CalibrationConfig | None = None, init: Calibration | None = None,
              prior_b: np.ndarray | None = None, prior_b_sd: np.ndarray | None = None) -> Calibration:
    """Calibrate items from (learner code, item code, 0/1) triples.

    `init` warm-starts the parameters; `prior_b`/`prior_b_sd` (I,) centre the difficulty prior on earlier
    estimates (recalibration), otherwise N(0, difficulty_sd).
    """
    cfg = config or CalibrationConfig()
    if cfg.kind not in KINDS:
        raise ConfigError(f"calibration kind must be one of {', '.join(KINDS)}, not {cfg.kind!r}")
    items = torch.as_tensor(np.asarray(item, dtype=np.int64))
    learners = torch.as_tensor(np.asarray(learner, dtype=np.int64))
    y = torch.as_tensor(np.asarray(correct, dtype=np.float64))
    z = torch.linspace(-5.0, 5.0, cfg.grid_points, dtype=torch.float64)  # (G,) standard-normal points
    log_w = torch.log_softmax(-0.5 * z**2, dim=0)
    b = torch.zeros(n_items, dtype=torch.float64)
    log_a = torch.zeros(n_items, dtype=torch.float64)
    logit_c = torch.full((n_items,), -20.0 if cfg.kind != "3pl" else float(np.log(0.2 / 0.8)), dtype=torch.float64)
    log_sd = torch.zeros((), dtype=torch.float64)
    if init is not None:
        b = torch.as_tensor(init.b, dtype=torch.float64).clone()
        log_a = torch.as_tensor(np.log(init.a), dtype=torch.float64).clone()
        if cfg.kind == "3pl":
            logit_c = torch.as_tensor(np.log(init.c.clip(1e-3, 0.5) / (1 - init.c.clip(1e-3, 0.5))))
        log_sd = torch.tensor(np.log(init.sd), dtype=torch.float64)
    b0 = torch.as_tensor(prior_b if prior_b is not None else np.zeros(n_items), dtype=torch.float64)
    sd_b = torch.as_tensor(prior_b_sd if prior_b_sd is not None else np.full(n_items, cfg.difficulty_sd),
                           dtype=torch.float64)
    log_a0 = log_a.clone() if init is not None else torch.zeros(n_items, dtype=torch.float64)
    params = {"b": b.requires_grad_()}
    if cfg.kind == "1pl":
        params["log_sd"] = log_sd.requires_grad_()
    else:
        params["log_a"] = log_a.requires_grad_()
    if cfg.kind == "3pl":
        params["logit_c"] = logit_c.requires_grad_()
    previous, marginal, iterations = -np.inf, -np.inf, 0
    seen = right = torch.zeros(n_items, cfg.grid_points, dtype=torch.float64)
    for _ in range(cfg.max_iter):
        iterations += 1
        with torch.no_grad():
            log_p, log_q = _log_pq(b, log_a, logit_c, log_sd, z, items)  # (N, G)
            loglik = torch.where(y[:, None] > 0, log_p, log_q)
            joint = torch.zeros(n_learners, len(z), dtype=torch.float64).index_add_(0, learners, loglik) + log_w
            marginal = float(torch.logsumexp(joint, dim=1).sum())
            weight = torch.softmax(joint, dim=1)[learners]  # (N, G) posterior of the answering learner
            seen = torch.zeros(n_items, len(z), dtype=torch.float64).index_add_(0, items, weight)
            right = torch.zeros(n_items, len(z), dtype=torch.float64).index_add_(0, items, weight * y[:, None])
        if marginal - previous < cfg.tol * max(n_learners, 1):
            break
        previous = marginal
        _m_step(params, b, log_a, logit_c, log_sd, z, seen, right, cfg, b0=b0, sd_b=sd_b, log_a0=log_a0)
    with torch.no_grad():
        p = torch.exp(_log_pq(b, log_a, logit_c, log_sd, z, None)[0])  # (I, G)
        c = torch.sigmoid(logit_c) if cfg.kind == "3pl" else torch.zeros_like(b)
        a = log_a.exp()
        # information about b in the expected counts: Σ_g seen · a² (P - c)² Q / ((1 - c)² P)
        info_b = (seen * a[:, None] ** 2 * (p - c[:, None]) ** 2 * (1 - p) / ((1 - c[:, None]) ** 2 * p)).sum(1)
        se_b = 1.0 / torch.sqrt(info_b + 1.0 / sd_b**2)
    return Calibration(a=a.detach().numpy().copy(), b=b.detach().numpy().copy(), c=c.numpy().copy(),
                       sd=float(log_sd.detach().exp()), se_b=se_b.numpy().copy(), log_marginal=marginal, iterations=iterations)


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


def _log_pq(b: torch.Tensor, log_a: torch.Tensor, logit_c: torch.Tensor, log_sd: torch.Tensor, z: torch.Tensor,
            items: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """log P and log (1 - P) at every grid point, for the responses' items (or all items)."""
    if items is not None:
        b, log_a, logit_c = b[items], log_a[items], logit_c[items]
    logit = log_a.exp()[:, None] * ((z * log_sd.exp())[None, :] - b[:, None])
    log_c, log_1mc = logsigmoid(logit_c)[:, None], logsigmoid(-logit_c)[:, None]
    # P = c + (1 - c) σ(x);  1 - P = (1 - c) σ(-x)
    log_p = torch.logaddexp(log_c.expand_as(logit), log_1mc + logsigmoid(logit))
    return log_p, log_1mc + logsigmoid(-logit)


def _m_step(params: dict[str, torch.Tensor], b: torch.Tensor, log_a: torch.Tensor, logit_c: torch.Tensor,
            log_sd: torch.Tensor, z: torch.Tensor, seen: torch.Tensor, right: torch.Tensor, cfg: CalibrationConfig,
            *, b0: torch.Tensor, sd_b: torch.Tensor, log_a0: torch.Tensor) -> None:
    opt = torch.optim.LBFGS(list(params.values()), max_iter=20, line_search_fn="strong_wolfe")
    alpha, beta = cfg.guess_prior

    def closure() -> torch.Tensor:
        opt.zero_grad()
        log_p, log_q = _log_pq(b, log_a, logit_c, log_sd, z, None)  # (I, G)
        loss = -(right * log_p + (seen - right) * log_q).sum() + 0.5 * (((b - b0) / sd_b) ** 2).sum()
        if "log_a" in params:
            loss = loss + 0.5 * (((log_a - log_a0) / cfg.log_discrimination_sd) ** 2).sum()
        if "logit_c" in params:
            loss = loss - ((alpha - 1) * logsigmoid(logit_c) + (beta - 1) * logsigmoid(-logit_c)).sum()
        loss.backward()
        return loss

    opt.step(closure)
