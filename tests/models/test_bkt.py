from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metatutor.data.responses import Responses
from metatutor.models.bkt import BKT, bkt_forward, pack


def test_forward_matches_hand_computation() -> None:
    # one skill, answers 1 then 0; prior .3, learn .2, guess .25, slip .1
    p = pack(np.array([0, 0]), np.array([0, 0]), np.array([1, 0]))
    one = lambda v: np.array([v])  # noqa: E731
    pred, filt = bkt_forward(p, one(0.3), one(0.2), one(0.0), one(0.25), one(0.1))
    post1 = 0.3 * 0.9 / (0.3 * 0.9 + 0.7 * 0.25)
    k2 = post1 + (1 - post1) * 0.2
    assert pred[0] == pytest.approx(0.3) and filt[0] == pytest.approx(post1)
    assert pred[1] == pytest.approx(k2)
    assert filt[1] == pytest.approx(k2 * 0.1 / (k2 * 0.1 + (1 - k2) * 0.75))


def test_pack_keeps_each_sequence_in_time_order() -> None:
    learner = np.array([0, 0, 0, 1, 1])
    skill = np.array([0, 1, 0, 0, 0])
    y = np.array([1, 0, 0, 1, 1])
    p = pack(learner, skill, y)
    assert list(p.batch) == [3, 2] and sorted(p.perm) == list(range(5))
    # step 0 holds each sequence's first link, step 1 the second ones
    assert set(p.perm[:3]) == {0, 1, 3} and set(p.perm[3:]) == {2, 4}


def test_em_recovers_parameters_of_synthetic_bkt() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for learner in range(600):
        known = rng.random() < 0.2
        for _ in range(15):
            p = 0.9 if known else 0.2
            rows.append((learner, "q", "s", int(rng.random() < p)))
            known = known or rng.random() < 0.15
    data = Responses.from_frame(pd.DataFrame(rows, columns=["learner", "item", "skill", "correct"]),
                                merge_multiskill=False)
    params = BKT().fit(data).params_
    assert params["guess"][0] == pytest.approx(0.2, abs=0.05)
    assert params["slip"][0] == pytest.approx(0.1, abs=0.05)
    assert params["learn"][0] == pytest.approx(0.15, abs=0.05)
    assert params["prior"][0] == pytest.approx(0.2, abs=0.07)
