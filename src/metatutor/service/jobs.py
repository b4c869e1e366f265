"""Background training jobs: a job row holds status and progress; the work runs in a thread of the worker
that accepted it, with its own database session. A job left running by a stopped server is marked failed
at the next start (`fail_interrupted`). When the process exits, running KT fits stop at their next epoch
(`stop_all`), rather than being cut off inside torch."""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from metatutor.policy import SkillTracker
from metatutor.service import store
from metatutor.service import tables as t

Report = Callable[[float, str], None]

_stopping = threading.Event()
_threads: set[threading.Thread] = set()
_threads_lock = threading.Lock()


class JobInterrupted(RuntimeError):
    """The process is stopping: the job ends at its next epoch."""


def stop_all(timeout: float = 30.0) -> None:
    """Ask running jobs to stop at their next epoch and wait for them (at most `timeout` seconds)."""
    _stopping.set()
    with _threads_lock:
        running = list(_threads)
    deadline = time.monotonic() + timeout
    for thread in running:
        thread.join(max(0.0, deadline - time.monotonic()))
    _stopping.clear()


atexit.register(stop_all)


def start(sessions: sessionmaker[Session], kind: str, work: Callable[[Session, Report], int],
          on_done: Callable[[], None] = lambda: None) -> int:
    """Queue `work(session, report) -> model version id` and run it in a thread (then `on_done()`, if it
    succeeded); returns the job id."""
    with sessions() as session:
        job = t.Job(kind=kind, status="queued", progress=0.0, message="queued", created=time.time())
        session.add(job)
        session.commit()
        job_id = job.id
    thread = threading.Thread(target=_run, args=(sessions, job_id, work, on_done), name=f"job-{job_id}", daemon=True)
    with _threads_lock:
        _threads.add(thread)
    thread.start()
    return job_id


def _run(sessions: sessionmaker[Session], job_id: int, work: Callable[[Session, Report], int],
         on_done: Callable[[], None]) -> None:
    def report(progress: float, message: str) -> None:
        with sessions() as s:
            s.execute(update(t.Job).where(t.Job.id == job_id).values(status="running", progress=progress,
                                                                      message=message))
            s.commit()

    try:
        with sessions() as session:
            version = work(session, report)
        on_done()
        values: dict[str, Any] = {"status": "done", "progress": 1.0, "message": f"model version {version}",
                                  "model_version": version}
    except Exception as exc:  # the job records any failure; the server goes on
        values = {"status": "failed", "message": f"{type(exc).__name__}: {exc}"[:500]}
    try:
        with sessions() as s:
            s.execute(update(t.Job).where(t.Job.id == job_id).values(finished=time.time(), **values))
            s.commit()
    finally:
        with _threads_lock:
            _threads.discard(threading.current_thread())


def fail_interrupted(session: Session) -> None:
    session.execute(update(t.Job).where(t.Job.status.in_(["queued", "running"]))
                    .values(status="failed", message="interrupted: the server stopped", finished=time.time()))
    session.commit()


def train_tracker(*, activate: bool, seed: int = 0) -> Callable[[Session, Report], int]:
    """The work of a training job: fit the skill tracker on every stored response, store it as a new
    version (JSON parameters, no pickle) and, if asked, make it the active one."""

    def work(session: Session, report: Report) -> int:
        began = time.perf_counter()
        report(0.05, "reading stored responses")
        responses = store.stored_responses(session)
        version, current = store.TrackerCache(ttl=0).get(session)
        report(0.3, f"fitting on {len(responses)} responses of {responses.n_learners} learners")
        tracker = SkillTracker.fit(responses, current.graph, random_state=seed)
        fitted = tracker.to_dict()
        base = current.to_dict()  # items nobody answered keep the current parameters' defaults
        report(0.9, "storing the new version")
        info = {"responses": len(responses), "learners": responses.n_learners, "items_answered": len(fitted["items"]),
                "trained_from_version": version, "seconds": round(time.perf_counter() - began, 2)}
        return store.activate(session, "tracker", _merge(base, fitted), info=info, active=activate)

    return work


def _merge(base: dict[str, Any], fitted: dict[str, Any]) -> dict[str, Any]:
    """The fitted tracker over the course's whole item list: items without answers keep their current offset."""
    if set(base["items"]) == set(fitted["items"]):
        return fitted
    offsets = dict(zip(fitted["items"], fitted["offset"], strict=True))
    return {**fitted, "items": base["items"], "item_skills": base["item_skills"],
            "offset": [offsets.get(i, old) for i, old in zip(base["items"], base["offset"], strict=True)]}


def train_kt(name: str, *, activate: bool, seed: int = 0, max_epochs: int | None = None,
             valid: float = 0.2) -> Callable[[Session, Report], int]:
    """The work of a KT training job: fit model `name` on every stored response (a seeded share `valid` of
    the learners early-stops it, as `metatutor train` does), reporting each epoch, and store it as a new
    KT version (active if asked)."""

    def work(session: Session, report: Report) -> int:
        from metatutor.data.splits import holdout_split
        from metatutor.evaluation.metrics import score
        from metatutor.models import make_model
        from metatutor.models.epochs import follow_epochs
        from metatutor.models.serving import ServedModel
        from metatutor.service import kt

        began = time.perf_counter()
        report(0.02, "reading stored responses")
        responses = store.stored_responses(session)
        fit_on, valid_on = holdout_split(responses, valid_fraction=valid, random_state=seed)
        model = make_model(name, random_state=seed, **({} if max_epochs is None else {"max_epochs": max_epochs}))
        most = getattr(model.config, "max_epochs", None)

        def epoch(model_name: str, n: int, record: dict[str, float]) -> None:
            if _stopping.is_set():
                raise JobInterrupted("interrupted: the server stopped")
            auc = f", validation AUC {record['valid_auc']:.4f}" if "valid_auc" in record else ""
            report(0.05 + 0.85 * min(1.0, n / most) if most else 0.5, f"fitting {model_name}: epoch {n}{auc}")

        report(0.05, f"fitting {name} on {len(fit_on)} responses of {fit_on.n_learners} learners")
        with follow_epochs(epoch):
            model.fit(fit_on, valid_on)
        served = ServedModel(model)
        report(0.92, "storing the new version")
        valid_auc = None
        if valid_on is not None and len(set(valid_on.correct.tolist())) > 1:
            valid_auc = round(score(valid_on.correct, model.predict_proba(valid_on))["auc"], 4)
        info = {"source": "trained", "model": name, "responses": len(responses), "learners": responses.n_learners,
                "train_learners": fit_on.n_learners, "valid_learners": 0 if valid_on is None else valid_on.n_learners,
                "valid_auc": valid_auc, "seed": seed, "seconds": round(time.perf_counter() - began, 2),
                **kt.course_coverage(session, served)}
        return kt.store_model(session, served, info=info, activate=activate)

    return work
