"""Predicting how hard a never-answered item is from its features (`metatutor.content.features`).

    P(learner j answers item i correctly) = sigmoid(θ_j + α_skill(i) - w · x̃_i)

x̃_i are the item's generic features, standardised on the training items. With `features=()` the model
is skill-only: every item of a skill is equally hard. Fitted by penalised maximum likelihood
(θ ~ N(0, 1) as a prior, an L2 penalty `l2` on w and a weak one on α). `fit_learners` estimates θ for
new learners with everything else frozen; an item's predicted IRT b is `w · x̃_i - α_skill(i)`.

Glossary: N responses, L learners, S skills, I items, F features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Self

import numpy as np
from scipy.optimize import minimize

from metatutor.content.features import FEATURES, Features
from metatutor.content.items import Item
from metatutor.data.responses import Responses
from metatutor.errors import ConfigError, NotFittedError


def feature_matrix(items: Sequence[Item], names: Sequence[str] = FEATURES) -> np.ndarray:
    """(I, F) the named features of each item (an authored item without features gets the defaults)."""
    default = Features().to_dict()
    return np.array([[float((i.features or default).get(n, default.get(n, 0.0))) for n in names] for i in items],
                    dtype=np.float64).reshape(len(items), len(names))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class DifficultyModel:
    """Feature-based (or skill-only) difficulty model of items.

    Example:
        >>> from metatutor.content.course import course_items
        >>> from metatutor.content.simulate import Classmates
        >>> items = course_items(5)
        >>> log = Classmates(items, random_state=0).simulate(30, per_skill=3)
        >>> model = DifficultyModel().fit(log.responses, {i.id: i for i in items})
        >>> model.predict_proba(log.responses, {i.id: i for i in items}).shape == (len(log.responses),)
        True
    """

    def __init__(self, *, features: Sequence[str] = FEATURES, l2: float = 1.0, skill_l2: float = 0.01,
                 max_iter: int = 1000) -> None:
        self.features, self.l2, self.skill_l2, self.max_iter = tuple(features), l2, skill_l2, max_iter

    def _design(self, responses: Responses, items: Mapping[str, Item]) -> tuple[np.ndarray, list[Item]]:
        ids = [str(x) for x in responses.item_ids[responses.item]]
        missing = sorted(set(ids) - set(items))
        if missing:
            raise ConfigError(f"responses name items that are not given: {', '.join(missing[:5])}")
        rows = [items[i] for i in ids]
        return feature_matrix(rows, self.features), rows

    def fit(self, responses: Responses, items: Mapping[str, Item]) -> Self:
        """Fit θ, α and w on `responses` to the given `items` (id -> item)."""
        x, rows = self._design(responses, items)
        self.mean_ = x.mean(0) if len(x) else np.zeros(len(self.features))
        self.scale_ = np.where(x.std(0) > 1e-9, x.std(0), 1.0) if len(x) else np.ones(len(self.features))
        xs = (x - self.mean_) / self.scale_  # (N, F)
        self.learner_ids_ = np.asarray(responses.learner_ids)
        self.skill_ids_ = np.array(sorted({i.skill for i in rows}), dtype=object)
        skill_index = {s: k for k, s in enumerate(self.skill_ids_)}
        learner = np.asarray(responses.learner, dtype=np.int64)
        skill = np.array([skill_index[i.skill] for i in rows], dtype=np.int64)
        y = np.asarray(responses.correct, dtype=np.float64)
        n_l, n_s, n_f = len(self.learner_ids_), len(self.skill_ids_), len(self.features)

        def loss(v: np.ndarray) -> tuple[float, np.ndarray]:
            theta, alpha, w = v[:n_l], v[n_l:n_l + n_s], v[n_l + n_s:]
            z = theta[learner] + alpha[skill] - xs @ w
            p = _sigmoid(z)
            nll = float(np.sum(np.logaddexp(0.0, z) - y * z))
            r = p - y  # d nll / dz
            g = np.concatenate([np.bincount(learner, r, n_l) + theta, np.bincount(skill, r, n_s)
                                + self.skill_l2 * alpha, -(xs.T @ r) + self.l2 * w])
            pen = 0.5 * (theta @ theta + self.skill_l2 * alpha @ alpha + self.l2 * w @ w)
            return nll + pen, g

        start = np.zeros(n_l + n_s + n_f)
        sol = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter})
        self.theta_ = sol.x[:n_l]
        self.alpha_ = sol.x[n_l:n_l + n_s]
        self.weights_ = sol.x[n_l + n_s:]
        return self

    def _check(self) -> None:
        if not hasattr(self, "weights_"):
            raise NotFittedError("DifficultyModel: call fit first")

    def _item_logit(self, rows: Sequence[Item], x: np.ndarray) -> np.ndarray:
        """(I,) α_skill - w · x̃ of each item (skills unseen in training get α = 0)."""
        alpha = dict(zip(self.skill_ids_, self.alpha_, strict=True))
        xs = (x - self.mean_) / self.scale_
        return np.array([alpha.get(i.skill, 0.0) for i in rows]) - xs @ self.weights_

    def fit_learners(self, responses: Responses, items: Mapping[str, Item]) -> Self:
        """Estimate θ of the learners in `responses` (replacing any they had), everything else frozen."""
        self._check()
        x, rows = self._design(responses, items)
        offset = self._item_logit(rows, x)
        learner = np.asarray(responses.learner, dtype=np.int64)
        y = np.asarray(responses.correct, dtype=np.float64)
        n_l = len(responses.learner_ids)

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            z = theta[learner] + offset
            nll = float(np.sum(np.logaddexp(0.0, z) - y * z))
            return nll + 0.5 * float(theta @ theta), np.bincount(learner, _sigmoid(z) - y, n_l) + theta

        theta = minimize(loss, np.zeros(n_l), jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter}).x
        present = np.unique(learner)
        known = {str(k): v for k, v in zip(self.learner_ids_, self.theta_, strict=True)}
        known.update({str(responses.learner_ids[j]): float(theta[j]) for j in present})
        self.learner_ids_ = np.array(list(known), dtype=object)
        self.theta_ = np.array(list(known.values()), dtype=np.float64)
        return self

    def predict_proba(self, responses: Responses, items: Mapping[str, Item]) -> np.ndarray:
        """(N,) P(correct) of each response (unknown learners get θ = 0)."""
        self._check()
        x, rows = self._design(responses, items)
        theta = dict(zip((str(k) for k in self.learner_ids_), self.theta_, strict=True))
        t = np.array([theta.get(str(responses.learner_ids[j]), 0.0) for j in responses.learner], dtype=np.float64)
        return np.asarray(_sigmoid(t + self._item_logit(rows, x)))

    def predict_b(self, items: Sequence[Item]) -> np.ndarray:
        """(I,) predicted IRT difficulty of each item, on the scale of θ."""
        self._check()
        return -self._item_logit(items, feature_matrix(items, self.features))
