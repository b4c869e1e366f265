"""`metatutor serve --workers N`: a listening socket per worker, connections spread over all of them."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
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
