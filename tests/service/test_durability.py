"""A server killed with SIGKILL in the middle of a stream of ingests loses no acknowledged response and
stores none twice (SQLite in WAL mode; every request commits before it answers)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
from sqlalchemy import create_engine, text

from metatutor.service.store import builtin_course

KEY = "durable-admin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "METATUTOR_DATABASE_URL": f"sqlite:///{db}", "METATUTOR_ADMIN_KEY": KEY}
    proc = subprocess.Popen([sys.executable, "-m", "metatutor.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def _post(port: int, path: str, body: object) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as res:
        return int(res.status)


def test_sigkill_during_ingest_keeps_every_acknowledged_response_once(tmp_path: Path) -> None:
    db, port = tmp_path / "mt.db", _free_port()
    proc = _start(db, port)
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
    restarted = _start(db, port)  # the server comes back on the same database
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
