from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from metatutor.data.simulator import Simulator, SimulatorConfig
from metatutor.service.app import create_app
from metatutor.service.settings import Settings
from metatutor.service.store import builtin_course
from metatutor.service.tables import Response

ADMIN = {"X-API-Key": "admin-secret"}


def _course() -> dict:
    return builtin_course(n_skills=4, items_per_skill=5)


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    c = TestClient(create_app(settings))
    assert c.post("/api/course", json=_course(), headers=ADMIN).status_code == 200
    yield c
    c.app.state.engine.dispose()  # type: ignore[attr-defined]


def _key(client: TestClient, role: str, subject: str | None) -> dict[str, str]:
    res = client.post("/api/keys", json={"role": role, "subject": subject}, headers=ADMIN)
    assert res.status_code == 201
    return {"X-API-Key": res.json()["key"]}


def _answers(ids: list[str], item: str = "i01-001", correct: bool = True) -> dict:
    return {"responses": [{"event_id": e, "item": item, "correct": correct, "timestamp": 60.0 * n}
                          for n, e in enumerate(ids)]}


def test_keys_and_roles(client: TestClient) -> None:
    assert client.get("/api/learners/a/state").status_code == 401
    assert client.get("/api/learners/a/state", headers={"X-API-Key": "nope"}).status_code == 401
    teacher = _key(client, "teacher", "t1")
    assert client.post("/api/learners", json={"id": "a"}, headers=teacher).status_code == 201  # a in t1's class
    assert client.post("/api/learners", json={"id": "b", "teacher": "t2"}, headers=ADMIN).status_code == 201
    me = _key(client, "learner", "a")
    assert client.get("/api/learners/a/state", headers=me).status_code == 200
    assert client.get("/api/learners/b/state", headers=me).status_code == 403
    assert client.get("/api/learners/a/state", headers=teacher).status_code == 200
    assert client.get("/api/learners/b/state", headers=teacher).status_code == 403
    assert client.post("/api/course", json=_course(), headers=teacher).status_code == 403
    assert client.post("/api/keys", json={"role": "admin"}, headers=me).status_code == 403
    assert client.post("/api/learners", json={"id": "c"}, headers=me).status_code == 403
    assert client.get("/api/learners/zzz/state", headers=ADMIN).status_code == 404


def test_ingest_is_idempotent_and_updates_state(client: TestClient) -> None:
    client.post("/api/learners", json={"id": "a"}, headers=ADMIN)
    before = {s["skill"]: s["mastery"] for s in client.get("/api/learners/a/state", headers=ADMIN).json()["skills"]}
    first = client.post("/api/learners/a/responses", json=_answers(["e1", "e2", "e3"]), headers=ADMIN).json()
    assert first == {"stored": 3, "duplicates": 0, "answers": 3, "next": None, "updating": False}
    again = client.post("/api/learners/a/responses", json=_answers(["e1", "e2", "e3", "e4"]), headers=ADMIN).json()
    assert again == {"stored": 1, "duplicates": 3, "answers": 4, "next": None, "updating": False}
    after = {s["skill"]: s["mastery"] for s in client.get("/api/learners/a/state", headers=ADMIN).json()["skills"]}
    assert after["s01"] > before["s01"]
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        assert session.scalar(select(func.count()).select_from(Response)) == 4
    nxt = client.get("/api/learners/a/next", headers=ADMIN).json()
    assert nxt["item"] and nxt["skill"] in nxt["reason"] and nxt["policy"] == "default"
    report = client.get("/api/learners/a/report", headers=ADMIN).json()
    assert report["answers"] == 4 and report["next_steps"]


def test_a_first_answer_on_the_server_clock_does_not_decay_the_prior(client: TestClient) -> None:
    client.post("/api/learners", json={"id": "a"}, headers=ADMIN)
    before = {s["skill"]: s["mastery"] for s in client.get("/api/learners/a/state", headers=ADMIN).json()["skills"]}
    body = {"responses": [{"event_id": "e1", "item": "i01-001", "correct": True}]}  # no timestamp: now
    client.post("/api/learners/a/responses", json=body, headers=ADMIN)
    after = {s["skill"]: s["mastery"] for s in client.get("/api/learners/a/state", headers=ADMIN).json()["skills"]}
    assert after["s01"] > before["s01"]
    assert all(after[s] == pytest.approx(before[s], abs=0.05) for s in before if s != "s01")


def test_an_answer_can_bring_the_next_item(client: TestClient) -> None:
    client.post("/api/learners", json={"id": "a"}, headers=ADMIN)
    out = client.post("/api/learners/a/responses?next=default", json=_answers(["e1", "e2"]), headers=ADMIN).json()
    assert out["stored"] == 2 and out["next"]["item"]
    assert client.get("/api/learners/a/next", headers=ADMIN).json() == out["next"]  # the same recommendation
    assert client.post("/api/learners/a/responses?next=nope", json=_answers(["e3"]), headers=ADMIN).status_code == 422


def test_concurrent_answers_of_one_learner_are_all_counted(client: TestClient) -> None:
    client.post("/api/learners", json={"id": "a"}, headers=ADMIN)

    def post(n: int) -> int:
        body = {"responses": [{"event_id": f"e{n}", "item": "i01-001", "correct": n % 2 == 0, "timestamp": n}]}
        return client.post("/api/learners/a/responses", json=body, headers=ADMIN).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(post, range(24)))
    assert codes == [200] * 24
    state = client.get("/api/learners/a/state", headers=ADMIN).json()
    assert state["answers"] == 24  # no update was lost to a concurrent one


def test_state_survives_a_restart(client: TestClient, settings: Settings) -> None:
    client.post("/api/learners", json={"id": "a"}, headers=ADMIN)
    client.post("/api/learners/a/responses", json=_answers(["e1", "e2"]), headers=ADMIN)
    state = client.get("/api/learners/a/state", headers=ADMIN).json()
    client.app.state.engine.dispose()  # type: ignore[attr-defined]
    fresh = TestClient(create_app(settings))
    assert fresh.get("/api/learners/a/state", headers=ADMIN).json() == state
    fresh.app.state.engine.dispose()  # type: ignore[attr-defined]


def test_bad_input_is_a_4xx_with_a_reason(client: TestClient) -> None:
    client.post("/api/learners", json={"id": "a"}, headers=ADMIN)
    res = client.post("/api/learners/a/responses", json=_answers(["e1"], item="no-such-item"), headers=ADMIN)
    assert res.status_code == 422 and "no-such-item" in res.json()["detail"]
    assert client.post("/api/learners/a/responses", json={"responses": []}, headers=ADMIN).status_code == 422
    assert client.post("/api/learners", json={"id": "bad id!"}, headers=ADMIN).status_code == 422
    bad_course = {**_course(), "prerequisites": [["s01", "s02"], ["s02", "s01"]]}
    res = client.post("/api/course", json=bad_course, headers=ADMIN)
    assert res.status_code == 422 and "cycle" in res.json()["detail"]
    assert client.get("/api/learners/a/next?policy=best", headers=ADMIN).status_code == 422


def test_delete_learner_removes_every_trace(client: TestClient) -> None:
    client.post("/api/learners", json={"id": "a"}, headers=ADMIN)
    me = _key(client, "learner", "a")
    client.post("/api/learners/a/responses", json=_answers(["e1", "e2"]), headers=me)
    assert client.delete("/api/learners/a", headers=me).status_code == 403
    assert client.delete("/api/learners/a", headers=ADMIN).status_code == 204
    assert client.get("/api/learners/a/state", headers=ADMIN).status_code == 404
    assert client.get("/api/learners/a/state", headers=me).status_code == 401  # the learner's key is gone
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        assert session.scalar(select(func.count()).select_from(Response)) == 0


def test_class_report_for_the_teacher_only(client: TestClient) -> None:
    teacher = _key(client, "teacher", "t1")
    for name in ("a", "b"):
        client.post("/api/learners", json={"id": name}, headers=teacher)
    client.post("/api/learners/a/responses", json=_answers(["e1", "e2"], correct=False), headers=teacher)
    report = client.get("/api/classes/t1/report", headers=teacher).json()
    assert {h["learner"] for h in report["heatmap"]} == {"a", "b"} and report["skill_means"]
    assert client.get("/api/classes/t2/report", headers=teacher).status_code == 403
    assert client.get("/api/classes/t1/report", headers=_key(client, "learner", "a")).status_code == 403


def test_xapi_answered_statements_are_ingested_once(client: TestClient) -> None:
    client.post("/api/learners", json={"id": "a"}, headers=ADMIN)

    def statement(sid: str, success: bool) -> dict:
        return {"id": sid, "actor": {"account": {"name": "a", "homePage": "https://school.example"}},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
                "object": {"id": "https://course.example/items/i01-002"}, "result": {"success": success},
                "timestamp": "2026-11-23T10:00:00Z"}

    body = [statement("x1", True), statement("x2", False)]
    assert client.post("/api/xapi/statements", json=body, headers=ADMIN).json()["a"]["stored"] == 2
    assert client.post("/api/xapi/statements", json=body, headers=ADMIN).json()["a"] == \
        {"stored": 0, "duplicates": 2, "answers": 2, "updating": False}
    other = [{**statement("x3", True), "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"}}]
    assert client.post("/api/xapi/statements", json=other, headers=ADMIN).status_code == 422


def test_adaptive_assessment_is_resumable_and_feeds_the_learner_model(client: TestClient) -> None:
    client.post("/api/learners", json={"id": "a"}, headers=ADMIN)
    me = _key(client, "learner", "a")
    assert client.post("/api/learners/a/assessments", json={}, headers=me).status_code == 409  # no bank yet
    items = [{"id": i["id"], "b": (n % 7 - 3) / 2} for n, i in enumerate(_course()["items"])]
    assert client.post("/api/assessments/bank", json={"kind": "1pl", "items": items}, headers=me).status_code == 403
    assert client.post("/api/assessments/bank", json={"kind": "1pl", "items": items}, headers=ADMIN).json()["items"] == 20
    started = client.post("/api/learners/a/assessments", json={"max_items": 4}, headers=me)
    assert started.status_code == 201
    test = started.json()
    asked = []
    while test["item"] is not None:
        asked.append(test["item"])
        again = client.get(f"/api/assessments/{test['id']}", headers=me).json()
        assert again["item"] == test["item"]  # resumable: the same pending item
        test = client.post(f"/api/assessments/{test['id']}/answers", json={"item": test["item"], "correct": True},
                           headers=me).json()
    assert len(asked) == len(set(asked)) == 4 and test["finished"] and test["theta"] > 0
    assert client.post(f"/api/assessments/{test['id']}/answers", json={"item": asked[0], "correct": True},
                       headers=me).status_code == 409
    assert client.get("/api/learners/a/state", headers=me).json()["answers"] >= 4  # answers reached the tracker
    wrong = client.post("/api/learners/a/assessments", json={}, headers=me).json()
    bad = client.post(f"/api/assessments/{wrong['id']}/answers", json={"item": "not-asked", "correct": True},
                      headers=me)
    assert bad.status_code == 422 and "not asked" in bad.json()["detail"]
    client.post("/api/learners", json={"id": "b"}, headers=ADMIN)
    other = _key(client, "learner", "b")
    assert client.get(f"/api/assessments/{wrong['id']}", headers=other).status_code == 403


def test_bank_calibrated_from_stored_responses(client: TestClient) -> None:
    data = Simulator(SimulatorConfig(n_skills=4, items_per_skill=5), random_state=0).simulate(30, 20).to_frame()
    for learner, rows in data.groupby("learner"):
        client.post("/api/learners", json={"id": learner}, headers=ADMIN)
        body = {"responses": [{"event_id": str(n), "item": r.item, "correct": bool(r.correct),
                               "timestamp": float(r.timestamp)} for n, r in enumerate(rows.itertuples())]}
        assert client.post(f"/api/learners/{learner}/responses", json=body, headers=ADMIN).status_code == 200
    res = client.post("/api/assessments/bank", json={"kind": "1pl"}, headers=ADMIN)
    assert res.status_code == 200 and res.json()["items"] == data["item"].nunique()


def _wait_for(client: TestClient, job: int) -> dict:
    for _ in range(200):
        state = client.get(f"/api/jobs/{job}", headers=ADMIN).json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job} did not finish: {state}")


def test_retraining_is_a_job_and_versions_switch_without_losing_learners(client: TestClient) -> None:
    sim = Simulator(SimulatorConfig(n_skills=4, items_per_skill=5), random_state=0)
    logs = sim.simulate(30, (10, 30)).to_frame()
    for name, rows in logs.groupby("learner", sort=False):
        client.post("/api/learners", json={"id": name}, headers=ADMIN)
        body = {"responses": [{"event_id": str(r.order), "item": r.item, "correct": bool(r.correct),
                               "timestamp": float(r.timestamp)} for r in rows.itertuples()]}
        assert client.post(f"/api/learners/{name}/responses", json=body, headers=ADMIN).status_code == 200
    first = logs["learner"].iloc[0]
    before = client.get(f"/api/learners/{first}/state", headers=ADMIN).json()
    old = [m for m in client.get("/api/models", headers=ADMIN).json() if m["kind"] == "tracker" and m["active"]]
    res = client.post("/api/models/train", json={"activate": True, "model": "tracker"}, headers=ADMIN)
    assert res.status_code == 202
    job = _wait_for(client, res.json()["job"])
    assert job["status"] == "done" and job["progress"] == 1.0, job
    versions = {m["id"]: m for m in client.get("/api/models", headers=ADMIN).json()}
    new = versions[job["model_version"]]
    assert new["active"] and not versions[old[0]["id"]]["active"]
    assert new["info"]["responses"] == len(logs) and new["info"]["learners"] == 30
    after = client.get(f"/api/learners/{first}/state", headers=ADMIN).json()
    assert after["answers"] == before["answers"]  # the learner's answers carried over to the new model
    assert after["skills"] != before["skills"]  # ... and are read through the retrained parameters
    answer = {"responses": [{"event_id": "late", "item": "i01-001", "correct": True, "timestamp": 1e9}]}
    out = client.post(f"/api/learners/{first}/responses", json=answer, headers=ADMIN).json()
    assert out["answers"] == before["answers"] + 1
    back = client.post(f"/api/models/{old[0]['id']}/activate", headers=ADMIN)  # and back again
    assert back.status_code == 200 and back.json()["active"]
    assert client.get(f"/api/learners/{first}/state", headers=ADMIN).json()["answers"] == before["answers"] + 1
    assert client.post("/api/models/9999/activate", headers=ADMIN).status_code == 404
    assert client.get("/api/jobs/9999", headers=ADMIN).status_code == 404


def test_course_from_csv_files(client: TestClient) -> None:
    items = "item,skills\nq1,fractions\nq2,fractions~~decimals\nq3,decimals\n"
    pre = "prerequisite,skill\nfractions,decimals\n"
    res = client.post("/api/course/csv", files={"items": ("items.csv", items), "prerequisites": ("pre.csv", pre)},
                      headers=ADMIN)
    assert res.status_code == 200, res.text
    assert res.json() | {"model_version": 0} == {"skills": 2, "prerequisites": 1, "items": 3, "model_version": 0}
    client.post("/api/learners", json={"id": "a"}, headers=ADMIN)
    state = client.get("/api/learners/a/state", headers=ADMIN).json()
    assert {s["skill"]: s["blocked_by"] for s in state["skills"]} == {"fractions": [], "decimals": ["fractions"]}
    bad = client.post("/api/course/csv", files={"items": ("items.csv", "item,skills\nq1,\n,s\n")}, headers=ADMIN)
    assert bad.status_code == 422 and "line(s) 2, 3" in bad.json()["detail"]
    cycle = client.post("/api/course/csv", files={"items": ("i.csv", items), "prerequisites": (
        "p.csv", pre + "decimals,fractions\n")}, headers=ADMIN)
    assert cycle.status_code == 422 and "cycle" in cycle.json()["detail"]


def test_course_learned_from_logs(client: TestClient) -> None:
    logs = Simulator(SimulatorConfig(n_skills=3, items_per_skill=4), random_state=1).simulate(40, (10, 30)).to_frame()
    csv = logs.rename(columns={"learner": "user_id", "item": "problem_id", "skill": "skill_id"}).to_csv(index=False)
    res = client.post("/api/course/logs", files={"logs": ("logs.csv", csv)}, headers=ADMIN)
    assert res.status_code == 200, res.text
    assert res.json()["skills"] == 3 and res.json()["items"] == logs["item"].nunique()
    bad = client.post("/api/course/logs", files={"logs": ("logs.csv", "user_id,problem_id,correct\nu,p,7\n")},
                      headers=ADMIN)
    assert bad.status_code == 422 and "correct" in bad.json()["detail"]


def test_oneroster_import_keeps_pseudonymous_ids_only(client: TestClient) -> None:
    users = ("sourcedId,status,role,givenName,familyName,email\n"
             "t-9,active,teacher,Ada,L,ada@example.org\nst-1,active,student,Bo,K,bo@example.org\n"
             "st-2,active,student,Cy,M,\nst-3,tobedeleted,student,Di,N,\n")
    enrollments = ("sourcedId,classSourcedId,userSourcedId,role\n"
                   "e1,c1,t-9,teacher\ne2,c1,st-1,student\ne3,c1,st-2,student\n")
    res = client.post("/api/roster/oneroster", files={"users": ("users.csv", users),
                                                        "enrollments": ("enrollments.csv", enrollments)},
                      headers=ADMIN)
    assert res.status_code == 200, res.text
    assert res.json()["learners_created"] == 2 and res.json()["teachers"] == ["t-9"]
    teacher = _key(client, "teacher", "t-9")
    report = client.get("/api/classes/t-9/report", headers=teacher).json()
    assert {h["learner"] for h in report["heatmap"]} == {"st-1", "st-2"}
    assert "Ada" not in str(report) and "bo@example.org" not in str(report)
    again = client.post("/api/roster/oneroster", files={"users": ("users.csv", users),
                                                          "enrollments": ("enrollments.csv", enrollments)},
                        headers=ADMIN)
    assert again.json()["learners_created"] == 0  # importing twice changes nothing
    bad = client.post("/api/roster/oneroster", files={"users": ("users.csv", users), "enrollments": (
        "e.csv", enrollments + "e4,c1,ghost,student\n")}, headers=ADMIN)
    assert bad.status_code == 422 and "ghost" in bad.json()["detail"]


def test_resources_metadata_predictions_and_paths(client: TestClient) -> None:
    items = "item,skills,text\nq1,fractions,What is 1/2 + 1/4?\nq2,decimals,Write 0.5 as a fraction.\n"
    resources = "skill,kind,title,url\nfractions,video,Adding fractions,https://example.org/v1\n"
    res = client.post("/api/course/csv", files={"items": ("i.csv", items), "resources": ("r.csv", resources),
                                                "prerequisites": ("p.csv", "prerequisite,skill\nfractions,decimals\n")},
                      headers=ADMIN)
    assert res.status_code == 200, res.text
    client.post("/api/learners", json={"id": "a"}, headers=ADMIN)
    wrong = {"responses": [{"event_id": f"e{n}", "item": "q1", "correct": False, "timestamp": 60.0 * n}
                           for n in range(4)]}
    client.post("/api/learners/a/responses", json=wrong, headers=ADMIN)
    report = client.get("/api/learners/a/report", headers=ADMIN).json()
    assert "fractions" in report["weak_skills"]
    assert report["resources"] == [{"skill": "fractions", "kind": "video", "title": "Adding fractions",
                                    "url": "https://example.org/v1"}]
    p = client.get("/api/learners/a/predict?items=q1&items=q2", headers=ADMIN).json()
    assert set(p) == {"q1", "q2"} and all(0 < v < 1 for v in p.values())
    assert client.get("/api/learners/a/predict?items=zz", headers=ADMIN).status_code == 422
    path = client.get("/api/learners/a/path?goals=decimals", headers=ADMIN).json()
    assert [s["skill"] for s in path] == ["fractions", "decimals"]  # the prerequisite first
    assert client.get("/api/learners/a/path?goals=nope", headers=ADMIN).status_code == 422
    bad = client.post("/api/course/csv", files={"items": ("i.csv", items), "resources": (
        "r.csv", "skill,kind,title\nfractions,podcast,x\n")}, headers=ADMIN)
    assert bad.status_code == 422 and "kind" in bad.json()["detail"]
