"""Schemathesis against the OpenAPI spec: requests generated from the schema (valid and invalid bodies,
paths and query strings), sent with an admin key and with a learner key, never get a 5xx, and every
answer conforms to the spec: its status code is documented, its content type too, and its body matches
the documented schema (schemathesis's default checks). Bounded: a few dozen examples per operation."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
pytest.importorskip("schemathesis", reason="schemathesis is not installed (dev extra)")
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import checks

from metatutor.service.app import create_app
from metatutor.service.settings import Settings
from metatutor.service.store import builtin_course

ADMIN = {"X-API-Key": "admin-secret"}


def _app():  # type: ignore[no-untyped-def]
    db = Path(tempfile.mkdtemp(prefix="metatutor-fuzz-")) / "fuzz.db"
    # generated keys are wrong on purpose: no lockout for them here (test_hardening tests the lockout)
    app = create_app(Settings(database_url=f"sqlite:///{db}", admin_key="admin-secret", login_attempts=10**9))
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
# every response check; of the request checks, that invalid data is refused. Not `positive_data_acceptance`:
# much that the schema cannot say is refused with a 422 that names it (an empty CSV file, an item that is not
# in the course, a prerequisite cycle)
def negative_data_rejection(ctx, response, case):  # type: ignore[no-untyped-def]
    """Invalid data must be refused; a 413 (the body is over the size limit) refuses it too."""
    if response.status_code == 413:
        return None
    return checks.negative_data_rejection(ctx, response, case)


CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_headers_conformance, checks.response_schema_conformance, negative_data_rejection,
          checks.missing_required_header, checks.allow_header_conformance]
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    for headers in (ADMIN, LEARNER):
        case.call_and_validate(headers=headers, checks=CHECKS)
