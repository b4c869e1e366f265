"""Bayesian knowledge tracing, one hidden-Markov model per skill, fitted by EM (Baum-Welch).

Every (learner, skill) pair is one sequence of that skill's practice opportunities; a response with
several skills is an opportunity for each. All sequences are processed together, time-major and
packed (sequences sorted longest first, so the ones alive at step t are a prefix), one numpy step per t.
A response's P(correct) is the mean of its skills' predictions. Guess and slip are kept below
`max_guess`/`max_slip` (< 0.5) so that "mastered" keeps its meaning.

Glossary: Z skill links (opportunities), Q sequences, T longest sequence, S skills.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Self

import numpy as np

from metatutor.data.responses import Responses
from metatutor.models.base import LearnerModel, Vocabulary, segment_ids

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BKTConfig:
    n_iter: int = 40  # EM iterations at most
    tol: float = 1e-4  # stop when the mean log-likelihood improves less than this
    forgetting: bool = False  # learn a per-skill forgetting probability
    max_guess: float = 0.4
    max_slip: float = 0.4
    prior_strength: float = 5.0  # pseudo-opportunities pulling rare skills toward the overall fit


@dataclass
class _Packed:
    perm: np.ndarray  # (Z,) link index at each packed position
    batch: np.ndarray  # (T,) sequences alive at step t
    offset: np.ndarray  # (T+1,) packed start of step t
    skill: np.ndarray  # (Z,) skill code per packed position
    y: np.ndarray  # (Z,) answer per packed position
    seq_last: np.ndarray  # (Q,) packed position of each sequence's last link (sequence rank order)


def pack(learner: np.ndarray, skill: np.ndarray, y: np.ndarray) -> _Packed:
    """Packed, time-major layout of the links (already in time order within each learner)."""
    n = len(skill)
    key = learner.astype(np.int64) * (int(skill.max(initial=0)) + 1) + skill
    _, seq, length = np.unique(key, return_inverse=True, return_counts=True)
    order_in_seq = np.empty(n, dtype=np.int64)
    by_seq = np.argsort(seq, kind="stable")
    starts = np.r_[0, np.cumsum(length)[:-1]]
    order_in_seq[by_seq] = np.arange(n) - np.repeat(starts, length)
    rank = np.empty(len(length), dtype=np.int64)
    rank[np.argsort(-length, kind="stable")] = np.arange(len(length))
    t_max = int(length.max(initial=0))
    batch = len(length) - np.cumsum(np.bincount(length, minlength=t_max + 1))[:t_max]  # alive at each t
    offset = np.r_[0, np.cumsum(batch)]
    pos = offset[order_in_seq] + rank[seq]
    perm = np.empty(n, dtype=np.int64)
    perm[pos] = np.arange(n)
    seq_last = np.empty(len(length), dtype=np.int64)
    seq_last[rank] = offset[length - 1] + rank
    return _Packed(perm, batch, offset, skill[perm], y[perm].astype(np.float64), seq_last)


def bkt_forward(p: _Packed, prior: np.ndarray, learn: np.ndarray, forget: np.ndarray, guess: np.ndarray,
                slip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Filter every sequence: (Z,) P(mastered) before and after each observation (packed order)."""
    pred = np.empty(len(p.y))
    filt = np.empty(len(p.y))
    sk = p.skill
    current = prior[sk[: p.batch[0]]] if len(p.batch) else np.zeros(0)
    for t in range(len(p.batch)):
        lo, hi = p.offset[t], p.offset[t + 1]
        s, y = sk[lo:hi], p.y[lo:hi]
        k = current[: hi - lo]
        pred[lo:hi] = k
        lk1 = np.where(y > 0, 1.0 - slip[s], slip[s])
        lk0 = np.where(y > 0, guess[s], 1.0 - guess[s])
        post = k * lk1 / (k * lk1 + (1.0 - k) * lk0)
        filt[lo:hi] = post
        current = post * (1.0 - forget[s]) + (1.0 - post) * learn[s]
    return pred, filt


def _em_step(p: _Packed, params: dict[str, np.ndarray], n_skills: int, cfg: BKTConfig) -> tuple[dict[str, np.ndarray], float]:
    prior, learn, forget, guess, slip = (params[k] for k in ("prior", "learn", "forget", "guess", "slip"))
    pred, filt = bkt_forward(p, prior, learn, forget, guess, slip)
    p_obs = pred * (1 - slip[p.skill]) + (1 - pred) * guess[p.skill]
    loglik = float(np.where(p.y > 0, np.log(p_obs), np.log1p(-p_obs)).mean())
    gamma = filt.copy()
    xi01 = np.zeros(len(p.y))
    xi10 = np.zeros(len(p.y))
    cont = np.zeros(len(p.y), dtype=bool)  # positions followed by another observation
    for t in range(len(p.batch) - 2, -1, -1):
        lo = p.offset[t]
        nxt = p.batch[t + 1]
        cur = slice(lo, lo + nxt)
        nx = slice(p.offset[t + 1], p.offset[t + 1] + nxt)
        s = p.skill[cur]
        f, g1, pn = filt[cur], gamma[nx], pred[nx]
        pn = np.clip(pn, 1e-9, 1 - 1e-9)
        stay = f * (1 - forget[s]) / pn  # P(m_t=1 | m_t+1=1)
        back = f * forget[s] / (1 - pn)  # P(m_t=1 | m_t+1=0)
        gamma[cur] = g1 * stay + (1 - g1) * back
        xi01[cur] = g1 * (1 - f) * learn[s] / pn
        xi10[cur] = (1 - g1) * f * forget[s] / (1 - pn)
        cont[cur] = True
    first = np.zeros(len(p.y), dtype=bool)
    if len(p.batch):
        first[: p.batch[0]] = True

    def per_skill(weights: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        w = weights if mask is None else np.where(mask, weights, 0.0)
        return np.bincount(p.skill, weights=w, minlength=n_skills)

    ones = np.ones(len(p.y))
    a = cfg.prior_strength

    def ratio(num: np.ndarray, den: np.ndarray, overall: float) -> np.ndarray:
        return (num + a * overall) / (den + a)

    def pooled(num: np.ndarray, den: np.ndarray) -> float:
        return float(num.sum() / max(den.sum(), 1e-9))

    n_prior, d_prior = per_skill(gamma, first), per_skill(ones, first)
    n_learn, d_learn = per_skill(xi01, cont), per_skill(1 - gamma, cont)
    n_forget, d_forget = per_skill(xi10, cont), per_skill(gamma, cont)
    n_guess, d_guess = per_skill((1 - gamma) * p.y), per_skill(1 - gamma)
    n_slip, d_slip = per_skill(gamma * (1 - p.y)), per_skill(gamma)
    new = {
        "prior": ratio(n_prior, d_prior, pooled(n_prior, d_prior)),
        "learn": ratio(n_learn, d_learn, pooled(n_learn, d_learn)),
        "forget": ratio(n_forget, d_forget, pooled(n_forget, d_forget)) if cfg.forgetting else np.zeros(n_skills),
        "guess": ratio(n_guess, d_guess, pooled(n_guess, d_guess)),
        "slip": ratio(n_slip, d_slip, pooled(n_slip, d_slip)),
    }
    new["prior"] = np.clip(new["prior"], 1e-4, 1 - 1e-4)
    new["learn"] = np.clip(new["learn"], 1e-4, 1 - 1e-4)
    new["forget"] = np.clip(new["forget"], 0.0, 0.5)
    new["guess"] = np.clip(new["guess"], 1e-3, cfg.max_guess)
    new["slip"] = np.clip(new["slip"], 1e-3, cfg.max_slip)
    return new, loglik


class BKT(LearnerModel):
    """Per-skill BKT fitted by EM; `BKT(forgetting=True)` adds a forgetting probability."""

    name = "bkt"
    config_class = BKTConfig

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        self.vocab_ = Vocabulary.of(train)
        n = self.vocab_.n_skills + 1
        rows = train.skill_rows()
        packed = pack(segment_ids(train)[rows], self.vocab_.skills(train), train.correct[rows])
        params = {"prior": np.full(n, 0.3), "learn": np.full(n, 0.1), "forget": np.zeros(n),
                  "guess": np.full(n, 0.2), "slip": np.full(n, 0.1)}
        if self.config.forgetting:
            params["forget"] = np.full(n, 0.02)
        last = -np.inf
        for it in range(self.config.n_iter):
            params, loglik = _em_step(packed, params, n, self.config)
            log.debug("BKT EM iteration %d: mean log-likelihood %.5f", it, loglik)
            if loglik - last < self.config.tol:
                break
            last = loglik
        # the unknown skill (index n-1) takes the pooled averages
        for k in params:
            params[k][-1] = float(np.mean(params[k][:-1])) if n > 1 else params[k][-1]
        self.params_ = params
        self.n_iter_ = it + 1
        return self

    def _link_predictions(self, responses: Responses) -> tuple[np.ndarray, np.ndarray, _Packed]:
        rows = responses.skill_rows()
        skills = self.vocab_.skills(responses)
        packed = pack(segment_ids(responses)[rows], skills, responses.correct[rows])
        p = self.params_
        pred, _ = bkt_forward(packed, p["prior"], p["learn"], p["forget"], p["guess"], p["slip"])
        p_obs = pred * (1 - p["slip"][packed.skill]) + (1 - pred) * p["guess"][packed.skill]
        link_p = np.empty(len(rows))
        link_p[packed.perm] = p_obs
        return link_p, rows, packed

    def predict_proba(self, responses: Responses) -> np.ndarray:
        self._check_fitted()
        link_p, rows, _ = self._link_predictions(responses)
        total = np.bincount(rows, weights=link_p, minlength=len(responses))
        count = np.bincount(rows, minlength=len(responses))
        p = self.params_
        fallback = p["prior"][-1] * (1 - p["slip"][-1]) + (1 - p["prior"][-1]) * p["guess"][-1]
        return np.where(count > 0, total / np.maximum(count, 1), fallback)

    def _skill_probabilities(self, responses: Responses) -> np.ndarray:
        p = self.params_
        mastered = np.tile(p["prior"], (responses.n_learners, 1))  # (L, S+1)
        if len(responses.skill):
            rows = responses.skill_rows()
            skills = self.vocab_.skills(responses)
            packed = pack(segment_ids(responses)[rows], skills, responses.correct[rows])
            _, filt = bkt_forward(packed, p["prior"], p["learn"], p["forget"], p["guess"], p["slip"])
            last = packed.seq_last
            s = packed.skill[last]
            after = filt[last] * (1 - p["forget"][s]) + (1 - filt[last]) * p["learn"][s]
            learner = segment_ids(responses)[rows][packed.perm[last]]
            mastered[learner, s] = after
        return mastered * (1 - p["slip"]) + (1 - mastered) * p["guess"]

    def mastered_probability(self, responses: Responses) -> np.ndarray:
        """(L, S+1) P(skill mastered) after each learner's responses (BKT's own mastery estimate)."""
        p = self.params_
        probs = self._skill_probabilities(responses)
        return (probs - p["guess"]) / (1 - p["slip"] - p["guess"])

    def _get_arrays(self) -> dict[str, np.ndarray]:
        return dict(self.params_)

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.params_ = dict(arrays)
