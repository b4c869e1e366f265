"""The BOBCAT evaluation protocol's data: each learner's first attempt per problem, learners with at least
`min_responses`, and for each shuffle seed a selectable pool and a never-selectable held-out set.

Glossary: L learners, P pool slots, H held-out slots (both padded per learner).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from metatutor.data.responses import Responses


def item_skills(responses: Responses, *, missing: int) -> np.ndarray:
    """(I,) a skill code for each item code of the vocabulary: the first skill of its responses (the last
    response's, should they differ); `missing` for an item without one."""
    out = np.full(len(responses.item_ids), missing, dtype=np.int64)
    has = responses.n_skills_per_response > 0
    out[responses.item[has]] = responses.skill[responses.skill_ptr[:-1][has]]
    return out


def first_attempts(responses: Responses, *, min_responses: int = 20) -> Responses:
    """Keep each learner's first attempt at each item, then only learners with >= min_responses."""
    first = ~pd.DataFrame({"l": responses.learner, "i": responses.item}).duplicated().to_numpy()
    kept = responses.select_rows(first)
    counts = np.bincount(kept.learner, minlength=len(kept.learner_ids))
    return kept.select_rows(counts[kept.learner] >= min_responses)


@dataclass(frozen=True)
class Pools:
    """Padded (L, P) pool and (L, H) held-out item codes and answers; masks mark the real slots."""

    pool_item: np.ndarray
    pool_y: np.ndarray
    pool_mask: np.ndarray
    held_item: np.ndarray
    held_y: np.ndarray
    held_mask: np.ndarray

    @property
    def n_learners(self) -> int:
        return len(self.pool_item)


def make_pools(responses: Responses, *, seed: int, held_fraction: float = 0.2) -> Pools:
    """Shuffle each learner's responses with `seed`; the last ⌊N·held_fraction⌋ are held out."""
    rng = np.random.default_rng(seed)
    starts = responses.starts
    lengths = np.diff(starts)
    n_held = np.floor(lengths * held_fraction).astype(np.int64)
    n_pool = lengths - n_held
    pool_item = np.zeros((len(lengths), int(n_pool.max(initial=1))), dtype=np.int64)
    held_item = np.zeros((len(lengths), int(n_held.max(initial=1))), dtype=np.int64)
    pool_y, held_y = np.zeros(pool_item.shape, dtype=np.int64), np.zeros(held_item.shape, dtype=np.int64)
    for j, (lo, n) in enumerate(zip(starts[:-1], lengths, strict=True)):
        perm = lo + rng.permutation(n)
        pool, held = perm[: n_pool[j]], perm[n_pool[j]:]
        pool_item[j, : len(pool)], pool_y[j, : len(pool)] = responses.item[pool], responses.correct[pool]
        held_item[j, : len(held)], held_y[j, : len(held)] = responses.item[held], responses.correct[held]
    cols_p, cols_h = np.arange(pool_item.shape[1]), np.arange(held_item.shape[1])
    return Pools(pool_item=pool_item, pool_y=pool_y, pool_mask=cols_p[None, :] < n_pool[:, None],
                 held_item=held_item, held_y=held_y, held_mask=cols_h[None, :] < n_held[:, None])


def shuffled_orders(responses: Responses, *, copies: int = 1, seed: int = 0) -> Responses:
    """Each learner's responses in a random order (`copies` independent orders, the learner ids suffixed
    `#0`, `#1`, ...): sequences for training a sequence model that will see answers in a selector's order,
    not in the platform's."""
    frame = responses.to_frame().drop(columns=["order", "timestamp"], errors="ignore")
    rng = np.random.default_rng(seed)
    parts = []
    for c in range(copies):
        key = rng.random(len(frame))
        part = frame.assign(_key=key).sort_values(["learner", "_key"], kind="stable").drop(columns="_key")
        parts.append(part.assign(learner=part["learner"].astype(str) + f"#{c}"))
    out = pd.concat(parts, ignore_index=True)
    return Responses.from_frame(out.assign(timestamp=np.arange(len(out), dtype=np.float64)), merge_multiskill=False)
