"""A learner's data exported for them (JSON and xAPI), and retention (answers older than N days purged)."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from metatutor.data.export import ANSWERED, AnswerRecord, answers_of, learner_export, statement_id, xapi_statements
from metatutor.data.responses import Responses
from metatutor.data.retention import DAY, cutoff_of, purge_older_than
from metatutor.errors import ConfigError


@pytest.fixture()
def logs() -> Responses:
    return Responses.from_frame(pd.DataFrame({
        "learner": ["a", "a", "a", "b"], "item": ["q1", "q/2", "q1", "q1"], "skill": ["s1", "s1~~s2", "s1", "s1"],
        "correct": [1, 0, 1, 0], "timestamp": [0.0, 2 * DAY, 9 * DAY, 1.0]}))


def test_the_json_export_holds_every_answer_in_order(logs: Responses) -> None:
    doc = learner_export("a", answers_of(logs, "a"), derived={"mastery": {"s1": 0.7}}, now=10 * DAY)
    assert doc["format"] == "metatutor.learner-export/1" and doc["learner"] == "a"
    assert [(r["item"], r["correct"], r["skills"]) for r in doc["answers"]] == [
        ("q1", True, ["s1"]), ("q/2", False, ["s1", "s2"]), ("q1", True, ["s1"])]
    assert doc["answers"][1]["time"] == "1970-01-03T00:00:00Z" and doc["exported"] == "1970-01-11T00:00:00Z"
    assert doc["summary"] == {"answers": 3, "right": 2, "items": 2, "skills": ["s1", "s2"],
                              "first": "1970-01-01T00:00:00Z", "last": "1970-01-10T00:00:00Z"}
    assert doc["derived"] == {"mastery": {"s1": 0.7}}
    with pytest.raises(ConfigError, match="no learner 'zz'"):
        answers_of(logs, "zz")


def test_xapi_statements_are_answered_statements_with_stable_ids(logs: Responses) -> None:
    answers = answers_of(logs, "a")
    statements = xapi_statements("a", answers, homepage="https://school.example/")
    assert len(statements) == 3
    s = statements[1]
    assert s["verb"]["id"] == ANSWERED and s["actor"]["account"] == {"homePage": "https://school.example", "name": "a"}
    assert s["object"]["id"] == "https://school.example/items/q%2F2" and s["result"] == {"success": False}
    assert s["timestamp"] == "1970-01-03T00:00:00Z"
    assert s["context"]["extensions"]["https://school.example/xapi/skills"] == ["s1", "s2"]
    ids = [x["id"] for x in statements]
    assert len(set(ids)) == 3 and all(uuid.UUID(i) for i in ids)
    assert ids == [x["id"] for x in xapi_statements("a", answers, homepage="https://school.example/")]
    given = str(uuid.uuid4())  # an answer that came with a UUID event id keeps it (a re-import is recognised)
    assert statement_id("a", 0, AnswerRecord(item="q", correct=True, event_id=given)) == given
    assert "timestamp" not in xapi_statements("a", [AnswerRecord(item="q", correct=True)])[0]


def test_retention_purges_old_answers_and_names_the_states_to_rebuild(logs: Responses) -> None:
    kept, purge = purge_older_than(logs, 5, now=10 * DAY)
    assert purge.cutoff == pytest.approx(5 * DAY)
    assert purge.removed_answers == 3 and purge.kept_answers == 1 == len(kept)
    assert purge.rebuild == ["a"] and purge.removed_learners == ["b"]
    frame = kept.to_frame()
    assert frame["learner"].tolist() == ["a"] and frame["order"].tolist() == [0]  # positions recounted
    assert np.all(kept.timestamp >= purge.cutoff)
    with pytest.raises(ConfigError, match="positive"):
        cutoff_of(0)
    undated = Responses.from_frame(pd.DataFrame({"learner": ["a"], "item": ["q"], "correct": [1]}))
    with pytest.raises(ConfigError, match="no times"):
        purge_older_than(undated, 5)
