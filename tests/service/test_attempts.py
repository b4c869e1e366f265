"""Answers graded on the server: the verdict, the misconception's feedback, hints counted by the server,
the solution only after the attempt, nothing of the key ever sent, unreadable answers not counted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
pytest.importorskip("sympy", reason="grading needs sympy")
from fastapi.testclient import TestClient
from sqlalchemy import select

from metatutor.content import course_body, generate
from metatutor.service.app import create_app
from metatutor.service.settings import Settings
from metatutor.service.tables import Response

ADMIN = {"X-API-Key": "admin-secret"}


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    c = TestClient(create_app(settings))
    assert c.post("/api/course", json=course_body(per_template=2), headers=ADMIN).status_code == 200
    assert c.post("/api/learners", json={"id": "s1", "teacher": "t1"}, headers=ADMIN).status_code == 201
    yield c
    c.app.state.engine.dispose()  # type: ignore[attr-defined]


def _item(client: TestClient, template: str) -> str:
    course = course_body(per_template=2)
    return next(i["id"] for i in course["items"] if i["id"].startswith(template + ":"))


def _attempt(client: TestClient, item: str, answer: str | list[str], event: str, **extra: object) -> dict:
    res = client.post("/api/learners/s1/attempts?next=default", json={"event_id": event, "item": item,
                                                                       "answer": answer, **extra}, headers=ADMIN)
    assert res.status_code == 200, res.text
    return res.json()


def test_a_right_answer_a_misconception_and_an_unreadable_one(client: TestClient) -> None:
    item_id = _item(client, "frac-add-unlike")
    item = generate(item_id)
    view = client.get(f"/api/learners/s1/items/{item_id}", headers=ADMIN).json()
    assert view["statement"] == item.statement and "solution" not in view and view["hints"] == []
    assert item.parts[0].answer not in json.dumps(view)  # the key never leaves the server
    unreadable = _attempt(client, item_id, "3/((", "e0")
    assert unreadable["verdict"] == "unreadable" and unreadable["stored"] == 0 and unreadable["answers"] == 0
    assert unreadable["solution"] is None
    wrong = item.misconceptions[0]
    typed = str(wrong.answer[0])  # a one-part item: the misconception's answer to that part
    miss = _attempt(client, item_id, typed, "e1", seconds=20.0)
    assert miss["verdict"] == "incorrect" and miss["misconception"]["id"] == wrong.id
    assert miss["message"] == wrong.feedback and miss["solution"] and miss["stored"] == 1
    right = _attempt(client, item_id, item.parts[0].answer, "e2", seconds=9.5)
    assert right["verdict"] == "correct" and right["next"]["item"] and right["answers"] == 2
    again = _attempt(client, item_id, item.parts[0].answer, "e2")  # a replayed event
    assert again["stored"] == 0 and again["answers"] == 2
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        rows = session.execute(select(Response.answer, Response.verdict, Response.misconception, Response.hints,
                                      Response.seconds, Response.correct).order_by(Response.id)).all()
    assert [tuple(r) for r in rows] == [(typed, "incorrect", wrong.id, 0, 20.0, False),
                                        (item.parts[0].answer, "correct", None, 0, 9.5, True)]


def test_hints_are_counted_by_the_server(client: TestClient) -> None:
    item_id = _item(client, "int-mul")
    item = generate(item_id)
    first = client.post(f"/api/learners/s1/items/{item_id}/hints", headers=ADMIN).json()
    assert first == {"hint": item.hints[0], "shown": 1, "available": len(item.hints)}
    assert client.get(f"/api/learners/s1/items/{item_id}", headers=ADMIN).json()["hints"] == [item.hints[0]]
    for _ in range(len(item.hints) - 1):
        client.post(f"/api/learners/s1/items/{item_id}/hints", headers=ADMIN)
    assert client.post(f"/api/learners/s1/items/{item_id}/hints", headers=ADMIN).status_code == 409
    out = _attempt(client, item_id, item.parts[0].answer, "h1", hints_used=0)  # the client's count is ignored
    assert out["verdict"] == "correct" and out["hints_used"] == len(item.hints)
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        row = session.execute(select(Response.correct, Response.hints)).one()
    assert tuple(row) == (False, len(item.hints))  # correct with help: not correct for the learner model
    assert client.get(f"/api/learners/s1/items/{item_id}", headers=ADMIN).json()["hints"] == []  # used up


def test_a_learner_sees_their_own_items_only_and_big_or_hostile_answers_are_bounded(client: TestClient) -> None:
    client.post("/api/learners", json={"id": "s2", "teacher": "t1"}, headers=ADMIN)
    key = client.post("/api/keys", json={"role": "learner", "subject": "s2"}, headers=ADMIN).json()["key"]
    item_id = _item(client, "expand-brackets") if any(
        i["id"].startswith("expand-brackets:") for i in course_body(per_template=1)["items"]) else _item(client, "int-add")
    me = {"X-API-Key": key}
    assert client.get(f"/api/learners/s1/items/{item_id}", headers=me).status_code == 403
    body = {"event_id": "x", "item": item_id, "answer": "1" * 1001}
    assert client.post("/api/learners/s2/attempts", json=body, headers=me).status_code == 422
    for hostile in ("9**9**9**9", "(" * 400 + "1" + ")" * 400, "10^10^10^10", "x^99999999", "1" + "+1" * 450):
        began = time.perf_counter()
        res = client.post("/api/learners/s2/attempts", json={**body, "answer": hostile, "event_id": hostile[:50]},
                          headers=me)
        assert res.status_code == 200 and res.json()["verdict"] in ("unreadable", "incorrect"), res.text
        assert time.perf_counter() - began < 5.0  # generous: the benchmark measures the 200 ms bound
    assert client.post("/api/learners/s2/attempts", json={**body, "answer": "1", "item": "no-such"},
                       headers=me).status_code == 422
