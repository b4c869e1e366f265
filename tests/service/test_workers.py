"""`metatutor serve --workers N`: a listening socket per worker, connections spread over all of them."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
from metatutor.service.workers import reuseport_supported

pytestmark = pytest.mark.skipif(not reuseport_supported(), reason="SO_REUSEPORT balancing is Linux-only")
KEY = "workers-admin"


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _workers(pid: int) -> list[int]:
    """The serving children (not multiprocessing's resource tracker)."""
    return [c for c in _children(pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _sockets_per_process(pids: list[int], port: int, state: str) -> dict[int, int]:
    """TCP sockets on local `port` in `state` ('01' established, '0A' listening) held by each pid."""
    owner = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                owner[target[8:-1]] = pid
    counts = dict.fromkeys(pids, 0)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == state and f[9] in owner:
                counts[owner[f[9]]] += 1
    return counts


def test_kept_alive_connections_spread_over_the_workers_and_sigint_stops_them_all(
        tmp_path: Path, free_port: int, start_server: Callable[..., Any]) -> None:
    port = free_port
    log = tmp_path / "serve.log"
    proc = start_server(tmp_path / "w.db", port, KEY, "--workers", "2", log=log)
    conns: list[http.client.HTTPConnection] = []
    try:
        workers = _workers(proc.pid)
        assert len(workers) == 2
        assert _sockets_per_process(workers, port, "0A") == dict.fromkeys(workers, 1)  # one listener each
        for _ in range(40):  # an app's backend opening its pool of kept-alive connections at once
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.connect()
            conns.append(conn)
        for conn in conns:
            conn.request("GET", "/api/models", headers={"X-API-Key": KEY})
            res = conn.getresponse()
            res.read()
            assert res.status == 200
        spread = _sockets_per_process(workers, port, "01")
        assert sum(spread.values()) == 40
        assert min(spread.values()) >= 5, spread  # a shared socket gave splits as bad as 46/4 and 50/0
    finally:
        for conn in conns:
            conn.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, log.read_text()
    assert not [w for w in workers if Path(f"/proc/{w}").exists() and
                b"spawn_main" in Path(f"/proc/{w}/cmdline").read_bytes()]  # no worker left behind


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status  # a zombie has exited


def test_workers_stop_when_the_supervisor_is_killed_and_nothing_acknowledged_is_lost(
        tmp_path: Path, free_port: int, start_server: Callable[..., Any]) -> None:
    import json
    import threading
    import time
    import urllib.error
    import urllib.request

    from sqlalchemy import create_engine, text

    from metatutor.service.store import builtin_course

    def post(path: str, body: object) -> int:
        req = urllib.request.Request(f"http://127.0.0.1:{free_port}{path}", data=json.dumps(body).encode(),
                                     method="POST", headers={"X-API-Key": KEY, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as res:
            return int(res.status)

    db = tmp_path / "w.db"
    proc = start_server(db, free_port, KEY, "--workers", "2", log=tmp_path / "serve.log")
    workers = _workers(proc.pid)
    assert len(workers) == 2
    acknowledged: list[str] = []
    try:
        assert post("/api/course", builtin_course(n_skills=4, items_per_skill=5)) == 200
        assert post("/api/learners", {"id": "a"}) == 201
        killer = threading.Timer(1.5, lambda: os.kill(proc.pid, signal.SIGKILL))
        killer.start()
        for n in range(100_000):
            event = {"event_id": f"e{n}", "item": "i01-001", "correct": n % 3 > 0, "timestamp": float(n)}
            try:
                if post("/api/learners/a/responses", {"responses": [event]}) == 200:
                    acknowledged.append(f"e{n}")
            except (urllib.error.URLError, ConnectionError, OSError):
                break
        killer.join()
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 20
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)], "workers kept serving after their supervisor died"
    assert len(acknowledged) > 5
    restarted = start_server(db, free_port, KEY)  # the port is free again, and the database whole
    restarted.kill()
    restarted.wait()
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT event_id FROM responses WHERE learner_id = 'a'"))]
        answers = conn.execute(text("SELECT answers FROM learner_states WHERE learner_id = 'a'")).scalar_one()
    engine.dispose()
    assert len(stored) == len(set(stored))  # none twice
    assert set(acknowledged) <= set(stored)  # none lost
    assert answers == len(stored)


def test_a_second_server_does_not_join_live_workers_on_their_port(
        tmp_path: Path, free_port: int, start_server: Callable[..., Any]) -> None:
    proc = start_server(tmp_path / "one.db", free_port, KEY, "--workers", "2")
    try:
        env = {**os.environ, "METATUTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'two.db'}"}
        second = subprocess.run([sys.executable, "-m", "metatutor.cli", "serve", "--port", str(free_port),
                                 "--workers", "2"], env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        assert "still serves" in second.stdout + second.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
