"""Schemathesis against the OpenAPI spec: requests generated from the schema (valid and invalid bodies,
paths and query strings), sent with an admin key and with a learner key, never get a 5xx. Bounded: a
few dozen examples per operation."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
pytest.importorskip("schemathesis", reason="schemathesis is not installed (dev extra)")
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from metatutor.service.app import create_app
from metatutor.service.settings import Settings
from metatutor.service.store import builtin_course

ADMIN = {"X-API-Key": "admin-secret"}


def _app():  # type: ignore[no-untyped-def]
    db = Path(tempfile.mkdtemp(prefix="metatutor-fuzz-")) / "fuzz.db"
    app = create_app(Settings(database_url=f"sqlite:///{db}", admin_key="admin-secret"))
    c = TestClient(app)
    c.post("/api/course", json=builtin_course(n_skills=3, items_per_skill=4), headers=ADMIN)
    for name in ("a", "string", "0"):  # ids the generator likes to produce, so deep code paths run too
        c.post("/api/learners", json={"id": name, "teacher": "t"}, headers=ADMIN)
        c.post(f"/api/learners/{name}/responses", headers=ADMIN, json={"responses": [
            {"event_id": f"{name}{n}", "item": "i01-001", "correct": n % 2 == 0, "timestamp": n} for n in range(4)]})
    c.post("/api/assessments/bank", json={"kind": "1pl", "items": [{"id": "i01-001", "b": 0.0}]}, headers=ADMIN)
    c.post("/api/learners/a/assessments", json={"max_items": 1}, headers=ADMIN)
    learner = c.post("/api/keys", json={"role": "learner", "subject": "a"}, headers=ADMIN).json()["key"]
    return app, {"X-API-Key": learner}


APP, LEARNER = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    for headers in (ADMIN, LEARNER):
        response = case.call(headers=headers)
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} " \
                                            f"{response.text[:300]}"
