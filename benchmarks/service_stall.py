"""Does one request stall every other? A `metatutor serve` (one worker, SQLite) is pinged every 50 ms with
a learner's state read while the largest requests it allows run beside it; every ping's wait is recorded.

Scenarios: the largest answer batch (`max_batch` answers, ids at their longest); a body over the limit
(refused with 413 as it arrives); a whole-course upload (15,921 items, as large as assist2009_pid's); the
first read of a learner with 50,000 answers after a model switch (rebuilt in the background); and the
rebuild itself running. Target: no ping waits more than 100 ms.

    python benchmarks/service_stall.py --json docs/results/service_stall.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

KEY = "stall-admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, db: Path, port: int) -> None:
        env = {**os.environ, "METATUTOR_DATABASE_URL": f"sqlite:///{db}", "METATUTOR_ADMIN_KEY": KEY,
               "METATUTOR_LOGIN_ATTEMPTS": "1000000"}
        self.port = port
        self.proc = subprocess.Popen([sys.executable, "-m", "metatutor.cli", "serve", "--port", str(port)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                self.call("GET", "/openapi.json")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def call(self, method: str, path: str, body: bytes | None = None, timeout: float = 600) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
            conn.request(method, path, body=body, headers=headers)
            res = conn.getresponse()
            return res.status, res.read()
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _ping(port: int, path: str, every: float, stop: Any, out: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    pings: list[tuple[float, float]] = []
    next_at = time.perf_counter()
    while not stop.is_set():
        start = time.perf_counter()
        conn.request("GET", path, headers={"X-API-Key": KEY})
        res = conn.getresponse()
        res.read()
        assert res.status == 200, res.status
        pings.append((start, time.perf_counter() - start))
        next_at += every
        time.sleep(max(0.0, next_at - time.perf_counter()))
    conn.close()
    out.send(pings)


class Pinger:
    """A state read every `every` seconds on its own kept-alive connection; (start, wait) of each. It runs in
    a process of its own, so that this process's work (building bodies, its collector) delays no ping."""

    def __init__(self, port: int, path: str, every: float = 0.05) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_ping, args=(port, path, every, self._stop, send), daemon=True)
        self.pings: list[tuple[float, float]] = []

    def __enter__(self) -> Pinger:
        self._proc.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.pings = self._recv.recv()  # perf_counter is the system's monotonic clock: comparable across processes
        self._proc.join()


def answers(learner_offset: int, n: int, *, long_ids: bool = False) -> bytes:
    pad = "x" * (190 if long_ids else 0)
    return json.dumps({"responses": [
        {"event_id": f"{pad}e{learner_offset + k}", "item": f"i{1 + k % 12:02d}-{1 + k % 25:03d}", "correct": k % 3 > 0,
         "timestamp": 1_700_000_000.0 + 30.0 * (learner_offset + k)} for k in range(n)]}).encode()


def scenario(server: Server, name: str, work: Any, settle: float = 0.3) -> dict[str, Any]:
    """Run `work()` while pinging; the pings that overlapped it count."""
    with Pinger(server.port, "/api/learners/pinger/state") as pinger:
        time.sleep(settle + 1.0)  # the pinging process starts
        began = time.perf_counter()
        status = work()
        took = time.perf_counter() - began
        time.sleep(settle)
    during = [w for s, w in pinger.pings if began - 0.06 <= s <= began + took]
    waits = sorted(w for _, w in pinger.pings)
    out = {"scenario": name, "status": status, "request_s": round(took, 3), "pings": len(pinger.pings),
           "pings_during": len(during), "max_ping_ms": round(1000 * max(waits), 1),
           "p99_ping_ms": round(1000 * waits[int(0.99 * (len(waits) - 1))], 1),
           "median_ping_ms": round(1000 * statistics.median(waits), 1)}
    print(json.dumps(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="Write the results here.")
    parser.add_argument("--history", type=int, default=50_000, help="Answers of the learner rebuilt after a switch.")
    args = parser.parse_args()

    from metatutor.service.settings import Settings
    from metatutor.service.store import builtin_course

    limits = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "stall.db", free_port())
        try:
            course = json.dumps(builtin_course(n_skills=12, items_per_skill=25)).encode()
            assert server.call("POST", "/api/course", course)[0] == 200
            for learner in ("pinger", "big"):
                assert server.call("POST", "/api/learners", json.dumps({"id": learner}).encode())[0] == 201
            server.call("POST", "/api/learners/pinger/responses", answers(0, 50))
            results = []
            batch = answers(10**6, limits.max_batch, long_ids=True)
            results.append(scenario(server, f"largest answer batch ({limits.max_batch} answers, {len(batch)} bytes)",
                                    lambda: server.call("POST", "/api/learners/big/responses", batch)[0]))
            over = b'{"responses": [' + b" " * (40 * 2**20) + b"]}"
            results.append(scenario(server, f"a body over the limit ({len(over)} bytes, refused)",
                                    lambda: _refused(server, over)))
            big_course = builtin_course(n_skills=110, items_per_skill=145)  # 15,950 items
            body = json.dumps(big_course).encode()
            results.append(scenario(server, f"course upload ({len(big_course['items'])} items, {len(body)} bytes)",
                                    lambda: server.call("POST", "/api/course", body)[0]))
            assert server.call("POST", "/api/course", course)[0] == 200  # back to the small course
            server.call("GET", "/api/learners/pinger/state")
            for start in range(0, args.history, limits.max_batch):  # the long history, batch by batch
                server.call("POST", "/api/learners/big/responses", answers(start, limits.max_batch))
            assert server.call("POST", "/api/course", course)[0] == 200  # a model switch
            server.call("GET", "/api/learners/pinger/state")
            results.append(scenario(server, f"first read of a learner with {args.history} answers after a switch",
                                    lambda: server.call("GET", "/api/learners/big/state")[0], settle=0.1))
            results.append(scenario(server, "the background rebuild of that learner, until its state reads",
                                    lambda: _until_ready(server), settle=0.1))
        finally:
            server.stop()
    report = {"benchmark": "service_stall", "target_max_ping_ms": 100.0,
              "max_ping_ms": max(r["max_ping_ms"] for r in results), "scenarios": results,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "settings": {"max_batch": limits.max_batch, "max_body_bytes": limits.max_body_bytes,
                           "rebuild_inline": limits.rebuild_inline}}
    print(f"largest ping wait: {report['max_ping_ms']} ms (target ≤ 100 ms)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


def _refused(server: Server, body: bytes) -> int:
    try:
        return server.call("POST", "/api/learners/big/responses", body)[0]
    except (ConnectionError, OSError):  # the server may close the connection mid-upload after its 413
        return 413


def _until_ready(server: Server) -> int:
    while True:
        status, _ = server.call("GET", "/api/learners/big/state")
        if status == 200:
            return status
        time.sleep(0.2)


if __name__ == "__main__":
    main()
