"""Load on loopback: N concurrent simulated learners, each posting one answer and then asking for the
next item, in a loop, against `metatutor serve --workers W` on SQLite or PostgreSQL. Each learner holds
one kept-alive connection. Two ways to ask for the next item:

- `--flow two` (default): POST /api/learners/{id}/responses, then GET /api/learners/{id}/next;
- `--flow one`: POST /api/learners/{id}/responses?next=default (the answer's reply carries the next item);
- `--flow graded`: the built-in maths course; each learner types an answer to the item it was given, which
  the server grades (POST /api/learners/{id}/attempts?next=default): right 60% of the time, otherwise one of
  the item's misconceptions or a wrong number.

    python benchmarks/service_load.py [--learners 50] [--seconds 20] [--workers 2] [--flow two|one]
                                      [--rate ANSWERS_PER_S] [--client asyncio|threads]
                                      [--database-url URL] [--json FILE]

Without --rate each learner answers again as soon as it has its next item (a closed loop: it measures
the most the server can take, and latency is then mostly queueing: learners / throughput). With
--rate R the learners together aim at R answers/s: each waits an exponential think time (mean
learners / R seconds) between answering and the next answer, as people do.

Prints requests/s, answers/s and latency percentiles (ms) of each kind of request; the load generator
runs on the same machine as the server, so the CPU it uses is taken from the server (both are recorded).
`--client asyncio` (default) runs the learners as coroutines of one event loop over plain HTTP/1.1
streams; `--client threads` (the generator of runs A-E) runs one thread per learner with
`http.client`, which costs more CPU and adds the threads' own waits for the GIL to the latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from loopback import serving

from metatutor.service.store import builtin_course

KEY = "load-admin"


def _call(conn: http.client.HTTPConnection, method: str, path: str, body: object | None = None) -> dict:
    """One request on a kept-alive connection (as an app's backend would hold one per worker)."""
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    res = conn.getresponse()
    payload = res.read()
    if res.status >= 400:
        raise RuntimeError(f"{method} {path}: {res.status} {payload[:200]!r}")
    return json.loads(payload or b"{}")


async def _acall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str, path: str,
                 body: object | None = None) -> dict:
    """One HTTP/1.1 request on a kept-alive stream (the server answers with a Content-Length)."""
    data = b"" if body is None else json.dumps(body).encode()
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: load\r\nX-API-Key: {KEY}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise RuntimeError(f"{method} {path}: chunked replies are not read by this client")
    payload = await reader.readexactly(length)
    if status >= 400:
        raise RuntimeError(f"{method} {path}: {status} {payload[:200]!r}")
    return json.loads(payload or b"{}")


def _cpu_probe() -> float:
    """Seconds of a fixed pure-Python loop: this shared machine's speed varies by 2x over a day, so runs
    are comparable only next to it."""
    t0, acc = time.perf_counter(), 0
    for i in range(3_000_000):
        acc += i * i
    return round(time.perf_counter() - t0, 3)


def _connections_per_worker(port: int) -> list[int]:
    """How many of the learners' kept-alive connections each server process holds (from `ss`), most
    first: with one listening socket shared by the workers, whichever worker is awake accepts, so a burst
    of new connections can land unevenly, and a worker with more of them queues more."""
    try:
        out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    counts: dict[str, int] = {}
    for line in out.splitlines():
        if "pid=" in line:
            pid = line.split("pid=", 1)[1].split(",", 1)[0]
            counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def _tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its children (the uvicorn workers), from /proc."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return round(total, 1)


def _meta_for_builtin(out: Path) -> Path:
    """The meta-learned learner model fitted on 300 learners simulated on the builtin course (as `metatutor
    train --model default` fits one on logs), saved to `out`."""
    from metatutor.data.simulator import Simulator
    from metatutor.data.splits import holdout_split
    from metatutor.learner.registry import fit_for_course

    logs = Simulator(random_state=0).simulate(300, (30, 150))
    fit_on, valid_on = holdout_split(logs, valid_fraction=0.2, random_state=0)
    fit_for_course("meta", fit_on, valid_on, logs, random_state=0).save(out)
    return out


def _upload_learner_model(conn: http.client.HTTPConnection, folder: Path) -> dict:
    """POST /api/models/learner with the saved model's files (multipart)."""
    boundary = "metatutor-load-boundary"
    parts = []
    for field, name in (("model", "learner.json"), ("arrays", "arrays.safetensors")):
        if (folder / name).exists():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                         f"Content-Type: application/octet-stream\r\n\r\n".encode() + (folder / name).read_bytes() + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    conn.request("POST", "/api/models/learner", body=body,
                 headers={"X-API-Key": KEY, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    res = conn.getresponse()
    payload = res.read()
    if res.status >= 400:
        raise RuntimeError(f"uploading {folder}: {res.status} {payload[:300]!r}")
    return json.loads(payload)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--learners", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--instances", type=int, default=1,
                    help="separate `metatutor serve` instances on one database (PostgreSQL), learners spread over them")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds of load before measuring")
    ap.add_argument("--flow", choices=("two", "one", "graded"), default="two")
    ap.add_argument("--rate", type=float, default=0.0, help="aimed answers/s of all learners (0: closed loop)")
    ap.add_argument("--client", choices=("asyncio", "threads"), default="asyncio")
    ap.add_argument("--database-url")
    ap.add_argument("--learner-model", type=Path,
                    help="a saved learner model (metatutor train --model default) to serve: uploaded to "
                         "POST /api/models/learner after the course; `meta` trains one first on learners simulated on "
                         "the course (flows one and two)")
    ap.add_argument("--json")
    args = ap.parse_args()
    probe = _cpu_probe()
    tmp = Path(tempfile.mkdtemp())
    url = args.database_url or f"sqlite:///{tmp / 'load.db'}"
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(serving(url, KEY, workers=args.workers, log=tmp / f"server{k}.log"))
                   for k in range(args.instances)]
        server = servers[0]
        port = server.port  # type: ignore[attr-defined]
        admin = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        if args.flow == "graded":
            from metatutor.content import course_body, generate

            course = course_body(per_template=20)
            first = course["items"][0]["id"]
        else:
            course, first = builtin_course(), "i01-001"
        _call(admin, "POST", "/api/course", course)
        served_model = "tracker"
        if args.learner_model is not None:
            folder = _meta_for_builtin(tmp / "meta") if str(args.learner_model) == "meta" else args.learner_model
            served_model = _upload_learner_model(admin, folder)["info"]["model"]
        stamp = int(time.time())
        names = [f"load{j:03d}-{stamp}" for j in range(args.learners)]
        ports = {name: servers[j % len(servers)].port for j, name in enumerate(names)}  # type: ignore[attr-defined]
        for name in names:
            _call(admin, "POST", "/api/learners", {"id": name})
        lat: dict[str, list[float]] = {"answer": [], "next": []}
        lock = threading.Lock()
        measure_from = time.perf_counter() + args.warmup  # the first seconds let every worker start
        stop = measure_from + args.seconds

        def record(t0: float, t1: float, t2: float) -> None:
            if t0 < measure_from:
                return
            lat["answer"].append(1000 * (t1 - t0))
            if args.flow == "two":
                lat["next"].append(1000 * (t2 - t1))

        def answer_body(rng: np.random.Generator, n: int, item: str) -> dict:
            if args.flow == "graded":  # what a learner would type (the load generator may know the key)
                content = generate(item)
                u = rng.random()
                if u < 0.6 or not content.misconceptions:
                    typed = content.parts[0].answer
                elif u < 0.9:
                    typed = str(content.misconceptions[int(rng.integers(len(content.misconceptions)))].answer[0])
                else:
                    typed = str(int(rng.integers(-50, 50)))
                return {"event_id": str(n), "item": item, "answer": typed, "seconds": float(rng.uniform(5, 60))}
            return {"responses": [{"event_id": str(n), "item": item, "correct": bool(rng.random() < 0.6)}]}

        answer_path = "attempts?next=default" if args.flow == "graded" else "responses?next=default"

        def learner(name: str) -> None:  # --client threads
            rng = np.random.default_rng(abs(hash(name)) % 2**32)
            item, n = first, 0
            conn = http.client.HTTPConnection("127.0.0.1", ports[name], timeout=30)
            due = time.perf_counter()
            while time.perf_counter() < stop:
                if args.rate > 0:  # think, then answer
                    due += rng.exponential(args.learners / args.rate)
                    time.sleep(max(0.0, due - time.perf_counter()))
                body = answer_body(rng, n, item)
                t0 = time.perf_counter()
                if args.flow != "two":
                    item = _call(conn, "POST", f"/api/learners/{name}/{answer_path}", body)["next"]["item"]
                    t1 = t2 = time.perf_counter()
                else:
                    _call(conn, "POST", f"/api/learners/{name}/responses", body)
                    t1 = time.perf_counter()
                    item = _call(conn, "GET", f"/api/learners/{name}/next")["item"]
                    t2 = time.perf_counter()
                with lock:
                    record(t0, t1, t2)
                n += 1

        async def async_learner(name: str) -> None:  # --client asyncio
            rng = np.random.default_rng(abs(hash(name)) % 2**32)
            item, n = first, 0
            reader, writer = await asyncio.open_connection("127.0.0.1", ports[name])
            due = time.perf_counter()
            while time.perf_counter() < stop:
                if args.rate > 0:
                    due += rng.exponential(args.learners / args.rate)
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                body = answer_body(rng, n, item)
                t0 = time.perf_counter()
                if args.flow != "two":
                    reply = await _acall(reader, writer, "POST", f"/api/learners/{name}/{answer_path}", body)
                    item = reply["next"]["item"]
                    t1 = t2 = time.perf_counter()
                else:
                    await _acall(reader, writer, "POST", f"/api/learners/{name}/responses", body)
                    t1 = time.perf_counter()
                    item = (await _acall(reader, writer, "GET", f"/api/learners/{name}/next"))["item"]
                    t2 = time.perf_counter()
                record(t0, t1, t2)
                n += 1
            writer.close()

        async def run_async() -> tuple[list[int], float]:
            tasks = [asyncio.create_task(async_learner(n)) for n in names]
            await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
            spread = await asyncio.to_thread(_connections_per_worker, port)
            cpu = sum(_tree_cpu(sv.pid) for sv in servers), time.process_time()
            await asyncio.gather(*tasks)
            return spread, cpu

        if args.client == "asyncio":
            spread, (cpu_before, client_before) = asyncio.run(run_async())
        else:
            threads = [threading.Thread(target=learner, args=(n,)) for n in names]
            for t in threads:
                t.start()
            time.sleep(max(0.0, measure_from - time.perf_counter()))
            spread = _connections_per_worker(port)
            cpu_before, client_before = sum(_tree_cpu(sv.pid) for sv in servers), time.process_time()
            for t in threads:
                t.join()
        elapsed = time.perf_counter() - measure_from
        server_cpu = round(sum(_tree_cpu(sv.pid) for sv in servers) - cpu_before, 1)
        client_cpu = round(time.process_time() - client_before, 1)
    both = lat["answer"] + lat["next"]
    out = {"database": url.split(":", 1)[0], "flow": args.flow, "workers": args.workers, "instances": args.instances,
           "warmup_s": args.warmup, "learner_model": served_model,
           "learners": args.learners, "seconds": round(elapsed, 1), "connections_per_worker": spread,
           "answers_per_s": len(lat["answer"]) / elapsed, "requests_per_s": len(both) / elapsed,
           **{f"{k}_ms_{q}": float(np.percentile(v, p)) for k, v in lat.items()
              for q, p in (("p50", 50), ("p99", 99)) if v},
           "all_ms_p99": float(np.percentile(both, 99)),
           "aimed_answers_per_s": args.rate or None,
           "client": args.client, "cpu_s_server": server_cpu, "cpu_s_client": client_cpu, "cpu_probe_s": probe}
    print(json.dumps(out, indent=1))
    print(f"server log: {tmp / 'server.log'}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
