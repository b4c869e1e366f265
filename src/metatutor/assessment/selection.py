"""Choosing the next item: random, maximum Fisher information, KL information, with randomesque and
Sympson-Hetter exposure control and Kingsbury-Zara content balancing across skills.

Glossary: I items in the bank, S skills.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from metatutor.assessment.bank import ItemBank
from metatutor.assessment.irt import fisher_information, kl_information
from metatutor.errors import ConfigError

CRITERIA = ("random", "mfi", "kl")


@dataclass(frozen=True)
class SelectorConfig:
    criterion: str = "mfi"  # random | mfi (maximum Fisher information at θ̂) | kl (Chang-Ying KL index)
    randomesque: int = 1  # pick uniformly among the best k items (exposure control; 1 = off)
    content_targets: dict[str, float] = field(default_factory=dict)  # skill id -> share of the test
    kl_delta: float = 3.0  # KL integrates over θ̂ ± kl_delta / √n

    def __post_init__(self) -> None:
        if self.criterion not in CRITERIA:
            raise ConfigError(f"unknown selection criterion {self.criterion!r}; choose from {', '.join(CRITERIA)}")
        if self.randomesque < 1:
            raise ConfigError("randomesque must be >= 1")


def item_scores(bank: ItemBank, criterion: str, *, theta: float, n_answered: int, kl_delta: float = 3.0,
                candidates: np.ndarray | None = None) -> np.ndarray:
    """Merit of each candidate item (all items when None) under a criterion; larger is better."""
    sl = slice(None) if candidates is None else candidates
    a, b, c = bank.a[sl], bank.b[sl], bank.c[sl]
    if criterion == "mfi":
        return np.asarray(fisher_information(theta, a, b, c))
    if criterion == "kl":
        return kl_information(theta, a, b, c, delta=kl_delta / np.sqrt(max(n_answered, 1)))
    raise ConfigError(f"criterion {criterion!r} has no scores")


def content_filter(bank: ItemBank, available: np.ndarray, administered: np.ndarray,
                   targets: dict[str, float]) -> np.ndarray:
    """Kingsbury-Zara: keep only the items of the skill furthest below its target share (among the skills
    with targets that still have available items)."""
    if not targets:
        return available
    codes = {s: i for i, s in enumerate(bank.skill_ids)}
    unknown = [s for s in targets if s not in codes]
    if unknown:
        raise ConfigError(f"content targets name skills the bank does not have: {', '.join(unknown[:5])}")
    n = max(len(administered), 1)
    shares = {s: np.sum(bank.skill[administered] == codes[s]) / n for s in targets}
    for skill in sorted(targets, key=lambda s: shares[s] - targets[s]):
        mask = available & (bank.skill == codes[skill])
        if mask.any():
            return mask
    return available


def select_item(bank: ItemBank, config: SelectorConfig, *, theta: float, available: np.ndarray,
                administered: np.ndarray, rng: np.random.Generator,
                exposure_k: np.ndarray | None = None) -> int:
    """Index of the next item among `available` (bool mask (I,)).

    `exposure_k` (I,) are Sympson-Hetter parameters: the items are offered best first and the best one is
    given with probability K_i, otherwise the next is tried (the last is always given).
    """
    allowed = content_filter(bank, available, administered, config.content_targets)
    candidates = np.flatnonzero(allowed)
    if len(candidates) == 0:
        raise ConfigError("no item is left to select")
    if config.criterion == "random":
        return int(rng.choice(candidates))
    scores = item_scores(bank, config.criterion, theta=theta, n_answered=len(administered),
                         kl_delta=config.kl_delta, candidates=candidates)
    k = min(config.randomesque, len(candidates))
    if exposure_k is None:
        if k == 1:
            return int(candidates[np.argmax(scores)])
        top = np.argpartition(-scores, k - 1)[:k]
        return int(candidates[rng.choice(top)])
    order = candidates[np.argsort(-scores, kind="stable")]
    if k > 1:  # randomesque and Sympson-Hetter together: shuffle the top k before the lottery
        order[:k] = rng.permutation(order[:k])
    gates = rng.random(len(order)) < exposure_k[order]
    passed = np.flatnonzero(gates)
    return int(order[passed[0]] if len(passed) else order[-1])


def sympson_hetter(bank: ItemBank, simulate: Callable[[np.ndarray], np.ndarray], *, r_max: float,
                   rounds: int = 12) -> np.ndarray:
    """Iterative calibration of the Sympson-Hetter exposure parameters K (I,).

    `simulate(K)` runs a cohort of simulated tests with the current K and returns each item's exposure rate
    (share of examinees who were given it); K_i is multiplied by r_max / rate (capped at 1), which lowers
    the over-exposed items and lets the others back up, until the rates settle under r_max.
    """
    k = np.ones(len(bank))
    for _ in range(rounds):
        rate = simulate(k)
        k = np.minimum(1.0, k * r_max / np.maximum(rate, 1e-12))
    return k
