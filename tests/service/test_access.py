"""The access matrix: every API route × every kind of caller, with the status each must get. A route
added to the app without a row here fails `test_every_route_is_in_the_matrix`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
from fastapi.testclient import TestClient

from metatutor.service.app import create_app
from metatutor.service.settings import Settings
from metatutor.service.store import builtin_course

ADMIN = {"X-API-Key": "admin-secret"}
CALLERS = ("none", "admin", "teacher", "other_teacher", "learner", "other_learner")
ANSWERED = "http://adlnet.gov/expapi/verbs/answered"


class World:
    """A fresh service: learner `own` (teacher t1, with one assessment), learner `b` (teacher t2)."""

    def __init__(self, tmp: Path) -> None:
        self.client = TestClient(create_app(Settings(database_url=f"sqlite:///{tmp / 'a.db'}", admin_key="admin-secret")))
        c = self.client
        c.post("/api/course", json=builtin_course(n_skills=3, items_per_skill=4), headers=ADMIN)
        c.post("/api/learners", json={"id": "own", "teacher": "t1"}, headers=ADMIN)
        c.post("/api/learners", json={"id": "b", "teacher": "t2"}, headers=ADMIN)
        c.post("/api/assessments/bank", json={"kind": "1pl", "items": [{"id": "i01-001", "b": 0.0},
                                                                       {"id": "i01-002", "b": 1.0}]}, headers=ADMIN)
        started = c.post("/api/learners/own/assessments", json={"max_items": 2}, headers=ADMIN).json()
        self.assessment, self.pending = started["id"], started["item"]
        self.job = c.post("/api/models/train", json={"activate": False, "model": "tracker"}, headers=ADMIN).json()["job"]
        self.kt_files = _kt_model_files(tmp)
        self.learner_files = _learner_model_files(tmp)
        assert c.post("/api/models/kt", files=self.kt_files, headers=ADMIN).status_code == 201
        self.keys = {"none": {}, "admin": ADMIN, "teacher": self.key("teacher", "t1"),
                     "other_teacher": self.key("teacher", "t2"), "learner": self.key("learner", "own"),
                     "other_learner": self.key("learner", "b")}
        self.spare_key = c.post("/api/keys", json={"role": "teacher", "subject": "t9"}, headers=ADMIN).json()["id"]

    def key(self, role: str, subject: str) -> dict[str, str]:
        return {"X-API-Key": self.client.post("/api/keys", json={"role": role, "subject": subject},
                                              headers=ADMIN).json()["key"]}


def _statement() -> list[dict[str, Any]]:
    return [{"id": "s1", "actor": {"account": {"name": "own"}}, "verb": {"id": ANSWERED},
             "object": {"id": "i01-001"}, "result": {"success": True}}]


class Files(dict):  # type: ignore[type-arg]
    """A multipart body (file uploads) rather than JSON."""


def _kt_model_files(tmp: Path) -> Files:
    """A saved KT model (IRT, quick to fit) of the world's course, as the upload's files."""
    from metatutor.data.simulator import Simulator, SimulatorConfig
    from metatutor.models import make_model

    folder = make_model("irt").fit(Simulator(SimulatorConfig(n_skills=3, items_per_skill=4), random_state=0).simulate(8)).save(tmp / "kt")
    return Files({"model": ("model.json", (folder / "model.json").read_bytes()),
                  "arrays": ("arrays.safetensors", (folder / "arrays.safetensors").read_bytes())})


def _learner_model_files(tmp: Path) -> Files:
    """A saved learner model (the skill tracker, no fit) of the world's course, as the upload's files."""
    from metatutor.learner import SkillGraph, SkillTracker

    course = builtin_course(n_skills=3, items_per_skill=4)
    tracker = SkillTracker(graph=SkillGraph.from_edges([tuple(e) for e in course["prerequisites"]], course["skills"]),
                           item_ids=[i["id"] for i in course["items"]], item_skills=[i["skills"] for i in course["items"]])
    folder = tracker.save(tmp / "learner")
    return Files({"model": ("learner.json", (folder / "learner.json").read_bytes())})


def _logs() -> str:
    rows = [f"u{n % 4},i01-00{1 + n % 3},s01,{n % 2}" for n in range(24)]
    return "user_id,problem_id,skill_id,correct\n" + "\n".join(rows) + "\n"


Row = tuple[str, str, Callable[[World], Any], dict[str, int]]
OWNER_ONLY = {"none": 401, "admin": 200, "teacher": 200, "other_teacher": 403, "learner": 200, "other_learner": 403}
ADMIN_ONLY = {"none": 401, "admin": 200, "teacher": 403, "other_teacher": 403, "learner": 403, "other_learner": 403}
MATRIX: list[Row] = [
    ("POST", "/api/course", lambda w: builtin_course(n_skills=3, items_per_skill=4), ADMIN_ONLY),
    ("POST", "/api/keys", lambda w: {"role": "learner", "subject": "own"}, {**ADMIN_ONLY, "admin": 201}),
    ("GET", "/api/keys", lambda w: None, ADMIN_ONLY),
    ("DELETE", "/api/keys/{key_id}", lambda w: None, {**ADMIN_ONLY, "admin": 204}),
    ("POST", "/api/learners", lambda w: {"id": "new"},
     {"none": 401, "admin": 201, "teacher": 201, "other_teacher": 201, "learner": 403, "other_learner": 403}),
    ("DELETE", "/api/learners/{learner_id}", lambda w: None,
     {"none": 401, "admin": 204, "teacher": 204, "other_teacher": 403, "learner": 403, "other_learner": 403}),
    ("POST", "/api/learners/{learner_id}/responses",
     lambda w: {"responses": [{"event_id": "x", "item": "i01-001", "correct": True}]}, OWNER_ONLY),
    ("GET", "/api/learners/{learner_id}/state", lambda w: None, OWNER_ONLY),
    ("GET", "/api/learners/{learner_id}/next", lambda w: None, OWNER_ONLY),
    ("GET", "/api/learners/{learner_id}/report", lambda w: None, OWNER_ONLY),
    ("GET", "/api/learners/{learner_id}/predict?items=i01-001", lambda w: None, OWNER_ONLY),
    ("GET", "/api/learners/{learner_id}/kt", lambda w: None, OWNER_ONLY),
    ("GET", "/api/learners/{learner_id}/path", lambda w: None, OWNER_ONLY),
    # the world's items have no content: no hints (409) and nothing to grade (422) once access is given
    ("GET", "/api/learners/{learner_id}/items/i01-001", lambda w: None, OWNER_ONLY),
    ("POST", "/api/learners/{learner_id}/items/i01-001/hints", lambda w: None,
     {**OWNER_ONLY, "admin": 409, "teacher": 409, "learner": 409}),
    ("POST", "/api/learners/{learner_id}/attempts", lambda w: {"event_id": "x", "item": "i01-001", "answer": "1"},
     {**OWNER_ONLY, "admin": 422, "teacher": 422, "learner": 422}),
    ("GET", "/api/classes/{teacher}/report", lambda w: None,
     {"none": 401, "admin": 200, "teacher": 200, "other_teacher": 403, "learner": 403, "other_learner": 403}),
    ("POST", "/api/xapi/statements", lambda w: _statement(), OWNER_ONLY),
    ("POST", "/api/assessments/bank", lambda w: {"kind": "1pl", "items": [{"id": "i01-001", "b": 0.0}]}, ADMIN_ONLY),
    ("POST", "/api/learners/{learner_id}/assessments", lambda w: {}, {**OWNER_ONLY, "admin": 201, "teacher": 201,
                                                                       "learner": 201}),
    ("GET", "/api/assessments/{assessment_id}", lambda w: None, OWNER_ONLY),
    ("POST", "/api/assessments/{assessment_id}/answers", lambda w: {"item": w.pending, "correct": True}, OWNER_ONLY),
    ("POST", "/api/course/csv", lambda w: Files({"items": ("i.csv", "item,skills\ni01-001,s01\n")}), ADMIN_ONLY),
    ("POST", "/api/course/logs", lambda w: Files({"logs": ("l.csv", _logs())}), ADMIN_ONLY),
    ("POST", "/api/roster/oneroster", lambda w: Files({
        "users": ("users.csv", "sourcedId,role\nt1,teacher\nown,student\n"),
        "enrollments": ("enrollments.csv", "sourcedId,classSourcedId,userSourcedId,role\ne,c,t1,teacher\n")}),
     ADMIN_ONLY),
    ("GET", "/api/models", lambda w: None, ADMIN_ONLY),
    ("POST", "/api/models/train", lambda w: {"activate": False, "model": "tracker"}, {**ADMIN_ONLY, "admin": 202}),
    ("GET", "/api/jobs/{job_id}", lambda w: None, ADMIN_ONLY),
    ("POST", "/api/models/kt", lambda w: w.kt_files, {**ADMIN_ONLY, "admin": 201}),
    ("POST", "/api/models/learner", lambda w: w.learner_files, {**ADMIN_ONLY, "admin": 201}),
    ("POST", "/api/models/{version_id}/activate", lambda w: None, ADMIN_ONLY),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "template", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_access(tmp_path: Path, caller: str, method: str, template: str, body: Callable[[World], Any],
                expected: dict[str, int]) -> None:
    world = World(tmp_path)
    path = template.format(learner_id="own", teacher="t1", assessment_id=world.assessment, job_id=world.job,
                           version_id=1, key_id=world.spare_key)
    payload = body(world)
    if isinstance(payload, Files):
        res = world.client.request(method, path, files=payload, headers=world.keys[caller])
    else:
        res = world.client.request(method, path, json=payload, headers=world.keys[caller])
    assert res.status_code == expected[caller], res.text
    world.client.app.state.engine.dispose()  # type: ignore[attr-defined]


def test_every_route_is_in_the_matrix(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}"))
    routes = {(m, p) for p, ops in app.openapi()["paths"].items() for m in (k.upper() for k in ops)}
    assert routes == {(m, p.split("?")[0].replace("/i01-001", "/{item_id}")) for m, p, _, _ in MATRIX}
    app.state.engine.dispose()


def test_the_policy_names_of_the_api_are_the_library_s() -> None:
    from typing import get_args

    from metatutor.policy import POLICIES
    from metatutor.service.schemas import PolicyName

    assert set(get_args(PolicyName)) == set(POLICIES)


# ----- the dashboard's pages: the caller logs in with their key (a session cookie and its CSRF token); without
# a session the browser goes to the login form
PAGE_OWNER = {"none": 303, "admin": 200, "teacher": 200, "other_teacher": 403, "learner": 200, "other_learner": 403}
PAGE_ADMIN = {"none": 303, "admin": 200, "teacher": 403, "other_teacher": 403, "learner": 403, "other_learner": 403}
PUBLIC = dict.fromkeys(CALLERS, 200)
PAGES: list[Row] = [
    ("GET", "/", lambda w: None, {**dict.fromkeys(CALLERS, 303), "none": 200}),  # logged in: to their home page
    ("POST", "/login", lambda w: {"key": "wrong"}, PUBLIC),  # the form again, saying the key is unknown
    ("POST", "/logout", lambda w: None, dict.fromkeys(CALLERS, 303)),
    # a learner's key always opens their own practice and assessment pages, whatever ?learner= says
    ("GET", "/practice", lambda w: None, {**PAGE_OWNER, "other_learner": 200}),
    ("POST", "/practice/answer", lambda w: {"learner": "own", "item": "i01-001", "correct": 1, "event": "p1"},
     PAGE_OWNER),
    # the world's items have no content, so no hints: 409 once the caller may see the learner
    ("POST", "/practice/hint", lambda w: {"learner": "own", "item": "i01-001"},
     {**PAGE_OWNER, "admin": 409, "teacher": 409, "learner": 409}),
    ("GET", "/class", lambda w: None, {**PAGE_OWNER, "other_teacher": 200, "learner": 303, "other_learner": 303}),
    ("GET", "/class/learner/{learner_id}", lambda w: None, PAGE_OWNER),
    ("GET", "/assess", lambda w: None, {**PAGE_OWNER, "other_learner": 200}),
    ("POST", "/assess/start", lambda w: {"learner": "own"}, PAGE_OWNER),
    ("POST", "/assess/{assessment_id}/answer", lambda w: {"item": w.pending, "correct": 1}, PAGE_OWNER),
    ("GET", "/admin", lambda w: None, PAGE_ADMIN),
    # no file chosen: the admin's page says what is missing (422); the others may not post here at all
    ("POST", "/admin/course", lambda w: {"source": "json"}, {**PAGE_ADMIN, "admin": 422}),
    ("POST", "/admin/roster", lambda w: None, {**PAGE_ADMIN, "admin": 422}),
    ("POST", "/admin/models", lambda w: None, {**PAGE_ADMIN, "admin": 422}),
    ("POST", "/admin/learner-model", lambda w: None, {**PAGE_ADMIN, "admin": 422}),
    ("POST", "/admin/learners", lambda w: {"learner": "new", "teacher": "t1"}, PAGE_ADMIN),
    ("POST", "/admin/train", lambda w: {"kind": "kt"}, {**PAGE_ADMIN, "admin": 422}),  # no answers to learn from
    ("POST", "/admin/activate", lambda w: {"version": 1}, PAGE_ADMIN),
    ("POST", "/admin/bank", lambda w: {"kind": "1pl"}, {**PAGE_ADMIN, "admin": 422}),  # no answers to calibrate on
    ("POST", "/admin/keys", lambda w: {"role": "learner", "subject": "own"}, PAGE_ADMIN),
    ("POST", "/admin/keys/revoke", lambda w: {"key_id": w.spare_key}, PAGE_ADMIN),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "template", "form", "expected"), PAGES, ids=[f"{m} {p}" for m, p, _, _ in PAGES])
def test_page_access(tmp_path: Path, caller: str, method: str, template: str, form: Callable[[World], Any],
                     expected: dict[str, int]) -> None:
    world = World(tmp_path)
    path = template.format(learner_id="own", assessment_id=world.assessment)
    if method == "GET" and template in ("/practice", "/assess"):
        path += "?learner=own"
    key = world.keys[caller].get("X-API-Key")
    headers = {"HX-Request": "true"}  # as htmx sends them
    if key:
        assert world.client.post("/login", data={"key": key}, follow_redirects=False).status_code == 303
        headers["X-CSRF-Token"] = _csrf(world.client)
    res = world.client.request(method, path, data=form(world), follow_redirects=False, headers=headers)
    assert res.status_code == expected[caller], res.text[:300]
    world.client.app.state.engine.dispose()  # type: ignore[attr-defined]


def _csrf(client: TestClient) -> str:
    """The session's CSRF token, as every page carries it."""
    page = client.get("/", follow_redirects=True).text
    return page.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]


def test_every_page_is_in_the_matrix() -> None:
    from fastapi.routing import APIRoute

    from metatutor.service.dashboard import router

    pages = {(m, r.path) for r in router.routes if isinstance(r, APIRoute) for m in r.methods}
    assert pages == {(m, p) for m, p, _, _ in PAGES}
