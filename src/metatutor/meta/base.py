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

from metatutor.data.responses import Responses
from metatutor.errors import NotFittedError
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
