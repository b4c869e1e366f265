"""The contract of a cold-start method, and the population models that methods share within a fold.

A cold-start method is an estimator: `fit(train, valid, population)` learns from training learners
only, then `predict_query(support, query)` returns P(correct) of each query response from the same
learner's support responses. The query's answers are hidden (zeroed) before a method sees them.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np
from sklearn.metrics import roc_auc_score

from metatutor.data.responses import Responses
from metatutor.errors import NotFittedError
from metatutor.meta.episodes import Episodes, cold_start_episodes
from metatutor.models.dkt import DKT
from metatutor.models.irt import IRT

log = logging.getLogger(__name__)


@dataclass
class Population:
    """Population models fitted once per fold on the training learners (lazily, on first use)."""

    train: Responses
    valid: Responses | None
    dkt_settings: dict[str, object] = field(default_factory=dict)
    _dkt: DKT | None = None
    _irt: IRT | None = None

    @property
    def dkt(self) -> DKT:
        if self._dkt is None:
            log.info("fitting the population DKT")
            self._dkt = DKT(**self.dkt_settings).fit(self.train, self.valid)
        return self._dkt

    @property
    def irt(self) -> IRT:
        if self._irt is None:
            log.info("fitting the population IRT")
            self._irt = IRT().fit(self.train, self.valid)
        return self._irt


def episode_auc(method: ColdStartMethod, episodes: list[Episodes]) -> float:
    """Pooled AUC of a method's query predictions over some episodes (-1 when there is nothing to score)."""
    episodes = [ep for ep in episodes if len(ep.query)]
    if not episodes:
        return -1.0
    p = np.concatenate([method.predict_query(ep.support, ep.query) for ep in episodes])
    y = np.concatenate([ep.answers for ep in episodes])
    return float(roc_auc_score(y, p)) if len(np.unique(y)) > 1 else 0.5


def validation_episodes(valid: Responses | None, *, query: int, ks: tuple[int, ...] = (1, 3, 5, 10)) -> list[Episodes]:
    """The validation learners' episodes that pick a meta-learner's best checkpoint."""
    if valid is None or not len(valid):
        return []
    return [ep for ep in (cold_start_episodes(valid, k, query=query) for k in ks) if len(ep.query)]


class ColdStartMethod(ABC):
    """Fit on training learners; predict a new learner's next responses from their first few."""

    name: ClassVar[str] = "method"

    def fit(self, train: Responses, valid: Responses | None = None, population: Population | None = None) -> Self:
        self.population_ = population or Population(train, valid)
        self._fit(train, valid, self.population_)
        return self

    def _fit(self, train: Responses, valid: Responses | None, population: Population) -> None:  # noqa: B027
        """Learn what the method needs beyond the population models (default: nothing)."""

    @abstractmethod
    def predict_query(self, support: Responses, query: Responses) -> np.ndarray:
        """(N_query,) P(correct) of each query response, given only the support of the same learner."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "population_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(train) first")
