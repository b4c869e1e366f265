"""The dashboard's pages without a browser: what each role is sent to, and errors shown on the page."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
from fastapi.testclient import TestClient

from metatutor.service.app import create_app
from metatutor.service.settings import Settings
from metatutor.service.store import builtin_course

ADMIN = {"X-API-Key": "admin-secret"}


@pytest.fixture()
def client(tmp_path: Path) -> TestClient:
    c = TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path / 'd.db'}", admin_key="admin-secret")))
    c.post("/api/course", json=builtin_course(n_skills=3, items_per_skill=4), headers=ADMIN)
    c.post("/api/learners", json={"id": "a", "teacher": "t1"}, headers=ADMIN)
    return c


def _login(client: TestClient, key: str) -> str:
    res = client.post("/login", data={"key": key}, follow_redirects=False)
    assert res.status_code == 303
    return res.headers["location"]


def test_each_role_lands_on_its_page_and_a_bad_key_is_refused(client: TestClient) -> None:
    assert "Unknown key" in client.post("/login", data={"key": "nope"}).text
    assert _login(client, "admin-secret") == "/class"
    assert client.get("/practice", follow_redirects=False).headers["location"] == "/class"  # pick a learner
    page = client.get("/class").text
    assert "Class of t1" in page and 'id="heatmap"' in page
    learner = client.post("/api/keys", json={"role": "learner", "subject": "a"}, headers=ADMIN).json()["key"]
    client.post("/logout")
    assert client.get("/practice", follow_redirects=False).headers["location"] == "/"  # logged out
    assert _login(client, learner) == "/practice"
    assert "Practise: a" in client.get("/practice").text


def test_an_assessment_without_an_item_bank_says_so_on_the_page(client: TestClient) -> None:
    _login(client, "admin-secret")
    res = client.post("/assess/start", data={"learner": "a"}, headers={"HX-Request": "true"})
    assert res.status_code == 200 and 'id="assess-error"' in res.text and "item bank" in res.text


def test_the_learner_page_shows_the_kt_model_s_view_once_one_is_active(client: TestClient, tmp_path: Path) -> None:
    import json
    import re

    from metatutor.data.simulator import Simulator, SimulatorConfig
    from metatutor.models import make_model

    _login(client, "admin-secret")
    assert 'id="kt"' not in client.get("/class/learner/a").text  # no KT model yet: no card
    logs = Simulator(SimulatorConfig(n_skills=3, items_per_skill=4), random_state=0).simulate(20)
    folder = make_model("irt").fit(logs).save(tmp_path / "irt")
    files = {"model": ("model.json", (folder / "model.json").read_bytes()),
             "arrays": ("arrays.safetensors", (folder / "arrays.safetensors").read_bytes())}
    assert client.post("/api/models/kt", files=files, headers=ADMIN).status_code == 201
    answers = [{"event_id": f"e{n}", "item": "i01-001", "correct": True} for n in range(3)]
    client.post("/api/learners/a/responses", json={"responses": answers}, headers=ADMIN)
    page = client.get("/class/learner/a").text
    card = page[page.index('id="kt"'):]
    assert "irt, version" in card
    spec = json.loads(re.search(r"data-vega-spec='([^']*)'", card).group(1).replace("&#34;", '"'))  # type: ignore[union-attr]
    shown = {v["skill"]: v["p_correct"] for v in spec["data"]["values"]}
    api = {s["skill"]: s["p_correct"] for s in client.get("/api/learners/a/kt", headers=ADMIN).json()["skills"]}
    assert shown == api and len(shown) == 3
