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


def test_shuffled_orders_keep_each_learners_answers(simulated: Responses) -> None:
    from metatutor.assessment.pools import shuffled_orders

    data = first_attempts(simulated, min_responses=20)
    out = shuffled_orders(data, copies=2, seed=3)
    assert out.n_learners == 2 * data.n_learners and len(out) == 2 * len(data)
    first = data.learners_present()[0]
    mine = data.select_learners([first]).to_frame()
    orders = []
    for c in (0, 1):
        copy = out.select_learners([f"{first}#{c}"]).to_frame()
        assert sorted(zip(copy.item, copy.correct, copy.skill, strict=True)) == \
            sorted(zip(mine.item, mine.correct, mine.skill, strict=True))
        orders.append(list(copy.item))
    assert orders[0] != orders[1] and orders[0] != list(mine.item)  # two random orders, not the platform's
    again = shuffled_orders(data, copies=2, seed=3)
    assert list(again.item_ids[again.item]) == list(out.item_ids[out.item])
