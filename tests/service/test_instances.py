"""Two `metatutor serve` instances on loopback against one PostgreSQL, as behind a load balancer: answers
for the same learners go to both at once, replays go to the other instance, and a model switch made on
one reaches the other. Nothing is lost and nothing is counted twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
from sqlalchemy import create_engine, text

from metatutor.service.store import builtin_course

KEY = "instances-admin"


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def instances(postgres_url: str) -> Iterator[list[int]]:
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    env = {**os.environ, "METATUTOR_DATABASE_URL": postgres_url, "METATUTOR_ADMIN_KEY": KEY, "METATUTOR_CACHE_SECONDS": "0.5"}
    ports, procs = [], []
    for _ in range(2):
        port = _port()
        procs.append(subprocess.Popen([sys.executable, "-m", "metatutor.cli", "serve", "--port", str(port)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        ports.append(port)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
    yield ports
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def _call(port: int, method: str, path: str, body: object = None) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, json.loads(res.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_two_instances_lose_no_update_and_count_nothing_twice(instances: list[int], postgres_url: str) -> None:
    a, b = instances
    assert _call(a, "POST", "/api/course", builtin_course(n_skills=4, items_per_skill=5))[0] == 200
    learners = [f"l{n}" for n in range(4)]
    for name in learners:
        assert _call(a, "POST", "/api/learners", {"id": name})[0] == 201
    acknowledged: dict[str, set[str]] = {n: set() for n in learners}
    lock = threading.Lock()

    def answer(port: int, offset: int) -> None:
        for n in range(60):
            name = learners[n % len(learners)]
            event = f"e{offset + n}"
            status, _ = _call(port, "POST", f"/api/learners/{name}/responses", {"responses": [
                {"event_id": event, "item": f"i0{1 + n % 4}-00{1 + n % 5}", "correct": n % 3 > 0,
                 "timestamp": 1_700_000_000.0 + n}]})
            if status == 200:
                with lock:
                    acknowledged[name].add(event)

    threads = [threading.Thread(target=answer, args=(port, offset)) for port, offset in ((a, 0), (b, 1000), (a, 2000),
                                                                                           (b, 3000))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for name in learners:  # replays on the other instance are stored once
        replay = [{"event_id": e, "item": "i01-001", "correct": True} for e in sorted(acknowledged[name])[:5]]
        assert _call(b, "POST", f"/api/learners/{name}/responses", {"responses": replay})[1]["stored"] == 0
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        for name in learners:
            stored = [r[0] for r in conn.execute(text("SELECT event_id FROM responses WHERE learner_id = :n"),
                                                 {"n": name})]
            answers = conn.execute(text("SELECT answers FROM learner_states WHERE learner_id = :n"),
                                   {"n": name}).scalar_one()
            assert len(stored) == len(set(stored)) == len(acknowledged[name]) == 60  # nothing twice, nothing lost
            assert answers == 60  # the state stepped in every answer, whichever instance took it
    engine.dispose()
    state_a = _call(a, "GET", "/api/learners/l0/state")[1]
    state_b = _call(b, "GET", "/api/learners/l0/state")[1]
    assert state_a == state_b  # both instances read the same stored state


def test_a_model_switch_on_one_instance_reaches_the_other(instances: list[int]) -> None:
    a, b = instances
    assert _call(a, "POST", "/api/course", builtin_course(n_skills=4, items_per_skill=5))[0] == 200
    assert _call(b, "GET", "/api/learners/x/state")[0] == 404  # b has read the first course
    bigger = builtin_course(n_skills=5, items_per_skill=5)
    assert _call(a, "POST", "/api/course", bigger)[0] == 200
    _call(a, "POST", "/api/learners", {"id": "x"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, state = _call(b, "GET", "/api/learners/x/state")
        if status == 200 and len(state["skills"]) == 5:
            break
        time.sleep(0.2)
    assert len(state["skills"]) == 5
