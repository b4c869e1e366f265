"""Load on loopback: N concurrent simulated learners, each posting one answer and then asking for the
next item, in a loop, against `metatutor serve` (one process) on SQLite or PostgreSQL.

    python benchmarks/service_load.py [--learners 50] [--seconds 20] [--database-url URL] [--json FILE]

Prints requests/s, answers/s and latency percentiles (ms) of each kind of request.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from metatutor.service.store import builtin_course

KEY = "load-admin"


def _call(port: int, method: str, path: str, body: object | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read() or b"{}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--learners", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--database-url")
    ap.add_argument("--json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    url = args.database_url or f"sqlite:///{tmp / 'load.db'}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "METATUTOR_DATABASE_URL": url, "METATUTOR_ADMIN_KEY": KEY}
    server = subprocess.Popen([sys.executable, "-m", "metatutor.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        _call(port, "POST", "/api/course", builtin_course())
        names = [f"load{j:03d}-{int(time.time())}" for j in range(args.learners)]
        for name in names:
            _call(port, "POST", "/api/learners", {"id": name})
        lat: dict[str, list[float]] = {"answer": [], "next": []}
        lock = threading.Lock()
        stop = time.perf_counter() + args.seconds

        def learner(name: str) -> None:
            rng = np.random.default_rng(abs(hash(name)) % 2**32)
            item, n = "i01-001", 0
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                _call(port, "POST", f"/api/learners/{name}/responses",
                      {"responses": [{"event_id": str(n), "item": item, "correct": bool(rng.random() < 0.6)}]})
                t1 = time.perf_counter()
                item = _call(port, "GET", f"/api/learners/{name}/next")["item"]
                t2 = time.perf_counter()
                with lock:
                    lat["answer"].append(1000 * (t1 - t0))
                    lat["next"].append(1000 * (t2 - t1))
                n += 1

        threads = [threading.Thread(target=learner, args=(n,)) for n in names]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        server.kill()
        server.wait()
    both = lat["answer"] + lat["next"]
    out = {"database": url.split(":", 1)[0], "learners": args.learners, "seconds": round(elapsed, 1),
           "answers_per_s": len(lat["answer"]) / elapsed, "requests_per_s": len(both) / elapsed,
           **{f"{k}_ms_{q}": float(np.percentile(v, p)) for k, v in lat.items()
              for q, p in (("p50", 50), ("p99", 99))},
           "all_ms_p99": float(np.percentile(both, 99))}
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
