"""Replaying an adaptive test on the BOBCAT protocol's pools (`assessment.pools`): a selector asks
questions from each learner's pool, one at a time, and after n of them a learner model predicts the
learner's held-out responses. The CAT benchmark (`metatutor.evaluation.cat`) scores every selector this
way, and the meta-learned selector (`assessment.meta_selector`) validates its epochs with it.

Glossary: L learners, n questions asked so far, P pool slots, H held-out slots.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from metatutor.assessment.pools import Pools
from metatutor.models.metrics import score

NS = (1, 3, 5, 10)  # questions asked before each prediction of the held-out responses


def run_selection(pools: Pools, choose: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
                  predict: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
                  *, ns: tuple[int, ...] = NS) -> dict[int, tuple[float, float]]:
    """Ask max(ns) questions with `choose(items, y, available) -> slots`; after each n in `ns` predict the
    held-out responses with `predict(items, y, query)`; pooled (AUC, accuracy) per n."""
    n_l = pools.n_learners
    available = pools.pool_mask.copy()
    items = np.zeros((n_l, 0), dtype=np.int64)
    y = np.zeros((n_l, 0), dtype=np.int64)
    rows = np.arange(n_l)
    out = {}
    for step in range(1, max(ns) + 1):
        slot = choose(items, y, available)
        if not available[rows, slot].all():
            raise RuntimeError("a selector chose an item outside the learner's pool")
        available[rows, slot] = False
        items = np.concatenate([items, pools.pool_item[rows, slot][:, None]], axis=1)
        y = np.concatenate([y, pools.pool_y[rows, slot][:, None]], axis=1)
        if step in ns:
            p = predict(items, y, pools.held_item)
            m = score(pools.held_y[pools.held_mask], p[pools.held_mask])
            out[step] = (m["auc"], m["acc"])
    return out
