"""The meta-learned learner model behind the service: uploaded as `metatutor train` saves it, trained by a
job, kept across a course re-import, and read by every answer, next item, state, report and path."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
from fastapi.testclient import TestClient

from metatutor.data.responses import Responses
from metatutor.data.simulator import Simulator, SimulatorConfig
from metatutor.data.splits import holdout_split
from metatutor.learner import Tracker
from metatutor.learner.registry import fit_for_course
from metatutor.service.app import create_app
from metatutor.service.settings import Settings
from metatutor.service.store import builtin_course

ADMIN = {"X-API-Key": "admin-secret"}
HISTORY = [("i01-001", True), ("i01-002", False), ("i02-001", True), ("i01-003", False), ("i03-002", True)]


@pytest.fixture(scope="module")
def logs() -> Responses:
    return Simulator(SimulatorConfig(n_skills=3, items_per_skill=4), random_state=0).simulate(40, (10, 30))


@pytest.fixture(scope="module")
def meta(logs: Responses) -> Tracker:
    """A small meta-learned model of the world's course (few epochs and outer steps: seconds)."""
    fit_on, valid_on = holdout_split(logs, valid_fraction=0.2, random_state=0)
    return fit_for_course("meta", fit_on, valid_on, logs, random_state=0, max_epochs=2,
                          settings={"meta_steps": 10, "eval_every": 5})


@pytest.fixture()
def client(tmp_path: Path) -> Any:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'm.db'}", admin_key="admin-secret",
                              cache_seconds=0))
    with TestClient(app) as c:
        assert c.post("/api/course", json=builtin_course(n_skills=3, items_per_skill=4), headers=ADMIN).status_code == 200
        c.post("/api/learners", json={"id": "L1", "teacher": "t1"}, headers=ADMIN)
        yield c
    app.state.engine.dispose()


def _upload(client: TestClient, model: Tracker, tmp: Path) -> dict[str, Any]:
    folder = model.save(tmp / "learner")
    files = {"model": ("learner.json", (folder / "learner.json").read_bytes()),
             "arrays": ("arrays.safetensors", (folder / "arrays.safetensors").read_bytes())}
    res = client.post("/api/models/learner", files=files, headers=ADMIN)
    assert res.status_code == 201, res.text
    out: dict[str, Any] = res.json()
    return out


def _answer(client: TestClient) -> None:
    body = {"responses": [{"event_id": f"e{n}", "item": item, "correct": ok, "timestamp": 1_700_000_000.0 + 60 * n}
                          for n, (item, ok) in enumerate(HISTORY)]}
    assert client.post("/api/learners/L1/responses", json=body, headers=ADMIN).status_code == 200


def test_an_uploaded_meta_model_decides_every_answer_and_next_item(client: TestClient, meta: Tracker,
                                                                    tmp_path: Path) -> None:
    version = _upload(client, meta, tmp_path)
    assert version["active"] and version["info"]["model"] == "meta" and version["info"]["course_items_known"] == 12
    _answer(client)
    got = client.get("/api/learners/L1/predict", headers=ADMIN).json()
    expected = meta.p_correct(meta.replay([(i, int(ok), 1_700_000_000.0 + 60 * n)
                                           for n, (i, ok) in enumerate(HISTORY)]))
    np.testing.assert_allclose([got[str(i)] for i in meta.item_ids], expected, atol=2e-4)  # the service reads it
    nxt = client.get("/api/learners/L1/next", headers=ADMIN)
    assert nxt.status_code == 200 and nxt.json()["item"] in got and nxt.json()["reason"]
    state = client.get("/api/learners/L1/state", headers=ADMIN).json()
    np.testing.assert_allclose([s["mastery"] for s in state["skills"]],
                               meta.mastery(meta.replay([(i, int(ok), 1_700_000_000.0 + 60 * n)
                                                         for n, (i, ok) in enumerate(HISTORY)])), atol=1e-3)
    for path in ("/api/learners/L1/report", "/api/learners/L1/path", "/api/classes/t1/report"):
        assert client.get(path, headers=ADMIN).status_code == 200, path


def test_a_course_re_import_keeps_the_trained_model_and_predicts_new_items(client: TestClient, meta: Tracker,
                                                                          tmp_path: Path) -> None:
    _upload(client, meta, tmp_path)
    course = builtin_course(n_skills=3, items_per_skill=4)
    course["items"].append({"id": "new-1", "skills": ["s01"], "meta": {"difficulty": 2.0}})
    course["items"].append({"id": "new-2", "skills": ["s01"], "meta": {"difficulty": -2.0}})
    assert client.post("/api/course", json=course, headers=ADMIN).status_code == 200
    models = client.get("/api/models", headers=ADMIN).json()
    active = [m for m in models if m["kind"] == "tracker" and m["active"]]
    assert [m["info"]["model"] for m in active] == ["meta"]
    got = client.get("/api/learners/L1/predict?items=new-1&items=new-2", headers=ADMIN).json()
    assert got["new-2"] > got["new-1"] + 0.1  # from its predicted difficulty: the easier one is likelier right


def test_a_wrong_upload_is_refused_with_its_reason(client: TestClient, tmp_path: Path) -> None:
    res = client.post("/api/models/learner", files={"model": ("learner.json", b"not json")}, headers=ADMIN)
    assert res.status_code == 422 and "learner.json" in res.text
    res = client.post("/api/models/learner", files={"model": ("learner.json", b'{"kind": "nope"}')}, headers=ADMIN)
    assert res.status_code == 422 and "nope" in res.text and "/tmp" not in res.text
    res = client.post("/api/models/train", json={"kind": "tracker", "model": "dkt"}, headers=ADMIN)
    assert res.status_code == 422 and "knowledge-tracing" in res.text


def test_a_training_job_fits_the_meta_learned_default(client: TestClient, logs: Responses) -> None:
    ids = [str(x) for x in logs.item_ids]
    for j in range(12):  # stored learners to train on
        lo, hi = int(logs.starts[j]), int(logs.starts[j + 1])
        client.post("/api/learners", json={"id": f"S{j}", "teacher": "t1"}, headers=ADMIN)
        body = {"responses": [{"event_id": f"s{j}-{r}", "item": ids[logs.item[r]], "correct": bool(logs.correct[r]),
                               "timestamp": 1_700_000_000.0 + 60 * (r - lo)} for r in range(lo, hi)]}
        assert client.post(f"/api/learners/S{j}/responses", json=body, headers=ADMIN).status_code == 200
    job = client.post("/api/models/train", json={"max_epochs": 1, "meta_steps": 5}, headers=ADMIN).json()["job"]
    for _ in range(600):
        status = client.get(f"/api/jobs/{job}", headers=ADMIN).json()
        if status["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert status["status"] == "done", status
    row = next(m for m in client.get("/api/models", headers=ADMIN).json() if m["id"] == status["model_version"])
    assert row["active"] and row["info"]["model"] == "meta" and row["info"]["train_learners"] > 0
    assert client.get("/api/learners/S0/next", headers=ADMIN).status_code == 200


def test_the_meta_learned_model_wants_learners_to_learn_from(client: TestClient) -> None:
    _answer(client)  # one learner: too few tasks to meta-learn from
    res = client.post("/api/models/train", json={}, headers=ADMIN)
    assert res.status_code == 422 and "at least 10 learners (1 so far)" in res.text
    assert client.post("/api/models/train", json={"model": "tracker"}, headers=ADMIN).status_code == 202


def test_the_teacher_sees_whom_the_learner_started_like(client: TestClient, meta: Tracker, tmp_path: Path) -> None:
    _upload(client, meta, tmp_path)
    _answer(client)
    assert client.post("/login", data={"key": "admin-secret"}).status_code == 200
    page = client.get("/class/learner/L1")
    assert page.status_code == 200 and 'id="summary-profile"' in page.text
    match = meta.profile(meta.replay([(i, int(ok), 1_700_000_000.0 + 60 * n) for n, (i, ok) in enumerate(HISTORY)]))
    assert match is not None and f"profile {match.profile}" in page.text
