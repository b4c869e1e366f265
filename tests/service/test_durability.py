"""A server killed with SIGKILL in the middle of a stream of ingests loses no acknowledged response and
stores none twice (SQLite in WAL mode; every request commits before it answers)."""

from __future__ import annotations

import json
import os
import signal
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
from sqlalchemy import create_engine, text

from metatutor.service.store import builtin_course

KEY = "durable-admin"


def _post(port: int, path: str, body: object) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as res:
        return int(res.status)


def test_sigkill_during_ingest_keeps_every_acknowledged_response_once(tmp_path: Path, free_port: int,
                                                                     start_server: Callable[..., Any]) -> None:
    db, port = tmp_path / "mt.db", free_port
    proc = start_server(db, port, KEY)
    try:
        assert _post(port, "/api/course", builtin_course(n_skills=4, items_per_skill=5)) == 200
        assert _post(port, "/api/learners", {"id": "a"}) == 201
        acknowledged: list[str] = []
        killer = threading.Timer(1.5, lambda: os.kill(proc.pid, signal.SIGKILL))
        killer.start()
        for n in range(100_000):
            event = {"event_id": f"e{n}", "item": "i01-001", "correct": n % 3 > 0, "timestamp": float(n)}
            try:
                if _post(port, "/api/learners/a/responses", {"responses": [event]}) == 200:
                    acknowledged.append(f"e{n}")
            except (urllib.error.URLError, ConnectionError, OSError):
                break
        killer.join()
    finally:
        proc.kill()
        proc.wait()
    assert len(acknowledged) > 5
    restarted = start_server(db, port, KEY)  # the server comes back on the same database
    restarted.kill()
    restarted.wait()
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT event_id FROM responses WHERE learner_id = 'a'"))]
        answers = conn.execute(text("SELECT answers FROM learner_states WHERE learner_id = 'a'")).scalar_one()
    engine.dispose()
    assert len(stored) == len(set(stored))  # none twice
    assert set(acknowledged) <= set(stored)  # none lost
    assert len(stored) - len(acknowledged) <= 1  # at most the one in flight when killed
    assert answers == len(stored)  # the learner's state was committed with its responses
