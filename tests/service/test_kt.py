"""Knowledge-tracing models behind the service: upload or train one, and each learner's online state
under it, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from metatutor.data.responses import Responses
from metatutor.data.simulator import Simulator, SimulatorConfig
from metatutor.models import BKT, LearnerModel, make_model
from metatutor.models.serving import ServedModel
from metatutor.service.app import create_app
from metatutor.service.store import builtin_course
from metatutor.service.tables import KTState

ADMIN = {"X-API-Key": "admin-secret"}
COURSE = {"n_skills": 4, "items_per_skill": 5}


@pytest.fixture(scope="module")
def logs() -> Responses:
    """Learners of the course's own simulator (the course's item and skill names)."""
    return Simulator(SimulatorConfig(**COURSE), random_state=0).simulate(40, (10, 30))


@pytest.fixture(scope="module")
def models(logs: Responses) -> dict[str, LearnerModel]:
    learners = logs.learners_present()
    train, valid = logs.select_learners(learners[:30]), logs.select_learners(learners[30:])
    return {"dkt": make_model("dkt", max_epochs=2, hidden=16).fit(train, valid),
            "irt": make_model("irt").fit(train)}


@pytest.fixture()
def client(settings: Any) -> Iterator[TestClient]:
    c = TestClient(create_app(settings))
    assert c.post("/api/course", json=builtin_course(**COURSE), headers=ADMIN).status_code == 200
    c.post("/api/learners", json={"id": "a"}, headers=ADMIN)
    yield c
    c.app.state.engine.dispose()  # type: ignore[attr-defined]


def _upload(client: TestClient, model: LearnerModel, folder: Path, **form: str) -> Any:
    model.save(folder)
    files = {"model": ("model.json", (folder / "model.json").read_bytes()),
             "arrays": ("arrays.safetensors", (folder / "arrays.safetensors").read_bytes())}
    return client.post("/api/models/kt", files=files, data=form, headers=ADMIN)


def _answers(rows: list[tuple[str, bool]], first: int = 0) -> dict[str, Any]:
    return {"responses": [{"event_id": f"e{first + n}", "item": item, "correct": ok, "timestamp": 60.0 * (first + n)}
                          for n, (item, ok) in enumerate(rows)]}


def _served_skills() -> dict[str, list[str]]:
    return {i["id"]: i["skills"] for i in builtin_course(**COURSE)["items"]}


ITEMS = ["i01-001", "i02-003", "i03-002", "i04-005"]
HISTORY = [("i01-001", True), ("i01-002", False), ("i02-001", True), ("i01-003", True), ("i03-004", False),
           ("i02-002", True), ("i04-001", False)]


def test_an_uploaded_model_serves_each_learner_as_the_library_does(client: TestClient, models: dict[str, LearnerModel],
                                                                   tmp_path: Path) -> None:
    res = _upload(client, models["dkt"], tmp_path / "dkt")
    assert res.status_code == 201, res.text
    assert res.json()["kind"] == "kt" and res.json()["active"]
    assert res.json()["info"]["course_items"] == 20 and res.json()["info"]["course_items_known"] > 0
    served, skills = ServedModel(models["dkt"]), _served_skills()
    state = served.new_state()
    for lo, hi in ((0, 3), (3, 4), (4, 7)):  # answers in three requests, each followed by a read
        client.post("/api/learners/a/responses", json=_answers(HISTORY[lo:hi], lo), headers=ADMIN)
        for item, ok in HISTORY[lo:hi]:
            served.step(state, item, skills[item], ok)
        got = client.get("/api/learners/a/predict", params={"items": ITEMS, "by": "kt"}, headers=ADMIN)
        assert got.status_code == 200, got.text
        np.testing.assert_allclose([got.json()[i] for i in ITEMS], served.predict(state, ITEMS), atol=1e-4)
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        row = session.get(KTState, "a")
        assert row is not None and row.answers == len(HISTORY)
    view = client.get("/api/learners/a/kt", headers=ADMIN).json()
    assert view["answers"] == len(HISTORY) and view["model"] == "dkt"
    first = view["skills"][0]
    course_items = [i for i, sk in skills.items() if first["skill"] in sk]
    assert first["items"] == len(course_items)
    assert first["p_correct"] == pytest.approx(served.predict(state, course_items).mean(), abs=1e-4)
    every = client.get("/api/learners/a/predict", params={"by": "kt"}, headers=ADMIN).json()
    assert len(every) == 20 and all(every[i] == got.json()[i] for i in ITEMS)  # no items: the whole course
    tracker = client.get("/api/learners/a/predict", params={"items": ITEMS}, headers=ADMIN).json()
    assert tracker != got.json()  # the skill tracker still answers without `by=kt`


def test_a_new_kt_model_rebuilds_learner_states_from_their_stored_answers(client: TestClient, tmp_path: Path,
                                                                           models: dict[str, LearnerModel]) -> None:
    first = _upload(client, models["dkt"], tmp_path / "dkt").json()["id"]
    client.post("/api/learners/a/responses", json=_answers(HISTORY), headers=ADMIN)
    by_dkt = client.get("/api/learners/a/predict", params={"items": ITEMS, "by": "kt"}, headers=ADMIN).json()
    assert _upload(client, models["irt"], tmp_path / "irt").status_code == 201
    by_irt = client.get("/api/learners/a/predict", params={"items": ITEMS, "by": "kt"}, headers=ADMIN).json()
    served, skills = ServedModel(models["irt"]), _served_skills()
    state = served.new_state()
    for item, ok in HISTORY:
        served.step(state, item, skills[item], ok)
    np.testing.assert_allclose([by_irt[i] for i in ITEMS], served.predict(state, ITEMS), atol=1e-4)
    assert client.post(f"/api/models/{first}/activate", headers=ADMIN).status_code == 200
    assert client.get("/api/learners/a/predict", params={"items": ITEMS, "by": "kt"}, headers=ADMIN).json() == by_dkt
    kinds = [m["kind"] for m in client.get("/api/models", headers=ADMIN).json()]
    assert kinds.count("kt") == 2 and kinds.count("tracker") == 1


def test_concurrent_reads_of_one_learner_agree(client: TestClient, models: dict[str, LearnerModel],
                                               tmp_path: Path) -> None:
    _upload(client, models["dkt"], tmp_path / "dkt")
    client.post("/api/learners/a/responses", json=_answers(HISTORY), headers=ADMIN)

    def read(_: int) -> dict[str, float]:
        res = client.get("/api/learners/a/predict", params={"items": ITEMS, "by": "kt"}, headers=ADMIN)
        assert res.status_code == 200, res.text
        return dict(res.json())

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(read, range(8)))
    assert all(a == answers[0] for a in answers)
    assert client.get("/api/learners/a/kt", headers=ADMIN).json()["answers"] == len(HISTORY)


def test_a_kt_model_trains_in_the_background_on_the_stored_answers(client: TestClient, logs: Responses) -> None:
    frame = logs.to_frame()
    for name, rows in frame.groupby("learner", sort=False):
        client.post("/api/learners", json={"id": name}, headers=ADMIN)
        body = {"responses": [{"event_id": str(n), "item": r.item, "correct": bool(r.correct),
                               "timestamp": float(r.timestamp)} for n, r in enumerate(rows.itertuples())]}
        assert client.post(f"/api/learners/{name}/responses", json=body, headers=ADMIN).status_code == 200
    res = client.post("/api/models/train", json={"kind": "kt", "model": "dkt", "max_epochs": 2}, headers=ADMIN)
    assert res.status_code == 202, res.text
    for _ in range(600):
        job = client.get(f"/api/jobs/{res.json()['job']}", headers=ADMIN).json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == "done", job
    version = {m["id"]: m for m in client.get("/api/models", headers=ADMIN).json()}[job["model_version"]]
    assert version["kind"] == "kt" and version["active"] and version["info"]["model"] == "dkt"
    assert version["info"]["train_learners"] + version["info"]["valid_learners"] == logs.n_learners
    assert 0.0 < version["info"]["valid_auc"] < 1.0
    learner = str(frame["learner"].iloc[0])
    view = client.get(f"/api/learners/{learner}/kt", headers=ADMIN).json()
    assert view["answers"] == int((frame["learner"] == learner).sum())


def test_kt_errors_are_clear(client: TestClient, models: dict[str, LearnerModel], logs: Responses,
                             tmp_path: Path) -> None:
    no_model = client.get("/api/learners/a/predict", params={"items": ITEMS, "by": "kt"}, headers=ADMIN)
    assert no_model.status_code == 422 and "no knowledge-tracing model" in no_model.json()["detail"]
    res = client.post("/api/models/train", json={"kind": "kt"}, headers=ADMIN)
    assert res.status_code == 422 and "no responses" in res.json()["detail"]
    assert client.post("/api/models/train", json={"kind": "kt", "model": "bkt"}, headers=ADMIN).status_code == 422
    bkt = _upload(client, BKT().fit(logs), tmp_path / "bkt")
    assert bkt.status_code == 422 and "no online state" in bkt.json()["detail"]
    junk = client.post("/api/models/kt", files={"model": ("model.json", b"{"), "arrays": ("a", b"x")}, headers=ADMIN)
    assert junk.status_code == 422 and "model.json" in junk.json()["detail"]
    other = Simulator(SimulatorConfig(n_skills=2, items_per_skill=3), random_state=1).simulate(10, (5, 10))
    renamed = dataclasses.replace(other, item_ids=np.array([f"x{i}" for i in range(other.n_items)], dtype=object))
    foreign = _upload(client, make_model("irt").fit(renamed), tmp_path / "foreign")
    assert foreign.status_code == 422 and "another course" in foreign.json()["detail"]
    _upload(client, models["irt"], tmp_path / "irt")
    unknown = client.get("/api/learners/a/predict", params={"items": ["nope"], "by": "kt"}, headers=ADMIN)
    assert unknown.status_code == 422 and "nope" in unknown.json()["detail"]


def test_deleting_a_learner_deletes_their_kt_state(client: TestClient, models: dict[str, LearnerModel],
                                                   tmp_path: Path) -> None:
    _upload(client, models["irt"], tmp_path / "irt")
    client.post("/api/learners/a/responses", json=_answers(HISTORY), headers=ADMIN)
    client.get("/api/learners/a/kt", headers=ADMIN)
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(KTState)) == 1
    assert client.delete("/api/learners/a", headers=ADMIN).status_code == 204
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(KTState)) == 0


def test_one_kt_fit_at_a_time_and_a_stopping_server_ends_it(client: TestClient, logs: Responses) -> None:
    from metatutor.service import jobs

    frame = logs.to_frame()
    for name, rows in frame.groupby("learner", sort=False):
        client.post("/api/learners", json={"id": name}, headers=ADMIN)
        body = {"responses": [{"event_id": str(n), "item": r.item, "correct": bool(r.correct)}
                              for n, r in enumerate(rows.itertuples())]}
        client.post(f"/api/learners/{name}/responses", json=body, headers=ADMIN)
    slow = {"kind": "kt", "model": "dkt", "max_epochs": 200, "valid": 0.0}  # no early stopping: 200 epochs
    first = client.post("/api/models/train", json=slow, headers=ADMIN)
    assert first.status_code == 202
    again = client.post("/api/models/train", json=slow, headers=ADMIN)
    assert again.status_code == 409 and f"job {first.json()['job']}" in again.json()["detail"]
    for _ in range(200):  # this instance claims the job (any instance may)
        if client.get(f"/api/jobs/{first.json()['job']}", headers=ADMIN).json()["status"] == "running":
            break
        time.sleep(0.05)
    began = time.perf_counter()
    jobs.stop_all()  # as at the process's exit
    assert time.perf_counter() - began < 20
    job = client.get(f"/api/jobs/{first.json()['job']}", headers=ADMIN).json()
    assert job["status"] == "failed" and "interrupted" in job["message"]
    assert client.post("/api/models/train", json={**slow, "max_epochs": 1}, headers=ADMIN).status_code == 202


def test_course_items_the_model_never_saw_are_predicted_from_their_skills(client: TestClient, logs: Responses,
                                                                          tmp_path: Path) -> None:
    unseen = ["i01-005", "i03-005"]
    model = make_model("irt").fit(logs.select_rows(~np.isin(logs.item_ids[logs.item], unseen)))
    assert _upload(client, model, tmp_path / "irt").json()["info"]["course_items_known"] == 18
    client.post("/api/learners/a/responses", json=_answers(HISTORY), headers=ADMIN)
    got = client.get("/api/learners/a/predict", params={"items": unseen, "by": "kt"}, headers=ADMIN).json()
    served, skills = ServedModel(model), _served_skills()
    state = served.new_state()
    for item, ok in HISTORY:
        served.step(state, item, skills[item], ok)
    expected = served.predict(state, unseen, skills.__getitem__)
    np.testing.assert_allclose([got[i] for i in unseen], expected, atol=1e-4)
    assert abs(expected[0] - expected[1]) > 1e-3  # each from its own skill, not one "unseen item" guess


def test_a_queued_job_is_claimed_by_exactly_one_instance(settings: Any) -> None:
    from metatutor.service import jobs

    apps = [create_app(settings), create_app(settings)]  # two instances on one database
    with apps[0].state.sessions() as session:
        ids = [jobs.enqueue(session, "train", {"activate": False, "seed": n}) for n in range(6)]
    claimed: dict[int, list[str]] = {}

    def worker(app: object, name: str) -> None:
        with app.state.sessions() as session:  # type: ignore[attr-defined]
            while (job := jobs.claim(session, instance=name)) is not None:
                claimed.setdefault(job.id, []).append(name)

    import threading

    threads = [threading.Thread(target=worker, args=(a, f"instance-{k}")) for k, a in enumerate(apps)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(claimed) == ids and all(len(v) == 1 for v in claimed.values())  # each job once
    for app in apps:
        app.state.engine.dispose()
