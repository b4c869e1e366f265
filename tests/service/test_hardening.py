"""Each defect class an outside probe found (issue 27), on SQLite and on PostgreSQL: the request that broke
the service, and what it must get now."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from metatutor.service.app import create_app
from metatutor.service.settings import Settings
from metatutor.service.store import builtin_course
from metatutor.service.tables import ApiKey, LearnerState, Response

ADMIN = {"X-API-Key": "admin-secret"}
ITEM = "i01-001"


def _course() -> dict:
    return builtin_course(n_skills=4, items_per_skill=5)


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    c = TestClient(create_app(settings))
    assert c.post("/api/course", json=_course(), headers=ADMIN).status_code == 200
    assert c.post("/api/learners", json={"id": "L1", "teacher": "t1"}, headers=ADMIN).status_code == 201
    yield c
    c.app.state.engine.dispose()  # type: ignore[attr-defined]


def _raw(client: TestClient, path: str, body: str, headers: dict[str, str] = ADMIN) -> int:
    """POST a body as written (JSON that json.dumps would refuse to write: NaN, lone surrogates…)."""
    return client.post(path, content=body.encode("utf-8", "surrogatepass"),
                       headers={**headers, "Content-Type": "application/json"}).status_code


def _answer(event: str, **extra: object) -> dict:
    return {"responses": [{"event_id": event, "item": ITEM, "correct": True, **extra}]}


def _key(client: TestClient, role: str, subject: str | None) -> tuple[int, dict[str, str]]:
    res = client.post("/api/keys", json={"role": role, "subject": subject}, headers=ADMIN)
    assert res.status_code == 201, res.text
    return res.json()["id"], {"X-API-Key": res.json()["key"]}


def _reads_ok(client: TestClient, learner: str = "L1") -> None:
    for path in ("state", "next", "report", "path"):
        assert client.get(f"/api/learners/{learner}/{path}", headers=ADMIN).status_code == 200, path
    assert client.get("/api/classes/t1/report", headers=ADMIN).status_code == 200


# ----- 1. times -------------------------------------------------------------------------------------
@pytest.mark.parametrize("when", [-1e12, -1e308, -1.0, 1e308, 253_402_300_800.0, "3 days ahead"])
def test_a_time_out_of_range_is_refused_and_breaks_nothing(client: TestClient, when: float | str) -> None:
    when = time.time() + 3 * 86_400 if when == "3 days ahead" else when  # the ids stay the same in every run
    me = _key(client, "learner", "L1")[1]
    assert client.post("/api/learners/L1/responses", json=_answer("e1", timestamp=when), headers=me).status_code == 422
    assert client.post("/api/course", json=_course(), headers=ADMIN).status_code == 200  # a model switch
    _reads_ok(client)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_times_are_refused(client: TestClient, literal: str) -> None:
    body = f'{{"responses": [{{"event_id": "e1", "item": "{ITEM}", "correct": true, "timestamp": {literal}}}]}}'
    assert _raw(client, "/api/learners/L1/responses", body) == 422


def test_a_rebuilt_state_equals_the_state_built_answer_by_answer(client: TestClient) -> None:
    # out-of-order times, a first answer late, items of several skills: the online clamp must be the rebuild's
    times = [5_000.0, 100.0, 9_000.0, 9_000.0, 50.0, 200_000.0, 190_000.0]
    items = ["i01-001", "i02-003", "i01-002", "i03-001", "i02-001", "i04-005", "i01-004"]
    body = {"responses": [{"event_id": f"e{n}", "item": i, "correct": n % 3 != 1, "timestamp": w}
                          for n, (i, w) in enumerate(zip(items, times, strict=True))]}
    for n in range(len(times)):  # one request per answer
        assert client.post("/api/learners/L1/responses", json={"responses": [body["responses"][n]]},
                           headers=ADMIN).status_code == 200
    online = client.get("/api/learners/L1/state", headers=ADMIN).json()
    assert client.post("/api/course", json=_course(), headers=ADMIN).status_code == 200  # rebuilt from responses
    rebuilt = client.get("/api/learners/L1/state", headers=ADMIN).json()
    assert rebuilt["answers"] == online["answers"] == len(times)
    for a, b in zip(online["skills"], rebuilt["skills"], strict=True):
        assert a["mastery"] == pytest.approx(b["mastery"], abs=1e-12) and a["skill"] == b["skill"]


def test_a_course_upload_switches_active_learners_states_with_it(client: TestClient) -> None:
    body = {"responses": [{"event_id": f"e{n}", "item": f"i0{1 + n % 3}-00{1 + n // 3}", "correct": n % 2 == 0,
                           "timestamp": 1_700_000_000.0 + 60 * n} for n in range(6)]}
    assert client.post("/api/learners/L1/responses", json=body, headers=ADMIN).status_code == 200
    before = client.get("/api/learners/L1/state", headers=ADMIN).json()
    client.app.state.rebuilder.request_many = lambda _learners: None  # type: ignore[attr-defined]  # no rebuild after it
    version = client.post("/api/course", json=_course(), headers=ADMIN).json()["model_version"]
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        row = session.get(LearnerState, "L1")
        assert row is not None and row.model_version == version and row.answers == 6  # stored with the switch
    after = client.get("/api/learners/L1/state", headers=ADMIN).json()
    assert after["answers"] == 6
    for a, b in zip(before["skills"], after["skills"], strict=True):
        assert a["mastery"] == pytest.approx(b["mastery"], abs=1e-12)


# ----- 2. limits and long work ----------------------------------------------------------------------
def test_batches_and_bodies_are_bounded(client: TestClient, settings: Settings) -> None:
    many = {"responses": [{"event_id": f"e{n}", "item": ITEM, "correct": True} for n in range(settings.max_batch + 1)]}
    res = client.post("/api/learners/L1/responses", json=many, headers=ADMIN)
    assert res.status_code == 422 and "at most" in res.json()["detail"]
    huge = '{"responses": [' + ",".join(['{"event_id": "e", "item": "x", "correct": true}'] * 30_000) + "]}"
    assert len(huge) > settings.max_body_bytes
    assert _raw(client, "/api/learners/L1/responses", huge) == 413
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        assert session.scalar(select(func.count()).select_from(Response)) == 0


def test_an_overloaded_service_answers_503_not_500(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'p.db'}", admin_key="admin-secret", db_pool_size=1,
                        db_pool_timeout=0.2)
    c = TestClient(create_app(settings))
    assert c.post("/api/course", json=_course(), headers=ADMIN).status_code == 200
    engine = c.app.state.engine  # type: ignore[attr-defined]
    held = [engine.connect(), engine.connect()]  # the pool and its overflow, all in use
    try:
        res = c.get("/api/keys", headers=ADMIN)
        assert res.status_code == 503 and res.headers["retry-after"] == "1" and "busy" in res.json()["detail"]
    finally:
        for conn in held:
            conn.close()
    assert c.get("/api/keys", headers=ADMIN).status_code == 200
    engine.dispose()


def test_a_big_course_upload_needs_an_admin(settings: Settings) -> None:
    small = settings.model_copy(update={"max_body_bytes": 20_000})
    client = TestClient(create_app(small))
    body = json.dumps(builtin_course(n_skills=12, items_per_skill=100))
    assert small.max_body_bytes < len(body) < small.max_upload_bytes
    teacher = {"X-API-Key": client.post("/api/keys", json={"role": "teacher", "subject": "t1"},
                                        headers=ADMIN).json()["key"]}
    assert _raw(client, "/api/course", body, teacher) == 413  # the small limit: not an admin
    assert _raw(client, "/api/course", body) == 200
    client.app.state.engine.dispose()  # type: ignore[attr-defined]


def test_a_long_rebuild_runs_in_the_background(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", admin_key="admin-secret", rebuild_inline=40)
    c = TestClient(create_app(settings))
    c.post("/api/course", json=_course(), headers=ADMIN)
    c.post("/api/learners", json={"id": "L1"}, headers=ADMIN)
    for start in range(0, 150, 30):
        body = {"responses": [{"event_id": f"e{n}", "item": f"i0{1 + n % 4}-00{1 + n % 5}", "correct": n % 3 > 0,
                               "timestamp": 60.0 * n} for n in range(start, start + 30)]}
        assert c.post("/api/learners/L1/responses", json=body, headers=ADMIN).status_code == 200
    before = c.get("/api/learners/L1/state", headers=ADMIN).json()
    rebuilder = c.app.state.rebuilder  # type: ignore[attr-defined]
    rebuilder.chunk = 25  # several chunks, each its own transaction
    c.post("/api/course", json=_course(), headers=ADMIN)
    assert rebuilder.idle(60)
    after = c.get("/api/learners/L1/state", headers=ADMIN).json()
    assert after == before
    assert rebuilder.done >= 1
    c.app.state.engine.dispose()  # type: ignore[attr-defined]


def test_a_read_that_would_replay_too_much_is_a_503_and_answers_are_still_stored(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", admin_key="admin-secret", rebuild_inline=10)
    c = TestClient(create_app(settings))
    c.post("/api/course", json=_course(), headers=ADMIN)
    c.post("/api/learners", json={"id": "L1"}, headers=ADMIN)
    body = {"responses": [{"event_id": f"e{n}", "item": ITEM, "correct": True, "timestamp": n} for n in range(30)]}
    c.post("/api/learners/L1/responses", json=body, headers=ADMIN)
    rebuilder = c.app.state.rebuilder  # type: ignore[attr-defined]
    rebuilder.request_many = lambda ids: None  # no background work: the state stays stale
    c.post("/api/course", json=_course(), headers=ADMIN)
    res = c.get("/api/learners/L1/state", headers=ADMIN)
    assert res.status_code == 503 and res.headers["retry-after"]
    out = c.post("/api/learners/L1/responses", json=_answer("late"), headers=ADMIN).json()
    assert out["stored"] == 1 and out["updating"] is True and out["answers"] == 31
    del rebuilder.request_many
    rebuilder.catch_up("L1")
    assert c.get("/api/learners/L1/state", headers=ADMIN).json()["answers"] == 31
    c.app.state.engine.dispose()  # type: ignore[attr-defined]


# ----- 4. keys and sessions -------------------------------------------------------------------------
def test_keys_can_be_listed_revoked_and_expire(client: TestClient) -> None:
    key_id, me = _key(client, "learner", "L1")
    listed = client.get("/api/keys", headers=ADMIN).json()
    assert {k["id"] for k in listed} >= {key_id} and all("key" not in k for k in listed)
    assert client.get("/api/learners/L1/state", headers=me).status_code == 200
    assert client.delete(f"/api/keys/{key_id}", headers=ADMIN).status_code == 204
    assert client.get("/api/learners/L1/state", headers=me).status_code == 401
    assert client.delete(f"/api/keys/{key_id}", headers=ADMIN).status_code == 404
    res = client.post("/api/keys", json={"role": "learner", "subject": "L1", "expires_in_days": 1 / 86_400},
                      headers=ADMIN)
    short = {"X-API-Key": res.json()["key"]}
    assert res.json()["expires"] - res.json()["created"] == pytest.approx(1.0, abs=0.01)
    time.sleep(1.2)
    assert client.get("/api/learners/L1/state", headers=short).status_code == 401


def test_changing_the_admin_key_revokes_the_old_one(settings: Settings) -> None:
    first = TestClient(create_app(settings))
    assert first.get("/api/keys", headers=ADMIN).status_code == 200
    first.app.state.engine.dispose()  # type: ignore[attr-defined]
    second = TestClient(create_app(settings.model_copy(update={"admin_key": "rotated-secret"})))
    assert second.get("/api/keys", headers=ADMIN).status_code == 401
    assert second.get("/api/keys", headers={"X-API-Key": "rotated-secret"}).status_code == 200
    second.app.state.engine.dispose()  # type: ignore[attr-defined]


def test_the_dashboard_cookie_is_a_session_not_the_key(client: TestClient) -> None:
    key = client.post("/api/keys", json={"role": "learner", "subject": "L1"}, headers=ADMIN).json()["key"]
    res = client.post("/login", data={"key": key}, follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/practice"
    cookie = client.cookies.get("mt_session")
    assert cookie and key not in cookie and key not in res.headers.get("set-cookie", "")
    assert "httponly" in res.headers["set-cookie"].lower() and "samesite=strict" in res.headers["set-cookie"].lower()
    page = client.get("/practice")
    assert page.status_code == 200
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert client.get("/", follow_redirects=False).headers["location"] == "/practice"  # logged in: home
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    client.cookies.set("mt_session", cookie)  # the old cookie, replayed
    assert client.get("/practice", follow_redirects=False).headers["location"] == "/"


# ----- 5. deletion ----------------------------------------------------------------------------------
def test_deleting_a_learner_leaves_no_trace_in_the_database_files(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    c = TestClient(create_app(Settings(database_url=f"sqlite:///{db}", admin_key="admin-secret")))
    c.post("/api/course", json=_course(), headers=ADMIN)
    secret = "zqx-learner-7731"
    c.post("/api/learners", json={"id": secret, "teacher": "t1"}, headers=ADMIN)
    c.post("/api/learners", json={"id": "keep", "teacher": "t1"}, headers=ADMIN)
    for learner in (secret, "keep"):
        body = {"responses": [{"event_id": f"{learner}-evt-{n}", "item": ITEM, "correct": True, "timestamp": n}
                              for n in range(40)]}
        c.post(f"/api/learners/{learner}/responses", json=body, headers=ADMIN)
        c.get(f"/api/learners/{learner}/report", headers=ADMIN)
    assert c.delete(f"/api/learners/{secret}", headers=ADMIN).status_code == 204
    files = [p for p in tmp_path.iterdir() if p.name.startswith("traces.db")]
    assert any(p.name == "traces.db" for p in files)
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, f"{path.name} is readable by others"
        data = path.read_bytes()
        assert secret.encode() not in data and b"zqx-learner" not in data, path.name
    assert c.get("/api/learners/keep/state", headers=ADMIN).json()["answers"] == 40
    c.app.state.engine.dispose()  # type: ignore[attr-defined]
    for path in tmp_path.iterdir():  # and after the server stops
        assert secret.encode() not in path.read_bytes(), path.name


# ----- 6. xAPI batches are atomic -------------------------------------------------------------------
def _statement(sid: str, learner: str) -> dict:
    return {"id": sid, "actor": {"account": {"name": learner}}, "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
            "object": {"id": f"https://example.org/items/{ITEM}"}, "result": {"success": True}}


def test_an_xapi_batch_is_stored_whole_or_not_at_all(client: TestClient) -> None:
    client.post("/api/learners", json={"id": "L2", "teacher": "t2"}, headers=ADMIN)
    me = _key(client, "learner", "L1")[1]
    teacher = _key(client, "teacher", "t1")[1]
    both = [_statement("s1", "L1"), _statement("s2", "L2")]
    assert client.post("/api/xapi/statements", json=both, headers=me).status_code == 403
    assert client.post("/api/xapi/statements", json=both, headers=teacher).status_code == 403
    unknown = [_statement("s3", "L1"), _statement("s4", "nobody")]
    assert client.post("/api/xapi/statements", json=unknown, headers=ADMIN).status_code == 404
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        assert session.scalar(select(func.count()).select_from(Response)) == 0
    res = client.post("/api/xapi/statements", json=both, headers=ADMIN)
    assert res.status_code == 200 and res.json()["L1"]["stored"] == 1 and res.json()["L2"]["stored"] == 1


# ----- 7. keys need a subject -----------------------------------------------------------------------
def test_a_key_without_its_subject_is_refused(client: TestClient) -> None:
    assert client.post("/api/keys", json={"role": "teacher"}, headers=ADMIN).status_code == 422
    assert client.post("/api/keys", json={"role": "learner"}, headers=ADMIN).status_code == 422
    assert client.post("/api/keys", json={"role": "admin", "subject": "x"}, headers=ADMIN).status_code == 422
    assert client.post("/api/keys", json={"role": "learner", "subject": "nobody"}, headers=ADMIN).status_code == 404
    from metatutor.service.security import hash_key

    with client.app.state.sessions() as session:  # a key an earlier release made, written in directly
        session.add(ApiKey(key_hash=hash_key("legacy-teacher"), role="teacher", subject=None))
        session.commit()
    client.post("/api/learners", json={"id": "orphan"}, headers=ADMIN)  # no teacher
    legacy = {"X-API-Key": "legacy-teacher"}
    assert client.get("/api/learners/orphan/state", headers=legacy).status_code == 401
    assert client.delete("/api/learners/orphan", headers=legacy).status_code == 401
    teacher = _key(client, "teacher", "t1")[1]
    assert client.get("/api/learners/orphan/state", headers=teacher).status_code == 403


# ----- 8. broken models -----------------------------------------------------------------------------
def _kt_files(tmp: Path, damage: str) -> dict:
    import numpy as np
    from safetensors.numpy import load, save

    from metatutor.data.simulator import Simulator, SimulatorConfig
    from metatutor.models import make_model

    sim = Simulator(SimulatorConfig(n_skills=4, items_per_skill=5), random_state=0)
    folder = make_model("irt").fit(sim.simulate(20, 20)).save(tmp / f"kt-{damage}")
    arrays = load((folder / "arrays.safetensors").read_bytes())
    name = max(arrays, key=lambda k: arrays[k].size)
    a = arrays[name]
    if damage == "short":
        arrays[name] = np.ascontiguousarray(a.reshape(-1)[: max(1, a.size // 3)])
    elif damage == "rank":
        arrays[name] = np.ascontiguousarray(a.reshape(-1)[:, None, None])
    elif damage == "nan":
        arrays = {k: np.full_like(v, np.nan) if v.dtype.kind == "f" else v for k, v in arrays.items()}
    return {"model": ("model.json", (folder / "model.json").read_bytes()), "arrays": ("arrays.safetensors", save(arrays))}


@pytest.mark.parametrize("damage", ["short", "rank", "nan"])
def test_a_broken_model_is_never_activated(client: TestClient, tmp_path: Path, damage: str) -> None:
    assert client.post("/api/models/kt", files=_kt_files(tmp_path, "none"), headers=ADMIN).status_code == 201
    good = client.get("/api/learners/L1/kt", headers=ADMIN).json()
    res = client.post("/api/models/kt", files=_kt_files(tmp_path, damage), headers=ADMIN)
    assert res.status_code == 422, res.text
    assert client.get("/api/learners/L1/kt", headers=ADMIN).json()["model_version"] == good["model_version"]
    assert client.get("/api/learners/L1/predict?by=kt", headers=ADMIN).status_code == 200


def test_an_item_bank_must_be_finite(client: TestClient) -> None:
    for value in ("NaN", "Infinity", "1e400"):
        body = f'{{"kind": "1pl", "items": [{{"id": "{ITEM}", "b": {value}}}]}}'
        assert _raw(client, "/api/assessments/bank", body) == 422
    assert client.post("/api/assessments/bank", json={"kind": "1pl", "items": [{"id": ITEM, "b": 1e6}]},
                       headers=ADMIN).status_code == 422


# ----- 9. hostile values ----------------------------------------------------------------------------
HOSTILE_STRINGS = ["\ud800", "a\udfffb", "a\x00b", "x" * 201, "\x1b[31m", "\ufffe"]


@pytest.mark.parametrize("value", HOSTILE_STRINGS, ids=["surrogate", "low-surrogate", "nul", "long", "escape", "nonchar"])
def test_hostile_strings_are_a_422(client: TestClient, value: str) -> None:
    text = json.dumps(value)  # \\u escapes: lone surrogates travel as JSON allows
    assert _raw(client, "/api/learners/L1/responses",
                f'{{"responses": [{{"event_id": {text}, "item": "{ITEM}", "correct": true}}]}}') == 422
    assert _raw(client, "/api/learners", f'{{"id": "ok", "teacher": {text}}}') == 422
    if len(value) < 200:  # free text in an item's meta may be long, but holds the same characters
        course = _course()
        course["items"][0]["meta"] = {"text": value}
        assert _raw(client, "/api/course", json.dumps(course)) == 422


@pytest.mark.parametrize("path", ["/api/learners/a%00b/state", "/api/learners/%ED%A0%80/state",
                                  "/api/learners/" + "x" * 201 + "/state", "/api/classes/t%00/report"])
def test_hostile_path_ids_are_a_4xx(client: TestClient, path: str) -> None:
    assert client.get(path, headers=ADMIN).status_code in (404, 422)


def test_deep_json_and_booleans_for_numbers_are_a_422(client: TestClient) -> None:
    course = _course()
    course["items"][0]["meta"] = {"a": [[[[[[[[[[[[1]]]]]]]]]]]]}
    assert client.post("/api/course", json=course, headers=ADMIN).status_code == 422
    assert _raw(client, "/api/learners", '{"id": "x", "teacher": ' + "[" * 5000 + "]" * 5000 + "}") == 422
    body = {"responses": [{"event_id": "e1", "item": ITEM, "correct": True, "timestamp": False}]}
    assert client.post("/api/learners/L1/responses", json=body, headers=ADMIN).status_code == 422
    assert client.post("/api/learners/L1/assessments", json={"max_items": True}, headers=ADMIN).status_code == 422


@pytest.mark.parametrize(("name", "files"), [
    ("short items row", {"items": ("i.csv", "item,skills,extra\ni1\ni2,s1,x\n")}),
    ("ragged items row", {"items": ("i.csv", "item,skills\ni1,s1,x,y,z\n,\n")}),
    ("not utf-8", {"items": ("i.csv", b"item,skills\n\xff\xfe,s1\n")}),
    ("short prerequisites", {"items": ("i.csv", "item,skills\ni1,s1\n"),
                             "prerequisites": ("p.csv", "prerequisite,skill\ns1\n")}),
    ("short resources", {"items": ("i.csv", "item,skills\ni1,s1\n"),
                         "resources": ("r.csv", "skill,kind,title\ns1\n")}),
])
def test_bad_course_csv_is_a_422_naming_the_line(client: TestClient, name: str, files: dict) -> None:
    res = client.post("/api/course/csv", files=files, headers=ADMIN)
    assert res.status_code == 422, (name, res.text)


@pytest.mark.parametrize(("users", "enrollments"), [
    ("sourcedId,role\nt1\n", "sourcedId,classSourcedId,userSourcedId,role\ne,c,t1,teacher\n"),
    ("sourcedId,role\nt1,teacher\nL9,student\n", "sourcedId,classSourcedId,userSourcedId,role\ne,c\n"),
    ("sourcedId,role\nt\x001,teacher\n", "sourcedId,classSourcedId,userSourcedId,role\ne,c,t\x001,teacher\n"),
])
def test_bad_roster_is_a_422(client: TestClient, users: str, enrollments: str) -> None:
    res = client.post("/api/roster/oneroster", files={"users": ("u.csv", users), "enrollments": ("e.csv", enrollments)},
                      headers=ADMIN)
    assert res.status_code == 422, res.text


@pytest.mark.parametrize("filename", ["logs.parquet", "..", "/", "dir/", "x.csv.gz"])
def test_garbage_log_uploads_are_a_422(client: TestClient, filename: str) -> None:
    res = client.post("/api/course/logs", files={"logs": (filename, b"PAR1\x00\x01garbage" * 50)}, headers=ADMIN)
    assert res.status_code == 422, res.text


# ----- 10. the smaller ones -------------------------------------------------------------------------
def test_dashboard_posts_need_the_session_token_and_this_origin(client: TestClient) -> None:
    key = client.post("/api/keys", json={"role": "learner", "subject": "L1"}, headers=ADMIN).json()["key"]
    client.post("/login", data={"key": key})
    page = client.get("/practice").text
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    form = {"learner": "L1", "item": ITEM, "correct": "1", "event": "ev1"}
    assert client.post("/practice/answer", data=form, follow_redirects=False).status_code == 403
    assert client.post("/practice/answer", data={**form, "csrf": csrf}, headers={"Origin": "https://evil.example"},
                       follow_redirects=False).status_code == 403
    assert client.post("/login", data={"key": key}, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post("/practice/answer", data={**form, "csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.post("/practice/answer", data={**form, "event": "ev2"}, headers={"X-CSRF-Token": csrf,
                                                                                    "HX-Request": "true"}).status_code == 200


def test_security_headers(client: TestClient) -> None:
    api = client.get("/api/learners/L1/state", headers=ADMIN)
    page = client.get("/")
    static = client.get("/static/app.js")
    for res in (api, page, static):
        assert res.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in res.headers["content-security-policy"]
        assert "'unsafe-eval'" not in res.headers["content-security-policy"]
        assert res.headers["referrer-policy"] == "same-origin"
    assert api.headers["cache-control"] == "no-store" and page.headers["cache-control"] == "no-store"
    assert "cache-control" not in static.headers or "no-store" not in static.headers["cache-control"]
    assert "strict-transport-security" not in api.headers
    assert client.get("https://testserver/api/learners/L1/state", headers=ADMIN).headers["strict-transport-security"]


def test_resource_urls_must_be_web_links(client: TestClient) -> None:
    course = {**_course(), "resources": [{"skill": "s01", "title": "x", "url": "javascript:alert(1)"}]}
    assert client.post("/api/course", json=course, headers=ADMIN).status_code == 422
    course["resources"][0]["url"] = "https://example.org/fractions"
    assert client.post("/api/course", json=course, headers=ADMIN).status_code == 200


def test_failed_keys_are_rate_limited(client: TestClient, settings: Settings) -> None:
    codes = [client.get("/api/learners/L1/state", headers={"X-API-Key": f"wrong-{n}"}).status_code
             for n in range(settings.login_attempts + 2)]
    assert codes[: settings.login_attempts] == [401] * settings.login_attempts
    assert codes[-1] == 429
    res = client.get("/api/learners/L1/state", headers=ADMIN)  # the right key from the same address, too
    assert res.status_code == 429 and int(res.headers["retry-after"]) > 0


def test_the_openapi_spec_documents_every_error(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for code in ("401", "403", "422"):
                assert code in op["responses"], (method, path, code)
    problem = spec["components"]["schemas"]["Problem"]["properties"]["detail"]
    assert {"type": "string"} in problem["anyOf"]


def test_access_log_names_learners_by_pseudonym() -> None:
    import logging

    from metatutor.service.app import _Pseudonyms

    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/api/learners/alice-42/state?x=1", "1.1", 200), None)
    _Pseudonyms(b"secret").filter(record)
    line = record.getMessage()
    assert "alice-42" not in line and "/api/learners/~" in line and "/state" in line


@pytest.mark.parametrize("value", ["a\x00b", "\ud800", "x" * 201])
def test_hostile_values_on_dashboard_pages_are_a_4xx(client: TestClient, value: str) -> None:
    from urllib.parse import quote

    client.post("/login", data={"key": "admin-secret"})
    csrf = client.get("/class").text.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]
    encoded = quote(value.encode("utf-8", "surrogatepass"))
    for path in (f"/practice?learner={encoded}", f"/class?teacher={encoded}", f"/assess?learner={encoded}",
                 f"/class/learner/{encoded}"):
        assert client.get(path).status_code < 500, path  # refused, or (invalid UTF-8) read as U+FFFD
    form = {"learner": value, "item": value, "correct": "1", "event": value, "csrf": csrf}
    for path in ("/practice/answer", "/assess/start"):
        res = client.post(path, content="&".join(f"{k}={quote(v.encode('utf-8', 'surrogatepass'))}"
                                                 for k, v in form.items()),
                          headers={"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf})
        assert 400 <= res.status_code < 500, (path, res.status_code)
