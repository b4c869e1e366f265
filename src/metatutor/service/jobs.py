"""Background training jobs, claimed by exactly one server instance.

A request queues a job (its kind and parameters in a `jobs` row); every instance runs a `JobRunner` that
claims queued jobs one at a time: on PostgreSQL with `SELECT … FOR UPDATE SKIP LOCKED`, so several
instances on one database never take the same job, and everywhere with a conditional update (the row
changes from queued to running only once). The claiming instance runs the job in a thread with its own
database session and beats a heartbeat while it runs. At start, an instance marks as failed only running
jobs whose heartbeat stopped (their instance died); queued jobs wait for any instance. When a process
exits, running KT fits stop at their next epoch (`stop_all`), rather than being cut off inside torch."""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from metatutor.learner import SkillTracker
from metatutor.service import store, versions
from metatutor.service import tables as t

log = logging.getLogger(__name__)
Report = Callable[[float, str], None]
Work = Callable[[Session, Report], int]
HEARTBEAT_S = 10.0
STALE_S = 60.0  # a running job whose heartbeat is older than this lost its instance
INSTANCE = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

_stopping = threading.Event()
_runners: weakref.WeakSet[JobRunner] = weakref.WeakSet()  # every runner of this process (`stop_runners`)
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


def stop_runners() -> None:
    """Stop every job runner of this process from polling (a server's apps, or a test's)."""
    for runner in list(_runners):
        runner.stop()


atexit.register(stop_all)


def enqueue(session: Session, kind: str, params: dict[str, Any]) -> int:
    """Queue a job of `kind` ("train" or "train-kt") with its parameters; returns its id."""
    job = t.Job(kind=kind, status="queued", progress=0.0, message="queued", created=time.time(), params=params)
    session.add(job)
    session.commit()
    return job.id


def claim(session: Session, instance: str = INSTANCE) -> t.Job | None:
    """Take the oldest queued job for this instance, or None. Exactly one instance gets each job."""
    query = select(t.Job.id).where(t.Job.status == "queued").order_by(t.Job.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    job_id = session.scalar(query)
    if job_id is None:
        session.rollback()
        return None
    took = session.execute(update(t.Job).where(t.Job.id == job_id, t.Job.status == "queued").values(
        status="running", claimed_by=instance, heartbeat=time.time(), message="starting"))
    session.commit()
    if took.rowcount != 1:  # type: ignore[attr-defined]
        return None  # another instance claimed it between the read and the update (SQLite)
    return session.get(t.Job, job_id)


class JobRunner:
    """Claims and runs this instance's share of the queued jobs (see the module docstring). `builders` make
    a job's work from its parameters; `on_done[kind]` runs after a job of that kind succeeds here."""

    def __init__(self, sessions: sessionmaker[Session], on_done: dict[str, Callable[[], None]], *,
                 poll_s: float = 1.0) -> None:
        self.sessions, self.on_done, self.poll_s = sessions, on_done, poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        _runners.add(self)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling (a job running now finishes first); `wake` starts polling again."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def wake(self) -> None:
        """Look for queued jobs now (and start polling, if this runner was not yet running)."""
        with self._lock:
            self._stop.clear()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="job-runner", daemon=True)
                self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if _stopping.is_set() or self._stop.is_set():
                continue
            try:
                with self.sessions() as session:
                    job = claim(session)
                    if job is not None:
                        kind, job_id, params = job.kind, job.id, dict(job.params or {})
            except Exception:  # a busy or closed database: try again later
                continue
            if job is not None:
                self.run(kind, job_id, params)
                self._wake.set()  # there may be more

    def run(self, kind: str, job_id: int, params: dict[str, Any]) -> None:
        work = BUILDERS[kind](**params)
        thread = threading.Thread(target=_run, args=(self.sessions, job_id, work, self.on_done.get(kind, _nothing)),
                                  name=f"job-{job_id}", daemon=True)
        with _threads_lock:
            _threads.add(thread)
        thread.start()
        thread.join()


def _nothing() -> None:
    pass


def _run(sessions: sessionmaker[Session], job_id: int, work: Work, on_done: Callable[[], None]) -> None:
    def report(progress: float, message: str) -> None:
        with sessions() as s:
            s.execute(update(t.Job).where(t.Job.id == job_id).values(status="running", progress=progress,
                                                                      message=message, heartbeat=time.time()))
            s.commit()

    beating = threading.Event()

    def beat() -> None:  # a long epoch reports rarely: the heartbeat says the instance is alive
        while not beating.wait(HEARTBEAT_S):
            try:
                with sessions() as s:
                    s.execute(update(t.Job).where(t.Job.id == job_id).values(heartbeat=time.time()))
                    s.commit()
            except Exception:
                continue

    threading.Thread(target=beat, name=f"job-{job_id}-heartbeat", daemon=True).start()
    try:
        with sessions() as session:
            version = work(session, report)
        on_done()
        values: dict[str, Any] = {"status": "done", "progress": 1.0, "message": f"model version {version}",
                                  "model_version": version}
    except Exception as exc:  # the job records any failure; the server goes on
        values = {"status": "failed", "message": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        beating.set()
    try:
        with sessions() as s:
            s.execute(update(t.Job).where(t.Job.id == job_id).values(finished=time.time(), **values))
            s.commit()
    finally:
        with _threads_lock:
            _threads.discard(threading.current_thread())


def fail_interrupted(session: Session) -> None:
    """Running jobs whose instance stopped beating are failed (queued ones wait for any instance)."""
    session.execute(update(t.Job).where(t.Job.status == "running",
                                        (t.Job.heartbeat.is_(None)) | (t.Job.heartbeat < time.time() - STALE_S))
                    .values(status="failed", message="interrupted: the server stopped", finished=time.time()))
    session.commit()


def train_tracker(*, activate: bool, seed: int = 0, model: str = "default", max_epochs: int | None = None,
                  meta_steps: int | None = None, valid: float = 0.2) -> Callable[[Session, Report], int]:
    """The work of a training job: fit the learner model every decision reads (`model`: default = meta, the
    meta-learned model; or tracker, the skill tracker) on every stored response, for the whole course (items
    nobody answered are predicted from their skills), store it as a new version (no pickle) and, if asked,
    make it the active one. The meta-learned model early-stops on a seeded share `valid` of the learners."""
    from metatutor.learner.registry import tracker_class

    def work(session: Session, report: Report) -> int:
        began = time.perf_counter()
        report(0.05, "reading stored responses")
        responses = store.stored_responses(session)
        version, current = versions.TrackerCache(ttl=0).get(session)
        info: dict[str, Any] = {"responses": len(responses), "learners": responses.n_learners,
                                "trained_from_version": version, "seed": seed}
        report(0.1, f"fitting {model} on {len(responses)} responses of {responses.n_learners} learners")
        if tracker_class(model).name == "tracker":
            tracker = SkillTracker.fit(responses, current.graph, random_state=seed)
            fitted = tracker.to_dict()
            # items nobody answered keep the current skill tracker's offsets (after a trained model: defaults)
            base = current.to_dict() if isinstance(current, SkillTracker) else SkillTracker(
                graph=current.graph, item_ids=list(current.item_ids), item_skills=current.course.item_skill_names()
            ).to_dict()
            info["items_answered"] = len(fitted["items"])
            report(0.9, "storing the new version")
            info["seconds"] = round(time.perf_counter() - began, 2)
            return versions.activate(session, "tracker", _merge(base, fitted), info=info, active=activate)
        from metatutor.data.splits import holdout_split
        from metatutor.learner.registry import fit_for_course
        from metatutor.models.epochs import follow_epochs

        fit_on, valid_on = holdout_split(responses, valid_fraction=valid, random_state=seed)

        def epoch(model_name: str, n: int, record: dict[str, float]) -> None:
            if _stopping.is_set():
                raise JobInterrupted("interrupted: the server stopped")
            report(0.1 + 0.4 * min(1.0, n / (max_epochs or 50)), f"fitting the population {model_name}: epoch {n}")

        with follow_epochs(epoch):
            fitted_model = fit_for_course(model, fit_on, valid_on, responses, random_state=seed, max_epochs=max_epochs,
                                          settings=None if meta_steps is None else {"meta_steps": meta_steps})
        tracker_ = fitted_model.with_course(current.course)
        report(0.9, "storing the new version")
        info.update(train_learners=fit_on.n_learners, valid_learners=0 if valid_on is None else valid_on.n_learners,
                    seconds=round(time.perf_counter() - began, 2))
        return versions.store_tracker(session, tracker_, info=info, active=activate)

    return work


def _merge(base: dict[str, Any], fitted: dict[str, Any]) -> dict[str, Any]:
    """The fitted tracker over the course's whole item list: items without answers keep their current offset."""
    if set(base["items"]) == set(fitted["items"]):
        return fitted
    offsets = dict(zip(fitted["items"], fitted["offset"], strict=True))
    return {**fitted, "items": base["items"], "item_skills": base["item_skills"],
            "offset": [offsets.get(i, old) for i, old in zip(base["items"], base["offset"], strict=True)]}


def train_kt(*, model: str, activate: bool, seed: int = 0, max_epochs: int | None = None,
             valid: float = 0.2) -> Callable[[Session, Report], int]:
    """The work of a KT training job: fit `model` (a registry name) on every stored response (a seeded share `valid` of
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
        name = model
        fitted = make_model(name, random_state=seed, **({} if max_epochs is None else {"max_epochs": max_epochs}))
        most = getattr(fitted.config, "max_epochs", None)

        def epoch(model_name: str, n: int, record: dict[str, float]) -> None:
            if _stopping.is_set():
                raise JobInterrupted("interrupted: the server stopped")
            auc = f", validation AUC {record['valid_auc']:.4f}" if "valid_auc" in record else ""
            report(0.05 + 0.85 * min(1.0, n / most) if most else 0.5, f"fitting {model_name}: epoch {n}{auc}")

        report(0.05, f"fitting {name} on {len(fit_on)} responses of {fit_on.n_learners} learners")
        with follow_epochs(epoch):
            fitted.fit(fit_on, valid_on)
        served = ServedModel(fitted)
        report(0.92, "storing the new version")
        valid_auc = None
        if valid_on is not None and len(set(valid_on.correct.tolist())) > 1:
            valid_auc = round(score(valid_on.correct, fitted.predict_proba(valid_on))["auc"], 4)
        info = {"source": "trained", "model": name, "responses": len(responses), "learners": responses.n_learners,
                "train_learners": fit_on.n_learners, "valid_learners": 0 if valid_on is None else valid_on.n_learners,
                "valid_auc": valid_auc, "seed": seed, "seconds": round(time.perf_counter() - began, 2),
                **kt.course_coverage(session, served)}
        return kt.store_model(session, served, info=info, activate=activate)

    return work


BUILDERS: dict[str, Callable[..., Work]] = {"train": train_tracker, "train-kt": train_kt}
