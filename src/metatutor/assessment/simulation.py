"""Simulated adaptive tests: examinees of known ability answer a calibrated bank, so the accuracy of a
selector + estimator pair (RMSE, bias, SE against test length) and item exposure can be measured.

Glossary: E examinees, L test length, I items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metatutor.assessment.bank import ItemBank
from metatutor.assessment.estimation import estimate
from metatutor.assessment.irt import p_correct
from metatutor.assessment.selection import SelectorConfig, select_item, sympson_hetter


@dataclass(frozen=True)
class SimulationResult:
    theta: np.ndarray  # (E,) true abilities
    estimates: np.ndarray  # (E, L) θ̂ after 1..L items
    se: np.ndarray  # (E, L)
    items: np.ndarray  # (E, L) bank positions given

    def rmse(self) -> np.ndarray:
        return np.asarray(np.sqrt(np.mean((self.estimates - self.theta[:, None]) ** 2, axis=0)))

    def bias(self) -> np.ndarray:
        return np.asarray(np.mean(self.estimates - self.theta[:, None], axis=0))

    def mean_se(self) -> np.ndarray:
        return np.asarray(np.mean(np.minimum(self.se, 10.0), axis=0))

    def exposure(self, n_items: int, length: int | None = None) -> np.ndarray:
        """(I,) share of examinees given each item within their first `length` items."""
        given = self.items[:, :length] if length else self.items
        return np.bincount(given.ravel(), minlength=n_items) / len(self.theta)


def rasch_bank(n_items: int, rng: np.random.Generator) -> ItemBank:
    """Difficulties b ~ N(0, 1), a = 1, c = 0."""
    return ItemBank.from_parameters(np.ones(n_items), rng.normal(size=n_items), kind="1pl")


def simulate(bank: ItemBank, theta: np.ndarray, *, length: int, selector: SelectorConfig, estimator: str = "eap",
             rng: np.random.Generator, exposure_k: np.ndarray | None = None) -> SimulationResult:
    """Give each examinee a test of `length` items; answers drawn from the bank's own model."""
    n = len(theta)
    est = np.zeros((n, length))
    se = np.zeros((n, length))
    given = np.zeros((n, length), dtype=np.int64)
    for e in range(n):
        available = np.ones(len(bank), dtype=bool)
        answers = np.zeros(length)
        current = 0.0
        for t in range(length):
            item = select_item(bank, selector, theta=current, available=available, administered=given[e, :t],
                               rng=rng, exposure_k=exposure_k)
            available[item] = False
            given[e, t] = item
            answers[t] = float(rng.random() < p_correct(theta[e], bank.a[item], bank.b[item], bank.c[item]))
            codes = given[e, : t + 1]
            result = estimate(estimator, answers[: t + 1], bank.a[codes], bank.b[codes], bank.c[codes])
            est[e, t], se[e, t] = result.theta, result.se
            # MLE has no finite estimate before a mixed pattern; select at the bound it reports
            current = result.theta
    return SimulationResult(theta=theta, estimates=est, se=se, items=given)


def calibrate_exposure(bank: ItemBank, *, length: int, selector: SelectorConfig, r_max: float,
                       n_examinees: int = 2000, estimator: str = "eap", seed: int = 1, rounds: int = 20,
                       cohort: int | None = None) -> np.ndarray:
    """Sympson-Hetter parameters for tests of `length` items, from simulations on N(0, 1) examinees
    drawn with their own seed (never the cohort that is evaluated).

    With `cohort` (the number of examinees whose observed exposure must stay under `r_max`), the
    calibration aims 3 binomial standard errors lower: the largest of hundreds of observed rates
    overshoots the selection probability that Sympson-Hetter controls by about that much (never
    aiming below r_max / 2).
    """
    margin = 3.0 * float(np.sqrt(r_max * (1.0 - r_max) / cohort)) if cohort else 0.0
    target = max(r_max - margin, r_max / 2)  # a tiny cohort would otherwise ask for the infeasible

    def rates(k: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(seed)
        theta = rng.normal(size=n_examinees)
        sim = simulate(bank, theta, length=length, selector=selector, estimator=estimator, rng=rng, exposure_k=k)
        return sim.exposure(len(bank))

    return sympson_hetter(bank, rates, r_max=target, rounds=rounds)
