from __future__ import annotations

import numpy as np
import pandas as pd

from metatutor.assessment.pools import first_attempts, make_pools
from metatutor.data.responses import Responses


def test_first_attempts_and_minimum_length() -> None:
    frame = pd.DataFrame({"learner": ["a"] * 4 + ["b"] * 2, "item": ["x", "y", "x", "z", "x", "y"],
                          "skill": "s", "correct": [0, 1, 1, 1, 1, 0]})
    kept = first_attempts(Responses.from_frame(frame), min_responses=3)
    assert kept.n_learners == 1
    assert list(kept.item_ids[kept.item]) == ["x", "y", "z"] and list(kept.correct) == [0, 1, 1]


def test_pools_hold_out_a_fifth_and_are_seeded(simulated: Responses) -> None:
    data = first_attempts(simulated, min_responses=20)
    a, b, c = make_pools(data, seed=100), make_pools(data, seed=100), make_pools(data, seed=101)
    assert np.array_equal(a.pool_item, b.pool_item) and not np.array_equal(a.pool_item, c.pool_item)
    lengths = data.lengths
    assert np.array_equal(a.held_mask.sum(1), lengths // 5)
    assert np.array_equal(a.pool_mask.sum(1) + a.held_mask.sum(1), lengths)
    for j, lo in enumerate(data.starts[:-1]):
        mine = set(data.item[lo: lo + lengths[j]])
        pool, held = set(a.pool_item[j][a.pool_mask[j]]), set(a.held_item[j][a.held_mask[j]])
        assert not pool & held and pool | held == mine
