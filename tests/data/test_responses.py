from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metatutor.data.responses import Responses
from metatutor.errors import InvalidResponsesError


def frame(**cols: list) -> pd.DataFrame:
    return pd.DataFrame(cols)


def test_rows_grouped_by_learner_in_order() -> None:
    r = Responses.from_frame(frame(learner=["b", "a", "b", "a"], item=["x", "y", "z", "x"],
                                   correct=[1, 0, 0, 1], order=[2, 1, 1, 2]))
    out = r.to_frame()
    assert list(out["learner"]) == ["b", "b", "a", "a"]
    assert list(out["item"]) == ["z", "x", "y", "x"]  # sorted by order within learner
    assert list(r.order) == [0, 1, 0, 1]
    assert r.n_learners == 2 and list(r.lengths) == [2, 2]


def test_multiskill_expansion_becomes_one_response() -> None:
    # problem p has skills 7 and 9: expanded on consecutive rows, answered twice in a row
    r = Responses.from_frame(frame(learner=["a"] * 5, item=["p", "p", "p", "p", "q"],
                                   skill=["7", "9", "7", "9", "7"], correct=[1, 1, 1, 1, 0]))
    assert len(r) == 3
    assert r.skills_of(0) == ["7", "9"] and r.skills_of(1) == ["7", "9"] and r.skills_of(2) == ["7"]
    assert r.merged_rows == 2


def test_same_item_other_answer_is_not_merged() -> None:
    r = Responses.from_frame(frame(learner=["a"] * 2, item=["p", "p"], skill=["7", "9"], correct=[1, 0]))
    assert len(r) == 2


def test_joined_skills_and_lists() -> None:
    r = Responses.from_frame(frame(learner=["a", "a"], item=["p", "q"], skill=["s1~~s2", "s3"], correct=[1, 0]))
    assert r.skills_of(0) == ["s1", "s2"]
    r2 = Responses.from_frame(pd.DataFrame({"learner": ["a"], "item": ["p"], "skill": [["u", "v"]], "correct": [1]}))
    assert r2.skills_of(0) == ["u", "v"]


def test_bad_correct_lists_rows() -> None:
    with pytest.raises(InvalidResponsesError) as info:
        Responses.from_frame(frame(learner=["a"] * 4, item=list("wxyz"), correct=[1, 2, 0, "yes"]))
    text = str(info.value)
    assert "'correct' must be 0 or 1" in text and "rows 3, 5" in text


def test_missing_columns_named() -> None:
    with pytest.raises(InvalidResponsesError, match=r"missing column.*correct"):
        Responses.from_frame(frame(learner=["a"], item=["x"]))


def test_empty_table() -> None:
    with pytest.raises(InvalidResponsesError, match="empty"):
        Responses.from_frame(pd.DataFrame({"learner": [], "item": [], "correct": []}))


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(InvalidResponsesError) as info:
        Responses.from_frame(frame(learner=["a", None], item=["x", "y"], correct=[1, 5]))
    assert len(info.value.problems) == 2


def test_immutable_and_subsets_share_vocabulary(simulated: Responses) -> None:
    with pytest.raises(ValueError):
        simulated.correct[0] = 1
    ids = simulated.learners_present()[:3]
    sub = simulated.select_learners(ids)
    assert sub.n_learners == 3 and sub.item_ids is simulated.item_ids
    assert list(sub.learners_present()) == list(ids)
    both = Responses.concat([sub, simulated.select_learners(simulated.learners_present()[3:5])])
    assert both.n_learners == 5 and len(both) == len(sub) + len(simulated.select_learners(ids[:0].tolist() or
                                                                                        simulated.learners_present()[3:5]))


def test_first_k(simulated: Responses) -> None:
    head = simulated.first_k(3)
    assert np.all(head.lengths == np.minimum(simulated.lengths, 3))


def test_timestamps_parsed_from_dates() -> None:
    r = Responses.from_frame(frame(learner=["a", "a"], item=["x", "y"], correct=[1, 0],
                                   timestamp=["2020-01-01 10:00:00", "2020-01-01 10:00:30"]))
    assert r.timestamp is not None and r.timestamp[1] - r.timestamp[0] == pytest.approx(30.0)
