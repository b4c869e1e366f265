"""Item response theory (1PL/2PL) with online ability estimation for new learners.

Items are calibrated by marginal maximum a posteriori on the training learners, with abilities
integrated out on a quadrature grid (Bock-Aitkin EM: the E-step turns each learner's posterior into
expected counts per item and grid point, the M-step refits the items on those small (I, G) tables), so
the estimates stay consistent however few items a learner answered. A learner's ability is never taken
from training: for each response, the posterior over θ (a grid, normal prior) given only that
learner's earlier responses gives the predictive P(correct) = E[σ(a(θ - b))]. `IRT.online()` keeps that
posterior for one learner (`IRTOnlineState`) and scores the whole bank with one (I, G) product.

Glossary: N responses, G grid points, I items, S skills, L learners.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.models.base import LearnerModel, Vocabulary, segment_ids, sigmoid
from metatutor.models.base import logit as log_odds  # "logit" names local arrays below
from metatutor.models.calibration import CalibrationConfig, calibrate

log = logging.getLogger(__name__)
GRID = np.linspace(-5.0, 5.0, 81)


@dataclass(frozen=True)
class IRTConfig:
    kind: str = "1pl"  # "1pl" (Rasch) or "2pl"
    difficulty_sd: float = 2.0  # prior sd of item difficulty
    log_discrimination_sd: float = 0.5  # prior sd of log a (2PL)
    max_iter: int = 100  # EM iterations of the calibration
    tol: float = 1e-5  # stop when the log marginal likelihood gains less than tol per learner


def irt_logit(theta: np.ndarray, difficulty: np.ndarray, discrimination: np.ndarray) -> np.ndarray:
    return discrimination * (theta - difficulty)


def online_ability_posterior(correct: np.ndarray, difficulty: np.ndarray, discrimination: np.ndarray,
                             segments: np.ndarray, *, prior_sd: float) -> np.ndarray:
    """(N, G) log posterior over the θ grid before each response, from that learner's earlier ones."""
    logit = discrimination[:, None] * (GRID[None, :] - difficulty[:, None])  # (N, G)
    y = correct[:, None].astype(np.float64)
    loglik = -np.logaddexp(0.0, np.where(y > 0, -logit, logit))  # (N, G) log P(y | θ)
    cum = np.cumsum(loglik, axis=0)
    starts = np.flatnonzero(np.r_[True, segments[1:] != segments[:-1]])
    offsets = np.where(starts > 0, starts - 1, 0)
    base = np.where((starts > 0)[:, None], cum[offsets], 0.0)
    before_start = np.repeat(base, np.diff(np.r_[starts, len(segments)]), axis=0)
    exclusive = cum - loglik - before_start
    log_prior = -0.5 * (GRID / prior_sd) ** 2
    return exclusive + log_prior[None, :]


class IRT(LearnerModel):
    """1PL or 2PL IRT; `IRT(kind="2pl")`."""

    name = "irt"
    config_class = IRTConfig

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        if self.config.kind not in ("1pl", "2pl"):
            raise ConfigError(f"IRT kind must be '1pl' or '2pl', not {self.config.kind!r}")
        self.__dict__.pop("_grid_p", None)
        self.vocab_ = Vocabulary.of(train)
        cal = calibrate(segment_ids(train), self.vocab_.items(train), train.correct, n_learners=train.n_learners,
                        n_items=self.vocab_.n_items, config=self.calibration_config())
        # 1PL learns the spread of abilities; 2PL fixes it to 1 (the discriminations carry the scale)
        self.difficulty_, self.discrimination_, self.prior_sd_ = cal.b, cal.a, cal.sd
        # an unseen item borrows the mean difficulty of its skills' training items
        rows, skills = train.skill_rows(), self.vocab_.skills(train)
        item_of_link = self.vocab_.items(train)[rows]
        sums = np.bincount(skills, weights=self.difficulty_[item_of_link], minlength=self.vocab_.n_skills + 1)
        counts = np.bincount(skills, minlength=self.vocab_.n_skills + 1)
        self.skill_difficulty_ = np.where(counts > 0, sums / np.maximum(counts, 1), self.difficulty_.mean())
        return self

    def calibration_config(self) -> CalibrationConfig:
        """How `fit` calibrates the items (also used when fitting from a cache, `cached_fit`)."""
        cfg = self.config
        return CalibrationConfig(kind=cfg.kind, difficulty_sd=cfg.difficulty_sd,
                                 log_discrimination_sd=cfg.log_discrimination_sd, max_iter=cfg.max_iter, tol=cfg.tol)

    def _item_parameters(self, responses: Responses) -> tuple[np.ndarray, np.ndarray]:
        items = self.vocab_.items(responses)
        known = items < self.vocab_.n_items
        b = np.empty(len(responses))
        b[known] = self.difficulty_[items[known]]
        a = np.ones(len(responses))
        a[known] = self.discrimination_[items[known]]
        if (~known).any():
            rows, skills = responses.skill_rows(), self.vocab_.skills(responses)
            sums = np.bincount(rows, weights=self.skill_difficulty_[skills], minlength=len(responses))
            counts = np.bincount(rows, minlength=len(responses))
            fallback = np.where(counts > 0, sums / np.maximum(counts, 1), self.skill_difficulty_[-1])
            b[~known] = fallback[~known]
        return b, a

    def predict_proba(self, responses: Responses) -> np.ndarray:
        self._check_fitted()
        b, a = self._item_parameters(responses)
        out = np.empty(len(responses))
        # chunks of whole learners keep the (N, G) arrays small
        starts = responses.starts
        bounds = [*range(0, responses.n_learners, 2000), responses.n_learners]
        seg = segment_ids(responses)
        for lo, hi in itertools.pairwise(bounds):
            r0, r1 = starts[lo], starts[hi]
            logpost = online_ability_posterior(responses.correct[r0:r1], b[r0:r1], a[r0:r1], seg[r0:r1],
                                               prior_sd=self.prior_sd_)
            post = np.exp(logpost - logpost.max(axis=1, keepdims=True))
            post /= post.sum(axis=1, keepdims=True)
            p_grid = sigmoid(a[r0:r1, None] * (GRID[None, :] - b[r0:r1, None]))
            out[r0:r1] = (post * p_grid).sum(axis=1)
        return out

    def ability(self, responses: Responses) -> np.ndarray:
        """(L,) posterior mean ability of each learner after all their responses."""
        self._check_fitted()
        b, a = self._item_parameters(responses)
        y = responses.correct[:, None].astype(np.float64)
        logit = a[:, None] * (GRID[None, :] - b[:, None])
        loglik = -np.logaddexp(0.0, np.where(y > 0, -logit, logit))
        total = np.add.reduceat(loglik, responses.starts[:-1], axis=0) if len(responses) else np.zeros((0, len(GRID)))
        logpost = total - 0.5 * (GRID / self.prior_sd_) ** 2
        post = np.exp(logpost - logpost.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        return np.asarray(post @ GRID)

    def _skill_probabilities(self, responses: Responses) -> np.ndarray:
        theta = self.ability(responses)
        return sigmoid(theta[:, None] - self.skill_difficulty_[None, :])

    def online(self) -> IRTOnlineState:
        """A fresh serving state for one learner (see `IRTOnlineState`)."""
        self._check_fitted()
        return IRTOnlineState(self)

    def grid_probabilities(self) -> np.ndarray:
        """(G, I) P(correct) of every known item at each grid ability (float32), one row per grid point;
        computed once per model."""
        self._check_fitted()
        if "_grid_p" not in self.__dict__:
            p = sigmoid(self.discrimination_[None, :] * (GRID[:, None] - self.difficulty_[None, :]))
            self._grid_p = np.ascontiguousarray(p, dtype=np.float32)  # float32: a quarter of the memory traffic
        return self._grid_p

    def _get_arrays(self) -> dict[str, np.ndarray]:
        return {"difficulty": self.difficulty_, "discrimination": self.discrimination_,
                "skill_difficulty": self.skill_difficulty_}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.__dict__.pop("_grid_p", None)
        self.difficulty_ = arrays["difficulty"]
        self.discrimination_ = arrays["discrimination"]
        self.skill_difficulty_ = arrays["skill_difficulty"]

    def _get_extra(self) -> dict[str, Any]:
        return {"prior_sd": self.prior_sd_}

    def _set_extra(self, extra: dict[str, Any]) -> None:
        self.prior_sd_ = float(extra["prior_sd"])


class IRTOnlineState:
    """One learner's serving state for `IRT`: the log posterior over the ability grid given their
    responses so far. `update` adds one response's log-likelihood; `predict` gives E[P(correct)] under
    the posterior, as the batch `predict_proba` does for the same history. `to_arrays`/`from_arrays` let
    a service persist it."""

    def __init__(self, model: IRT) -> None:
        self.model = model
        self.log_posterior = -0.5 * (GRID / model.prior_sd_) ** 2  # (G,) the prior, unnormalised
        self.count = 0

    def _parameters(self, item: int, skills: np.ndarray | None) -> tuple[float, float]:
        m = self.model
        if item < m.vocab_.n_items:
            return float(m.difficulty_[item]), float(m.discrimination_[item])
        known = [] if skills is None else [s for s in np.asarray(skills).tolist() if s <= m.vocab_.n_skills]
        return float(np.mean(m.skill_difficulty_[known])) if known else float(m.skill_difficulty_[-1]), 1.0

    def update(self, item: int, skills: np.ndarray | None, correct: int) -> None:
        """Add one response: model item code, its skill codes (used for unseen items only), 0/1."""
        b, a = self._parameters(item, skills)
        logit = a * (GRID - b)
        self.log_posterior = self.log_posterior - np.logaddexp(0.0, -logit if correct else logit)
        self.count += 1

    def posterior(self) -> np.ndarray:
        """(G,) the normalised posterior over the ability grid."""
        post = np.exp(self.log_posterior - self.log_posterior.max())
        return np.asarray(post / post.sum())

    def predict(self, items: np.ndarray | None = None, *, skills: np.ndarray | None = None) -> np.ndarray:
        """P(correct) on each item code in `items` as the next response (default: every known item);
        `skills` (M, K): the items' skill codes, used for items the model has not seen."""
        post = self.posterior()
        if items is None:
            return self._bank(post).astype(np.float64)
        codes = np.asarray(items)
        params = np.array([self._parameters(int(i), None if skills is None else skills[j])
                           for j, i in enumerate(codes)]).reshape(-1, 2)
        return np.asarray(sigmoid(params[:, 1:] * (GRID[None, :] - params[:, :1])) @ post)

    def predict_logit(self) -> np.ndarray:
        """(I,) float32 logits of every known item's P(correct) as the next response."""
        return np.asarray(log_odds(self._bank(self.posterior())))

    def _bank(self, post: np.ndarray) -> np.ndarray:
        """(I,) float32 E[P(correct)] of every known item under the posterior, over the grid points that
        hold any of its mass (above 1e-12 each, so at most 1e-10 of it is left out): after a few
        answers the posterior is narrow and most rows of the (G, I) table need not be read. `post`: the
        normalised posterior (G,)."""
        held = np.flatnonzero(post > 1e-12)
        lo, hi = held[0], held[-1] + 1
        return np.asarray(post[lo:hi].astype(np.float32) @ self.model.grid_probabilities()[lo:hi])

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The state as plain arrays (for a database or safetensors)."""
        return {"log_posterior": self.log_posterior, "count": np.array([self.count])}

    @classmethod
    def from_arrays(cls, model: IRT, arrays: dict[str, np.ndarray]) -> IRTOnlineState:
        state = cls(model)
        state.log_posterior = np.asarray(arrays["log_posterior"], dtype=np.float64)
        state.count = int(arrays["count"][0])
        return state
