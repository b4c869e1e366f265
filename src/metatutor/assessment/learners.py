"""Batched learner models and selectors for adaptive tests over many learners at once (the BOBCAT
protocol): each learner has answered the items in `items[l, :n]`; predict P(correct) on query items.

Glossary: L learners, n answered, Q query items, P pool slots, G grid points.
"""

from __future__ import annotations

from typing import Protocol, Self

import numpy as np

from metatutor.assessment.bank import ItemBank
from metatutor.assessment.calibration import CalibrationConfig
from metatutor.assessment.irt import GRID, fisher_information, p_correct
from metatutor.data.responses import Responses, codes_for

SEL_GRID = GRID[::2]  # 61 points suffice for batched posteriors


class CATLearners(Protocol):
    name: str

    def fit(self, train: Responses, valid: Responses | None = None) -> Self: ...

    def predict(self, items: np.ndarray, y: np.ndarray, query: np.ndarray) -> np.ndarray:
        """(L, Q) P(correct) of the query items given the answered (items, y) (L, n)."""
        ...


def item_parameters(bank: ItemBank, responses: Responses) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, c) for every item code of `responses`' vocabulary: from the bank, or for an item the bank
    lacks, the mean difficulty of the bank's items of the same first skill (the bank mean otherwise)."""
    n = len(responses.item_ids)
    a, b, c = np.full(n, float(np.median(bank.a))), np.full(n, float(bank.b.mean())), np.full(n, float(bank.c.mean()))
    codes = codes_for(bank.item_ids, responses.item_ids)
    known = codes >= 0
    skill_mean = {}
    if len(bank.skill_ids):
        bank_skill_codes = codes_for(bank.skill_ids, responses.skill_ids)
        sk = bank.skill[known]
        for s in np.unique(sk[sk >= 0]):
            skill_mean[int(bank_skill_codes[s])] = float(bank.b[known][sk == s].mean())
    first = np.full(n, -1)
    has = responses.n_skills_per_response > 0
    first[responses.item[has]] = responses.skill[responses.skill_ptr[:-1][has]]
    for item in np.flatnonzero(first >= 0):
        if int(first[item]) in skill_mean:
            b[item] = skill_mean[int(first[item])]
    a[codes[known]], b[codes[known]], c[codes[known]] = bank.a[known], bank.b[known], bank.c[known]
    return a, b, c


class IRTLearners:
    """Calibrated IRT (abilities by EAP on a grid, predictions by the posterior predictive)."""

    def __init__(self, kind: str = "2pl") -> None:
        self.kind = kind
        self.name = f"irt-{kind}"

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        # a skill-centred difficulty prior and a tighter slope prior (most items have a few dozen answers, and
        # maximum information picks the slopes that chance inflated): chosen on fold 1's validation learners
        # of assist2009_pid (docs/benchmarks.md §4a)
        config = CalibrationConfig(max_iter=60, skill_prior=True, log_discrimination_sd=0.3)
        self.bank_ = ItemBank.calibrate(train, kind=self.kind, config=config)
        self.a_, self.b_, self.c_ = item_parameters(self.bank_, train)
        return self

    def log_posterior(self, items: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(L, G) log posterior over SEL_GRID with a N(0, 1) prior."""
        p = np.clip(p_correct(SEL_GRID[None, None, :], self.a_[items][..., None], self.b_[items][..., None],
                              self.c_[items][..., None]), 1e-9, 1 - 1e-9)  # (L, n, G)
        ll = np.where(y[..., None] > 0, np.log(p), np.log1p(-p)).sum(axis=1)
        return np.asarray(ll - 0.5 * SEL_GRID[None, :] ** 2)

    def posterior(self, items: np.ndarray, y: np.ndarray) -> np.ndarray:
        lp = self.log_posterior(items, y)
        post = np.exp(lp - lp.max(axis=1, keepdims=True))
        return np.asarray(post / post.sum(axis=1, keepdims=True))

    def ability(self, items: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.asarray(self.posterior(items, y) @ SEL_GRID)

    def predict(self, items: np.ndarray, y: np.ndarray, query: np.ndarray) -> np.ndarray:
        post = self.posterior(items, y)  # (L, G)
        p = p_correct(SEL_GRID[None, None, :], self.a_[query][..., None], self.b_[query][..., None],
                      self.c_[query][..., None])  # (L, Q, G)
        return np.asarray(np.einsum("lqg,lg->lq", p, post))


def random_choice(available: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(L,) a uniformly random available slot per learner."""
    return np.asarray(np.argmax(np.where(available, rng.random(available.shape), -1.0), axis=1))


def information_choice(model: IRTLearners, items: np.ndarray, y: np.ndarray, pool_item: np.ndarray,
                       available: np.ndarray, *, criterion: str) -> np.ndarray:
    """(L,) the available slot with the most Fisher (mfi) or KL information at each learner's θ̂."""
    theta = model.ability(items, y)[:, None]  # (L, 1)
    a, b, c = model.a_[pool_item], model.b_[pool_item], model.c_[pool_item]
    if criterion == "mfi":
        score = fisher_information(theta, a, b, c)
    else:  # KL index over θ̂ ± 3/√n (Chang & Ying), n answered so far
        delta = 3.0 / np.sqrt(max(items.shape[1], 1))
        offsets = np.linspace(-delta, delta, 9)
        p0 = np.clip(p_correct(theta, a, b, c), 1e-9, 1 - 1e-9)[..., None]
        p1 = np.clip(p_correct(theta[..., None] + offsets, a[..., None], b[..., None], c[..., None]), 1e-9, 1 - 1e-9)
        score = (p0 * np.log(p0 / p1) + (1 - p0) * np.log((1 - p0) / (1 - p1))).mean(axis=-1)
    return np.asarray(np.argmax(np.where(available, score, -np.inf), axis=1))
