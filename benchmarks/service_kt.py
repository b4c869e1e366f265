"""A knowledge-tracing model behind the web service, timed request by request: `metatutor serve` (one
worker) on loopback, one client with a kept-alive connection. Learners replay their logged answers one
at a time, and after each answer ask the active KT model for the next item's P(correct) and, every
`--bank-every` answers, for every item of the course. The course and the model are loaded beforehand
through the same API, in process.

    python benchmarks/service_kt.py --model DIR --logs LOGS [--learners 20] [--steps 100]
                                    [--database-url URL] [--json FILE]

DIR: a model saved by `metatutor train` (attn, dkt, irt or ensemble); LOGS: the learners to replay (the
course is every item and skill in LOGS and in `--course-logs`). Prints the median and p99 (ms) of each
request kind (client-side, so HTTP on loopback included)."""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from loopback import serving
from sklearn.metrics import roc_auc_score

from metatutor.data import read_responses
from metatutor.data.responses import Responses
from metatutor.models import load_model
from metatutor.service.app import create_app
from metatutor.service.settings import Settings

ADMIN = {"X-API-Key": "bench"}


def course_of(frames: list[pd.DataFrame]) -> dict[str, object]:
    """Every item with its skills (no prerequisites), from long tables of responses."""
    table = pd.concat(frames)[["item", "skill"]].drop_duplicates("item")
    skills = sorted({s for joined in table["skill"] for s in str(joined).split("~~") if s})
    items = [{"id": str(i), "skills": [s for s in str(k).split("~~") if s]} for i, k in zip(table["item"], table["skill"], strict=True)]
    return {"skills": skills, "prerequisites": [], "items": items}


def _call(conn: http.client.HTTPConnection, method: str, path: str, body: dict[str, object] | None = None) -> object:
    headers = {**ADMIN, **({"Content-Type": "application/json"} if body is not None else {})}
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    res = conn.getresponse()
    data = res.read()
    if res.status != 200:
        raise RuntimeError(f"{method} {path}: {res.status} {data[:300]!r}")
    return json.loads(data)


def replay_learners(conn: http.client.HTTPConnection, replay: pd.DataFrame, learners: list[str], steps: int,
                    bank_every: int, n_items: int, run: str) -> tuple[dict[str, list[float]], list[float]]:
    """Each learner's answers one by one: the seconds each request took, by kind, and the served
    P(correct) of each next answer (responses 2 to steps + 1 of each learner, in order)."""
    times: dict[str, list[float]] = {"answer": [], "next_item": [], "whole_course": []}
    served: list[float] = []
    first_read = True
    for name in learners:
        rows = replay[replay["learner"] == name].head(steps + 1)
        learner = f"{name}-{run}"
        for n in range(len(rows) - 1):
            r, nxt = rows.iloc[n], rows.iloc[n + 1]
            body = {"responses": [{"event_id": str(n), "item": str(r["item"]), "correct": bool(r["correct"])}]}
            t0 = time.perf_counter()
            _call(conn, "POST", f"/api/learners/{learner}/responses", body)
            t1 = time.perf_counter()
            got = _call(conn, "GET", f"/api/learners/{learner}/predict?" + urllib.parse.urlencode(
                {"items": str(nxt["item"]), "by": "kt"}))
            t2 = time.perf_counter()
            assert isinstance(got, dict)
            served.append(float(got[str(nxt["item"])]))
            if first_read:  # loads the model into the worker: not a step
                first_read = False
            else:
                times["answer"].append(t1 - t0)
                times["next_item"].append(t2 - t1)
            if n % bank_every == bank_every - 1:
                t0 = time.perf_counter()
                every = _call(conn, "GET", f"/api/learners/{learner}/predict?by=kt")
                times["whole_course"].append(time.perf_counter() - t0)
                assert isinstance(every, dict) and len(every) == n_items
    return times, served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--logs", type=Path, required=True, help="the learners to replay")
    parser.add_argument("--course-logs", type=Path, nargs="*", default=[], help="more logs whose items join the course")
    parser.add_argument("--learners", type=int, default=20)
    parser.add_argument("--steps", type=int, default=100, help="answers replayed per learner (at most)")
    parser.add_argument("--bank-every", type=int, default=10)
    parser.add_argument("--database-url")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    replay = read_responses(args.logs).to_frame()
    course = course_of([replay, *(read_responses(p).to_frame() for p in args.course_logs)])
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        client = TestClient(create_app(Settings(database_url=url, admin_key="bench")))
        t0 = time.perf_counter()
        assert client.post("/api/course", json=course, headers=ADMIN).status_code == 200
        course_s = time.perf_counter() - t0
        files = {name: (name, (args.model / name).read_bytes()) for name in ("model.json", "arrays.safetensors")}
        t0 = time.perf_counter()
        up = client.post("/api/models/kt", files={"model": files["model.json"], "arrays": files["arrays.safetensors"]},
                         headers=ADMIN)
        assert up.status_code == 201, up.text
        upload_s = time.perf_counter() - t0
        learners = list(dict.fromkeys(replay["learner"]))[: args.learners]
        run = f"run{int(time.time())}"  # the service's learner ids: new ones on every run, even on a used database
        for learner in learners:
            assert client.post("/api/learners", json={"id": f"{learner}-{run}"}, headers=ADMIN).status_code == 201
        client.app.state.engine.dispose()  # type: ignore[attr-defined]
        with serving(url, "bench") as server:
            conn = http.client.HTTPConnection("127.0.0.1", server.port)  # type: ignore[attr-defined]
            times, served = replay_learners(conn, replay, learners, args.steps, args.bank_every,
                                            len(course["items"]), run)  # type: ignore[arg-type]
    # the same answers scored by the saved model in one batch, as `metatutor predict` does
    rows = pd.concat([replay[replay["learner"] == x].head(args.steps + 1) for x in learners])
    subset = Responses.from_frame(rows.drop(columns=["order"]), merge_multiskill=False)
    batch = load_model(str(args.model)).predict_proba(subset)
    later = np.concatenate([np.arange(a + 1, b) for a, b in zip(subset.starts[:-1], subset.starts[1:], strict=True)])
    truth = subset.correct[later]
    ms = {k: np.array(v) * 1000 for k, v in times.items()}
    out = {"model": json.loads((args.model / "model.json").read_text())["model"], "logs": str(args.logs),
           "database": "postgresql" if args.database_url else "sqlite", "course_items": len(course["items"]),  # type: ignore[arg-type]
           "learners": len(learners), "course_seconds": round(course_s, 2), "upload_seconds": round(upload_s, 2),
           **{f"{k}_ms_median": round(float(np.median(v)), 2) for k, v in ms.items()},
           **{f"{k}_ms_p99": round(float(np.percentile(v, 99)), 2) for k, v in ms.items()},
           "counts": {k: len(v) for k, v in ms.items()},
           "next_item_auc_served": round(float(roc_auc_score(truth, served)), 4),
           "next_item_auc_batch": round(float(roc_auc_score(truth, batch[later])), 4),
           "max_abs_difference": round(float(np.abs(np.asarray(served) - batch[later]).max()), 5)}
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
