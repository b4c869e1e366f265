"""Logistic-regression learner models on counts of earlier practice.

* PFA (Pavlik, Cen & Koedinger 2009): per skill an easiness, and weights on the learner's earlier
  successes and failures on that skill.
* Best-LR (Gervet, Koedinger, Schneider & Mitchell 2020): item and skill indicators, and log(1 + n)
  of the learner's earlier attempts and wins, in total and per skill.

Counts of a response with several skills are summed over its skills (a Q-matrix row). Counts only
include the learner's earlier responses. Unseen items and skills contribute nothing.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from metatutor.data.responses import Responses
from metatutor.models.base import LearnerModel, Vocabulary, segment_ids, sigmoid

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogisticConfig:
    C: float = 1.0  # inverse L2 strength, as in scikit-learn
    max_iter: int = 1000


@dataclass
class _Counts:
    rows: np.ndarray  # (Z,) response of each skill link
    skills: np.ndarray  # (Z,) skill code of each link
    attempts: np.ndarray  # (Z,) earlier attempts of this learner on this skill
    wins: np.ndarray  # (Z,) earlier correct answers of this learner on this skill
    total_attempts: np.ndarray  # (N,)
    total_wins: np.ndarray  # (N,)


def practice_counts(responses: Responses, vocab: Vocabulary) -> _Counts:
    """Counts of each learner's earlier practice, per skill and in total, before every response."""
    rows = responses.skill_rows()
    skills = vocab.skills(responses)
    learner = segment_ids(responses)
    y = responses.correct.astype(np.float64)
    links = pd.DataFrame({"key": learner[rows] * (vocab.n_skills + 1) + skills, "y": y[rows]})
    grouped = links.groupby("key", sort=False)
    attempts = grouped.cumcount().to_numpy(dtype=np.float64)
    wins = (grouped["y"].cumsum() - links["y"]).to_numpy()
    order = responses.order.astype(np.float64)
    cum = pd.Series(y).groupby(learner).cumsum().to_numpy() - y
    return _Counts(rows, skills, attempts, wins, order, cum)


class _LogisticModel(LearnerModel):
    config_class = LogisticConfig

    def _design(self, responses: Responses, counts: _Counts) -> sp.csr_matrix:
        raise NotImplementedError

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        self.vocab_ = Vocabulary.of(train)
        x = self._design(train, practice_counts(train, self.vocab_))
        clf = LogisticRegression(C=self.config.C, max_iter=self.config.max_iter, solver="lbfgs")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            clf.fit(x, train.correct)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            log.warning("%s: the solver did not converge in %d iterations", self.name, self.config.max_iter)
        self.coef_ = clf.coef_.ravel().astype(np.float64)
        self.intercept_ = float(clf.intercept_[0])
        return self

    def predict_proba(self, responses: Responses) -> np.ndarray:
        self._check_fitted()
        x = self._design(responses, practice_counts(responses, self.vocab_))
        return sigmoid(x @ self.coef_ + self.intercept_)

    def _get_arrays(self) -> dict[str, np.ndarray]:
        return {"coef": self.coef_, "intercept": np.array([self.intercept_])}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.coef_ = arrays["coef"]
        self.intercept_ = float(arrays["intercept"][0])

    def _final_counts(self, responses: Responses) -> tuple[np.ndarray, np.ndarray]:
        """(L, S+1) attempts and wins of each learner on each skill after all their responses."""
        rows, skills = responses.skill_rows(), self.vocab_.skills(responses)
        learner = segment_ids(responses)[rows]
        shape = (responses.n_learners, self.vocab_.n_skills + 1)
        attempts = np.zeros(shape)
        wins = np.zeros(shape)
        np.add.at(attempts, (learner, skills), 1.0)
        np.add.at(wins, (learner, skills), responses.correct[rows])
        return attempts, wins


def _sparse(n: int, width: int, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> sp.csr_matrix:
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([p[1] for p in parts])
    vals = np.concatenate([p[2] for p in parts])
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, width))


class PFA(_LogisticModel):
    """Performance factors analysis."""

    name = "pfa"

    def _design(self, responses: Responses, c: _Counts) -> sp.csr_matrix:
        s = self.vocab_.n_skills + 1
        known = c.skills < self.vocab_.n_skills
        r, k = c.rows[known], c.skills[known]
        return _sparse(len(responses), 3 * s, [
            (r, k, np.ones(len(r))),
            (r, s + k, c.wins[known]),
            (r, 2 * s + k, (c.attempts - c.wins)[known]),
        ])

    def _skill_probabilities(self, responses: Responses) -> np.ndarray:
        s = self.vocab_.n_skills + 1
        attempts, wins = self._final_counts(responses)
        w = self.coef_
        logit = self.intercept_ + w[:s] + w[s : 2 * s] * wins + w[2 * s :] * (attempts - wins)
        return sigmoid(logit)


class BestLR(_LogisticModel):
    """Best-LR of Gervet et al. (2020)."""

    name = "bestlr"

    def _design(self, responses: Responses, c: _Counts) -> sp.csr_matrix:
        i, s = self.vocab_.n_items, self.vocab_.n_skills + 1
        items = self.vocab_.items(responses)
        seen = np.flatnonzero(items < i)
        known = c.skills < self.vocab_.n_skills
        r, k = c.rows[known], c.skills[known]
        n = len(responses)
        base = i + 3 * s
        return _sparse(n, base + 2, [
            (seen, items[seen], np.ones(len(seen))),
            (r, i + k, np.ones(len(r))),
            (r, i + s + k, np.log1p(c.attempts[known])),
            (r, i + 2 * s + k, np.log1p(c.wins[known])),
            (np.arange(n), np.full(n, base), np.log1p(c.total_attempts)),
            (np.arange(n), np.full(n, base + 1), np.log1p(c.total_wins)),
        ])

    def _skill_probabilities(self, responses: Responses) -> np.ndarray:
        i, s = self.vocab_.n_items, self.vocab_.n_skills + 1
        attempts, wins = self._final_counts(responses)
        w = self.coef_
        totals = np.log1p(responses.lengths)[:, None] * w[i + 3 * s] + np.log1p(
            np.add.reduceat(responses.correct.astype(float), responses.starts[:-1]) if len(responses) else np.zeros(0)
        )[:, None] * w[i + 3 * s + 1]
        logit = (self.intercept_ + w[i : i + s] + w[i + s : i + 2 * s] * np.log1p(attempts)
                 + w[i + 2 * s : i + 3 * s] * np.log1p(wins) + totals)
        return sigmoid(logit)
