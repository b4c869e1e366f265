"""The steps of marginal maximum a posteriori item calibration (Bock-Aitkin EM) on a fixed quadrature grid,
each over every item or learner at once: item curves on the grid, the E-step (expected counts per item and
grid point, `ResponseMatrix` products or, for complete 1PL data, score groups), and a Fisher-scoring M-step
that solves one k × k system per item in a single batched call.

The model: P = c + (1 - c) σ(η), η = a (sd · z - b), z a standard-normal grid point; 1PL has a ≡ 1 and a
spread sd (learned, or fixed), 2PL/3PL sd ≡ 1. The priors: b ~ N(b0, sd_b), log a ~ N(log a0, sd_log_a),
c ~ Beta(α, β).

Glossary: L learners, I items, G grid points, S score groups, k parameters per item (b, log a, logit c).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit, logsumexp

from metatutor.models.response_matrix import ResponseMatrix

MAX_STEP = 1.0  # largest change of any parameter in one Fisher step
_HALVINGS = 10


@dataclass
class ItemParams:
    """What the EM moves: b, log a (0 for 1PL), logit c (3PL only), log sd (0 unless 1PL)."""

    b: np.ndarray  # (I,)
    log_a: np.ndarray  # (I,)
    logit_c: np.ndarray | None  # (I,)
    log_sd: float

    def copy(self) -> ItemParams:
        return ItemParams(self.b.copy(), self.log_a.copy(), None if self.logit_c is None else self.logit_c.copy(),
                          self.log_sd)

    def to_vector(self) -> np.ndarray:
        parts = [self.b, self.log_a] + ([] if self.logit_c is None else [self.logit_c])
        return np.concatenate([*parts, [self.log_sd]])

    def from_vector(self, x: np.ndarray) -> ItemParams:
        """The parameters a flat vector `x` (from `to_vector`) holds, shaped like these."""
        n = len(self.b)
        return ItemParams(x[:n].copy(), x[n:2 * n].copy(), None if self.logit_c is None else x[2 * n:3 * n].copy(),
                          float(x[-1]))


@dataclass(frozen=True)
class ItemPrior:
    b0: np.ndarray  # (I,)
    sd_b: np.ndarray  # (I,)
    log_a0: np.ndarray  # (I,)
    sd_log_a: float
    alpha: float
    beta: float


@dataclass(frozen=True)
class Curves:
    """η, log P and log (1 - P), (I, G) each, of every item at every grid point, and log (1 - c) (I, 1)."""

    eta: np.ndarray
    log_p: np.ndarray
    log_q: np.ndarray
    log_1mc: np.ndarray | float


def item_curves(params: ItemParams, z: np.ndarray) -> Curves:
    eta = np.exp(params.log_a)[:, None] * (z[None, :] * np.exp(params.log_sd) - params.b[:, None])  # (I, G)
    softplus = np.maximum(eta, 0.0) + np.log1p(np.exp(-np.abs(eta)))  # -log σ(-η)
    if params.logit_c is None:
        return Curves(eta, eta - softplus, -softplus, 0.0)
    log_c, log_1mc = log_expit(params.logit_c)[:, None], log_expit(-params.logit_c)[:, None]
    # P = c + (1 - c) σ(η);  1 - P = (1 - c) σ(-η)
    return Curves(eta, np.logaddexp(log_c, log_1mc + eta - softplus), log_1mc - softplus, log_1mc)


def log_prior(params: ItemParams, prior: ItemPrior, *, kind: str) -> np.ndarray:
    """(I,) each item's log prior density (up to constants)."""
    out = -0.5 * ((params.b - prior.b0) / prior.sd_b) ** 2
    if kind != "1pl":
        out = out - 0.5 * ((params.log_a - prior.log_a0) / prior.sd_log_a) ** 2
    if params.logit_c is not None:
        out = out + (prior.alpha - 1) * log_expit(params.logit_c) + (prior.beta - 1) * log_expit(-params.logit_c)
    return np.asarray(out)


def matrix_e_step(matrix: ResponseMatrix, curves: Curves, log_w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Log marginal likelihood, and the expected (seen, right) counts (I, G) under each learner's posterior."""
    joint = matrix.log_likelihood(curves.log_p, curves.log_q) + log_w[None, :]  # (L, G)
    log_norm = logsumexp(joint, axis=1, keepdims=True)  # (L, 1)
    seen, right = matrix.expected_counts(np.exp(joint - log_norm))
    return float(log_norm.sum()), seen, right


@dataclass(frozen=True)
class ScoreGroups:
    """Complete 1PL data by number right: `size` (S,) learners have `score` (S,), with `right` (S, I) right
    answers to each item among them. Under a ≡ 1 the score is sufficient for θ, so S ≤ I + 1 rows stand for
    all L learners."""

    score: np.ndarray
    size: np.ndarray
    right: np.ndarray
    right_per_item: np.ndarray  # (I,)
    seen_per_item: np.ndarray  # (I,)

    @classmethod
    def of(cls, learner: np.ndarray, item: np.ndarray, correct: np.ndarray, *, n_learners: int,
           n_items: int) -> ScoreGroups:
        """From triples (N,) that hold every (learner, item) cell once."""
        total = np.bincount(learner, weights=correct, minlength=n_learners)  # (L,)
        score, group, size = np.unique(total, return_inverse=True, return_counts=True)
        cell = group[learner]
        cell *= n_items
        cell += item
        right = np.bincount(cell, weights=correct, minlength=len(score) * n_items).reshape(len(score), n_items)
        return cls(score=score, size=size.astype(np.float64), right=right, right_per_item=right.sum(axis=0),
                   seen_per_item=np.full(n_items, float(n_learners)))

    def e_step(self, params: ItemParams, curves: Curves, z: np.ndarray,
               log_w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        # log P(y | θ) = score · θ - Σ_i y_i b_i + Σ_i log(1 - P_i(θ)) when a ≡ 1, θ = sd · z
        joint = self.score[:, None] * (z * np.exp(params.log_sd))[None, :] + curves.log_q.sum(axis=0) + log_w
        log_norm = logsumexp(joint, axis=1, keepdims=True)  # (S, 1)
        post = np.exp(joint - log_norm)  # (S, G)
        marginal = float(self.size @ log_norm[:, 0]) - float(self.right_per_item @ params.b)
        return marginal, np.broadcast_to(self.size @ post, curves.log_q.shape), self.right.T @ post


def m_step(params: ItemParams, z: np.ndarray, seen: np.ndarray, right: np.ndarray, prior: ItemPrior, *,
           kind: str, learn_sd: bool, steps: int, curves: Curves | None = None) -> None:
    """Up to `steps` Fisher-scoring steps of every item at once on the expected counts (I, G), in place. A
    step is halved for an item (for all of them when the shared sd moves too) until the item's expected
    log posterior does not fall, so the EM never goes downhill. `curves`: those of `params`, when known."""
    curves = item_curves(params, z) if curves is None else curves
    before = _objective(curves, seen, right, params, prior, kind=kind)
    for _ in range(steps):
        step, step_sd = _fisher_direction(params, curves, z, seen, right, prior, kind=kind, learn_sd=learn_sd)
        start, scale = params.copy(), np.ones(len(params.b))
        for _ in range(_HALVINGS):
            _move(params, start, step * scale[:, None], step_sd * float(scale.min()))
            curves = item_curves(params, z)
            after = _objective(curves, seen, right, params, prior, kind=kind)
            if learn_sd:
                if after.sum() >= before.sum() - 1e-12 * np.abs(before).sum():
                    break
                scale *= 0.5
            else:
                worse = after < before - 1e-12 * np.abs(before)
                if not worse.any():
                    break
                scale[worse] *= 0.5
        before = after
        if max(np.abs(step * scale[:, None]).max(initial=0.0), abs(step_sd)) < 1e-6:
            break


def _objective(curves: Curves, seen: np.ndarray, right: np.ndarray, params: ItemParams, prior: ItemPrior, *,
               kind: str) -> np.ndarray:
    """(I,) each item's expected complete-data log posterior (up to constants)."""
    fit = (right * curves.log_p + (seen - right) * curves.log_q).sum(axis=1)
    return np.asarray(fit + log_prior(params, prior, kind=kind))


def _fisher_direction(params: ItemParams, curves: Curves, z: np.ndarray, seen: np.ndarray, right: np.ndarray,
                      prior: ItemPrior, *, kind: str, learn_sd: bool) -> tuple[np.ndarray, float]:
    """The Fisher-scoring step (I, k) of the items, and that of log sd (0 unless it is learned)."""
    a = np.exp(params.log_a)
    eta = curves.eta
    sig = np.exp(curves.log_q - curves.log_1mc + eta)  # σ(η)
    if params.logit_c is None:
        e, w = right - seen * sig, seen * sig * (1 - sig)  # score and Fisher weight with respect to η
    else:
        c = expit(params.logit_c)[:, None]
        p = np.exp(curves.log_p)
        resid = right - seen * p
        e, w = resid * sig / p, seen * (1 - c) * sig**2 * (1 - sig) / p
    # dη/db = -a, dη/d log a = η; gradient (I, k) and Fisher information (I, k, k) in the order b, log a, logit c
    grads = [-a * e.sum(1) - (params.b - prior.b0) / prior.sd_b**2]
    fisher = [[a**2 * w.sum(1) + 1 / prior.sd_b**2]]
    if kind != "1pl":
        grads.append((e * eta).sum(1) - (params.log_a - prior.log_a0) / prior.sd_log_a**2)
        cross = -a * (w * eta).sum(1)
        fisher[0].append(cross)
        fisher.append([cross, (w * eta**2).sum(1) + 1 / prior.sd_log_a**2])
    if params.logit_c is not None:
        c1 = expit(params.logit_c)
        grads.append((resid * c / p).sum(1) + (prior.alpha - 1) * (1 - c1) - (prior.beta - 1) * c1)
        w_ec = seen * c * (1 - c) * sig * (1 - sig) / p  # Fisher weight of η with logit c
        col = [-a * w_ec.sum(1), (w_ec * eta).sum(1)]
        for row, v in zip(fisher, col, strict=True):
            row.append(v)
        w_cc = (seen * c**2 * (1 - c) * (1 - sig) / p).sum(1) + (prior.alpha + prior.beta - 2) * c1 * (1 - c1)
        fisher.append([*col, w_cc])
    g = np.stack(grads, axis=1)  # (I, k)
    if learn_sd:
        # the shared log sd couples the items (dη/d log sd = a sd z): an arrowhead system, solved by its
        # Schur complement
        theta = z * np.exp(params.log_sd)
        d = fisher[0][0]
        u = -a * a * (w * theta[None, :]).sum(1)  # (I,) Fisher cross terms of b and log sd
        g_s = float((e * (a[:, None] * theta[None, :])).sum())
        h = float((w * (a[:, None] * theta[None, :]) ** 2).sum())
        step_sd = (g_s - float(u @ (g[:, 0] / d))) / max(h - float(u @ (u / d)), 1e-12)
        step_sd = float(np.clip(step_sd, -MAX_STEP, MAX_STEP))
        return np.clip((g[:, 0] - u * step_sd) / d, -MAX_STEP, MAX_STEP)[:, None], step_sd  # best b given that sd step
    if g.shape[1] == 1:
        return np.clip(g / fisher[0][0][:, None], -MAX_STEP, MAX_STEP), 0.0
    f = np.stack([np.stack(row, axis=1) for row in fisher], axis=1)  # (I, k, k)
    return np.clip(np.linalg.solve(f, g[:, :, None])[:, :, 0], -MAX_STEP, MAX_STEP), 0.0


def _move(params: ItemParams, start: ItemParams, step: np.ndarray, step_sd: float) -> None:
    params.b = start.b + step[:, 0]
    if step.shape[1] > 1:
        params.log_a = start.log_a + step[:, 1]
    if start.logit_c is not None:
        params.logit_c = start.logit_c + step[:, 2]
    params.log_sd = start.log_sd + step_sd
