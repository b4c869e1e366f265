"""A resumable adaptive test: its whole state is a small JSON document, so one web request can ask one
question and the next request picks up where it left off. The same seed gives the same test.

    session = CATSession(bank, seed=7)
    item = session.next_item()          # an item id, or None once the test has stopped
    session.answer(item, correct=1)
    state = session.to_dict()           # store it anywhere ...
    session = CATSession.from_dict(state, bank)   # ... and resume
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Self

import numpy as np

from metatutor.assessment.bank import ItemBank
from metatutor.assessment.estimation import ESTIMATORS, Estimate, estimate
from metatutor.assessment.selection import SelectorConfig, select_item
from metatutor.assessment.stopping import StoppingRule
from metatutor.errors import ConfigError


class CATSession:
    """One examinee's adaptive test over an item bank."""

    def __init__(self, bank: ItemBank, *, selector: SelectorConfig | None = None, estimator: str = "eap",
                 stopping: StoppingRule | None = None, seed: int = 0, prior_mean: float = 0.0,
                 prior_sd: float = 1.0, exclude: list[str] | None = None,
                 exposure_k: np.ndarray | None = None) -> None:
        if estimator not in ESTIMATORS:
            raise ConfigError(f"unknown estimator {estimator!r}; choose from {', '.join(ESTIMATORS)}")
        self.bank = bank
        self.selector = selector or SelectorConfig()
        self.estimator = estimator
        self.stopping = stopping or StoppingRule()
        self.seed = seed
        self.prior_mean, self.prior_sd = prior_mean, prior_sd
        self.exclude = list(exclude or [])
        self.exposure_k = exposure_k
        self.items: list[int] = []  # bank positions of the answered items, in order
        self.responses: list[int] = []
        self.pending: int | None = None
        self._excluded_codes = bank.codes(self.exclude) if self.exclude else np.array([], dtype=np.int64)
        self._estimate: Estimate | None = None

    # ----- the test ------------------------------------------------------------------------------
    @property
    def estimate(self) -> Estimate:
        """Current ability estimate and its standard error (the prior before any answer, for EAP/MAP)."""
        if self._estimate is None:
            codes = np.asarray(self.items, dtype=np.int64)
            b = self.bank
            self._estimate = estimate(self.estimator, np.asarray(self.responses), b.a[codes], b.b[codes], b.c[codes],
                                      prior_mean=self.prior_mean, prior_sd=self.prior_sd)
        return self._estimate

    @property
    def stop_reason(self) -> str | None:
        if len(self.items) >= len(self.bank) - len(self._excluded_codes):
            return "bank_exhausted"
        return self.stopping.reason(len(self.items), self.estimate)

    @property
    def finished(self) -> bool:
        return self.stop_reason is not None

    def next_item(self) -> str | None:
        """The item to ask now (the same one until it is answered); None when the test has stopped."""
        if self.pending is None:
            if self.finished:
                return None
            available = np.ones(len(self.bank), dtype=bool)
            available[self.items] = False
            available[self._excluded_codes] = False
            # the generator is a function of the seed and the position: a resumed session draws the same
            rng = np.random.default_rng([self.seed, len(self.items)])
            theta = self.estimate.theta
            if self.estimator == "mle" and not np.isfinite(self.estimate.se):
                theta = self.prior_mean  # before a mixed pattern, select at the prior mean
            self.pending = select_item(self.bank, self.selector, theta=theta, available=available,
                                       administered=np.asarray(self.items, dtype=np.int64), rng=rng,
                                       exposure_k=self.exposure_k)
        return str(self.bank.item_ids[self.pending])

    def answer(self, item_id: str, correct: int) -> Estimate:
        """Record the answer to the pending item; returns the updated estimate."""
        if self.pending is None or str(self.bank.item_ids[self.pending]) != str(item_id):
            expected = None if self.pending is None else str(self.bank.item_ids[self.pending])
            raise ConfigError(f"item {item_id!r} was not asked (the pending item is {expected!r})")
        if correct not in (0, 1):
            raise ConfigError(f"correct must be 0 or 1, not {correct!r}")
        self.items.append(self.pending)
        self.responses.append(int(correct))
        self.pending, self._estimate = None, None
        return self.estimate

    def result(self) -> dict[str, Any]:
        est = self.estimate
        return {"theta": est.theta, "se": est.se, "n_items": len(self.items), "finished": self.finished,
                "stop_reason": self.stop_reason, "classification": self.stopping.classify(est)}

    # ----- JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "selector": asdict(self.selector),
            "estimator": self.estimator,
            "stopping": asdict(self.stopping),
            "seed": self.seed,
            "prior": [self.prior_mean, self.prior_sd],
            "exclude": self.exclude,
            "items": [str(self.bank.item_ids[i]) for i in self.items],
            "responses": self.responses,
            "pending": None if self.pending is None else str(self.bank.item_ids[self.pending]),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], bank: ItemBank, *, exposure_k: np.ndarray | None = None) -> Self:
        try:
            session = cls(bank, selector=SelectorConfig(**data["selector"]), estimator=data["estimator"],
                          stopping=StoppingRule(**data["stopping"]), seed=int(data["seed"]),
                          prior_mean=float(data["prior"][0]), prior_sd=float(data["prior"][1]),
                          exclude=list(data.get("exclude", [])), exposure_k=exposure_k)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"not a saved CAT session: {exc}") from exc
        session.items = [int(c) for c in bank.codes(data["items"])] if data["items"] else []
        session.responses = [int(r) for r in data["responses"]]
        if data.get("pending") is not None:
            session.pending = int(bank.codes([data["pending"]])[0])
        return session
