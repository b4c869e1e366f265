"""Each learner's stored state under the active skill tracker, kept in step with their responses.

A state row remembers the last response stepped into it (`last_response`, a `responses.id`). Reading a
state, answering, and rebuilding after a model switch all do the same thing: take the stored state (a new
one when it belongs to another model version), step in every response stored after `last_response` in the
order they were stored, with the learner model's `observe`, and store the result. So a state rebuilt from the
responses is the state the answers built one by one.

After a switch, a learner with more than `inline` answers to step in is rebuilt in the background, in
chunks that each commit (`Rebuilder`); until it catches up, reads answer 503 with Retry-After, and answers
are stored (nothing is lost) and stepped in by the rebuild.

Writes are optimistic: the state row is written only if its `last_response` and model version are still
those that were read (PostgreSQL also locks the row from the read to the commit), and only if the
learner's responses after it are exactly those this request stepped in; otherwise the request redoes
its work. A batch for several learners (xAPI) is one transaction: stored whole or not at all."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from metatutor.errors import ConfigError
from metatutor.learner import LearnerState as TrackerState
from metatutor.learner import Tracker
from metatutor.service import tables as t
from metatutor.service.db import write_lock
from metatutor.service.pacing import background, pace
from metatutor.service.schemas import ResponseIn
from metatutor.service.versions import TrackerCache

log = logging.getLogger(__name__)

STATES: Table = t.LearnerState.__table__  # type: ignore[assignment]
RESPONSES: Table = t.Response.__table__  # type: ignore[assignment]

# The answer path's statements, built once: building one per request (clauses, coercions) cost about as
# much as running it on SQLite (130 against 50 µs a lookup)
_ROW = select(STATES.c.model_version, STATES.c.state, STATES.c.answers, STATES.c.last_response).where(
    STATES.c.learner_id == bindparam("b_learner"))
_ROW_LOCKED = _ROW.with_for_update()
_SEEN = select(RESPONSES.c.event_id).where(RESPONSES.c.learner_id == bindparam("b_learner"),
                                           RESPONSES.c.event_id.in_(bindparam("b_events", expanding=True)))
_AFTER = (select(RESPONSES.c.id, RESPONSES.c.event_id, RESPONSES.c.item_id, RESPONSES.c.correct,
                 RESPONSES.c.timestamp)
          .where(RESPONSES.c.learner_id == bindparam("b_learner"), RESPONSES.c.id > bindparam("b_after"))
          .order_by(RESPONSES.c.id).limit(bindparam("b_limit")))
_IDS_AFTER = (select(RESPONSES.c.id, RESPONSES.c.event_id)
              .where(RESPONSES.c.learner_id == bindparam("b_learner"), RESPONSES.c.id > bindparam("b_after"))
              .order_by(RESPONSES.c.id))
_INSERT_RESPONSES = insert(RESPONSES)
_INSERT_STATE = insert(STATES)
_UPDATE_STATE = update(STATES).where(  # only if no other request stepped this state since it was read
    STATES.c.learner_id == bindparam("b_learner"), STATES.c.last_response == bindparam("b_last"),
    STATES.c.model_version == bindparam("b_version"))


GRADED = ("answer", "verdict", "misconception", "hints", "seconds")  # what a graded answer adds to a response


class StateRebuilding(Exception):
    """The learner's state is being rebuilt after a model switch (HTTP 503, retry after `retry_after` s)."""

    def __init__(self, learner_id: str, pending: int, retry_after: int = 5) -> None:
        super().__init__(f"learner {learner_id!r}'s state is being rebuilt after a model switch ({pending}+ "
                         "answers to step in); retry shortly")
        self.learner_id, self.retry_after = learner_id, retry_after


@dataclass
class Loaded:
    """A learner's state stepped up to their latest response (`cursor`), and how it was stored."""

    state: TrackerState
    answers: int  # responses stepped into it, all of them
    cursor: int  # the last response id in it (0: none)
    row: Any  # the stored row as read (None: none), the condition of the write
    stepped: list[Any]  # the responses stepped in by this read (ids after the stored row's cursor)


def _step(tracker: Tracker, state: TrackerState, item: str, correct: bool, when: float) -> None:
    pace()
    i = tracker.item_index.get(item)
    if i is not None:  # a response to an item of an earlier course stays stored but moves nothing
        tracker.observe(state, i, int(correct), float(when))


def load(session: Session, tracker: Tracker, version: int, learner_id: str, *, inline: int,
         lock: bool = False, row: Any = None, rebuilder: Rebuilder | None = None) -> Loaded:
    """The learner's state with every stored response stepped in. More than `inline` responses to step in
    (a model switch): `StateRebuilding`, after asking `rebuilder` to catch the learner up."""
    if row is None:
        row = session.execute(_ROW_LOCKED if lock else _ROW, {"b_learner": learner_id}).first()
    if row is not None and row.model_version == version:
        state, answers, cursor = tracker.state_from_dict(row.state), row.answers, row.last_response
    else:
        state, answers, cursor = tracker.new_state(), 0, 0
    pending = session.execute(_AFTER, {"b_learner": learner_id, "b_after": cursor, "b_limit": inline + 1}).all()
    if len(pending) > inline:
        if rebuilder is not None:
            rebuilder.request(learner_id)
        raise StateRebuilding(learner_id, len(pending))
    for r in pending:
        _step(tracker, state, r.item_id, r.correct, r.timestamp)
    return Loaded(state, answers + len(pending), pending[-1].id if pending else cursor, row, list(pending))


def read(session: Session, tracker: Tracker, version: int, learner_id: str, *, inline: int,
         keep_history: int = 200, rebuilder: Rebuilder | None = None) -> tuple[TrackerState, int]:
    """(state, answers) for a read; a state that had to step in responses is stored for the next read."""
    loaded = load(session, tracker, version, learner_id, inline=inline, rebuilder=rebuilder)
    if loaded.stepped:
        _save(session, tracker, version, learner_id, loaded, keep_history=keep_history)
    return loaded.state, loaded.answers


def _save(session: Session, tracker: Tracker, version: int, learner_id: str, loaded: Loaded, *,
          keep_history: int) -> bool:
    """Store a state that only stepped in stored responses (a read, a rebuild chunk); False when another
    request stored one first (its state holds at least these steps)."""
    values = _values(tracker, version, loaded, keep_history)
    with write_lock(session.get_bind().engine):
        try:
            if not _write_state(session, learner_id, loaded.row, values):
                session.rollback()
                return False
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def _values(tracker: Tracker, version: int, loaded: Loaded, keep_history: int) -> dict[str, Any]:
    """A state row's columns for `loaded` under `version`."""
    return {"model_version": version, "state": tracker.state_to_dict(loaded.state, keep_history=keep_history),
            "answers": loaded.answers, "last_response": loaded.cursor}


def _write_state(session: Session, learner_id: str, row: Any, values: dict[str, Any]) -> bool:
    if row is None:
        session.execute(_INSERT_STATE, {"learner_id": learner_id, **values})
        return True
    changed = session.execute(_UPDATE_STATE, {**values, "b_learner": learner_id, "b_last": row.last_response,
                                              "b_version": row.model_version})
    return bool(changed.rowcount == 1)  # type: ignore[attr-defined]


def prepare(sessions: sessionmaker[Session], tracker: Tracker, *, budget_s: float = 1.0,
            max_answers: int = 2_000) -> dict[str, Loaded]:
    """Before a switch to `tracker`: the states of the most recently active learners (newest answer first)
    with at most `max_answers` answers, stepped under it for up to `budget_s` seconds. Stored in the
    switch's own transaction (`store_prepared`), they spare those learners the rebuild after it. Reads only,
    in a session of its own."""
    out: dict[str, Loaded] = {}
    began = time.perf_counter()
    with sessions() as session:
        rows = session.execute(select(STATES.c.learner_id, STATES.c.model_version, STATES.c.last_response)
                               .where(STATES.c.answers <= max_answers)
                               .order_by(STATES.c.last_response.desc()).limit(10_000)).all()
        for row in rows:
            if time.perf_counter() - began > budget_s:
                break
            try:  # version 0 is no stored version's: every stored response is stepped in
                loaded = load(session, tracker, 0, row.learner_id, inline=max_answers, row=row)
            except StateRebuilding:
                continue
            if loaded.stepped:
                out[row.learner_id] = loaded
    return out


def store_prepared(session: Session, tracker: Tracker, version: int, prepared: dict[str, Loaded], *,
                   keep_history: int) -> int:
    """Write `prepare`'s states under `version` in the caller's transaction (not committed here); a learner
    who answered since keeps their stored row, and is rebuilt as usual. The number written."""
    return sum(_write_state(session, learner_id, loaded.row, _values(tracker, version, loaded, keep_history))
               for learner_id, loaded in prepared.items())


@dataclass
class Ingested:
    stored: int
    duplicates: int
    answers: int
    state: TrackerState | None  # None: the state is being rebuilt (the answers are stored)

    def counts(self) -> dict[str, Any]:
        return {"stored": self.stored, "duplicates": self.duplicates, "answers": self.answers,
                "updating": self.state is None}


@dataclass
class _Plan:  # one learner's part of a batch, worked out before the write
    learner_id: str
    loaded: Loaded | None  # None: rebuilding, store the answers only
    new: list[dict[str, Any]]
    duplicates: int


def ingest(session: Session, tracker: Tracker, version: int, batches: dict[str, list[ResponseIn]], *,
           keep_history: int, inline: int, attempts: int = 30, rebuilder: Rebuilder | None = None,
           on_loaded: Callable[[str, TrackerState], None] | None = None) -> dict[str, Ingested]:
    """Store new responses of one or more learners in one transaction (a replayed event id is skipped) and
    step each learner's state through them. `on_loaded(learner, state)` sees a state before the new
    answers (on a redo, again: the last call counts)."""
    unknown = sorted({e.item for events in batches.values() for e in events if e.item not in tracker.item_index})
    if unknown:
        raise ConfigError(f"unknown item(s) {', '.join(unknown[:10])}")
    for attempt in range(attempts):
        done = _ingest_once(session, tracker, version, batches, keep_history, inline, rebuilder, on_loaded)
        if done is not None:
            return done
        time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # let the other request finish
    raise ConfigError(f"learner(s) {', '.join(sorted(batches))[:200]} being updated by other requests; retry")


def _ingest_once(session: Session, tracker: Tracker, version: int, batches: dict[str, list[ResponseIn]],
                 keep_history: int, inline: int, rebuilder: Rebuilder | None,
                 on_loaded: Callable[[str, TrackerState], None] | None) -> dict[str, Ingested] | None:
    plans = []
    for learner_id, events in batches.items():
        seen = set(session.scalars(_SEEN, {"b_learner": learner_id, "b_events": [e.event_id for e in events]}))
        try:
            loaded: Loaded | None = load(session, tracker, version, learner_id, inline=inline, lock=True,
                                         rebuilder=rebuilder)
        except StateRebuilding:
            loaded = None
        if loaded is not None and on_loaded is not None:
            on_loaded(learner_id, loaded.state)
        new = []
        for e in events:
            if e.event_id in seen:
                continue
            seen.add(e.event_id)
            when = e.timestamp if e.timestamp is not None else time.time()
            new.append({"learner_id": learner_id, "event_id": e.event_id, "item_id": e.item, "correct": e.correct,
                        "timestamp": when, **{k: getattr(e, k, None) for k in GRADED}})
            if loaded is not None:
                _step(tracker, loaded.state, e.item, e.correct, when)
        plans.append(_Plan(learner_id, loaded, new, len(events) - len(new)))
    if not any(p.new for p in plans):
        session.rollback()
        return {p.learner_id: Ingested(0, p.duplicates, p.loaded.answers if p.loaded else _count(session, p.learner_id),
                                       p.loaded.state if p.loaded else None) for p in plans}
    # the states as stored, serialised before the writer lock is taken (the lock is held for the writes only)
    stored = {p.learner_id: tracker.state_to_dict(p.loaded.state, keep_history=keep_history)
              for p in plans if p.loaded is not None}
    out = {}
    with write_lock(session.get_bind().engine):
        try:
            session.execute(_INSERT_RESPONSES, [r for p in plans for r in p.new])
            for p in plans:
                if p.loaded is None:  # rebuilding: the rebuild steps these in
                    out[p.learner_id] = Ingested(len(p.new), p.duplicates, 0, None)
                    continue
                after = session.execute(_IDS_AFTER, {"b_learner": p.learner_id, "b_after": p.loaded.cursor}).all()
                if [r.event_id for r in after] != [r["event_id"] for r in p.new]:
                    session.rollback()  # another request stored answers since this one read the state
                    return None
                answers = p.loaded.answers + len(p.new)
                values = {"model_version": version, "answers": answers, "last_response": after[-1].id if after else
                          p.loaded.cursor, "state": stored[p.learner_id]}
                if not _write_state(session, p.learner_id, p.loaded.row, values):
                    session.rollback()
                    return None
                out[p.learner_id] = Ingested(len(p.new), p.duplicates, answers, p.loaded.state)
            session.commit()
        except IntegrityError:  # a concurrent request stored these events or this state first: redo
            session.rollback()
            return None
    for learner_id, done in out.items():
        if done.state is None:
            done.answers = _count(session, learner_id)
    return out


def _count(session: Session, learner_id: str) -> int:
    return int(session.scalar(select(func.count()).select_from(t.Response).where(t.Response.learner_id == learner_id))
               or 0)


class Rebuilder:
    """Catches learners' states up in the background, `chunk` responses per transaction, so that a learner
    with 50,000 answers never holds a request (or the database) for long after a model switch. One thread
    per process; a learner asked for twice is rebuilt once; a rebuild cut off by a restart resumes where
    its last chunk stopped (the next read asks again)."""

    def __init__(self, sessions: sessionmaker[Session], trackers: TrackerCache, *, chunk: int = 2_000,
                 keep_history: int = 200) -> None:
        self.sessions, self.trackers, self.chunk, self.keep_history = sessions, trackers, chunk, keep_history
        self._queue: list[str] = []
        self._queued: set[str] = set()
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self.done = 0  # learners caught up, for tests and logs

    def request(self, learner_id: str) -> None:
        self.request_many([learner_id])

    def request_many(self, learner_ids: Iterable[str]) -> None:
        with self._lock:
            for learner_id in learner_ids:
                if learner_id not in self._queued:
                    self._queued.add(learner_id)
                    self._queue.append(learner_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="state-rebuild", daemon=True)
                self._thread.start()
            self._lock.notify()

    def switched(self, active: tuple[int, Tracker] | None = None) -> None:
        """A new tracker version is active: rebuild every learner's state under it, in the background.
        `active`: the version and the model it stores, when the caller has just built it (not read back)."""
        if active is not None:
            self.trackers.put(*active)
        else:
            self.trackers.invalidate()
        with self.sessions() as session:
            version, _ = self.trackers.get(session)
            self.request_many(self.stale(session, version))

    def stale(self, session: Session, version: int) -> list[str]:
        """Learners whose stored state is under another version (or who have responses and no state)."""
        old = session.scalars(select(t.LearnerState.learner_id).where(t.LearnerState.model_version != version))
        missing = session.scalars(select(t.Response.learner_id).distinct().where(
            ~select(t.LearnerState.learner_id).where(t.LearnerState.learner_id == t.Response.learner_id).exists()))
        return sorted(set(old) | set(missing))

    def idle(self, timeout: float = 30.0) -> bool:
        """Wait until the queue is empty (tests); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._queued:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.1))
        return True

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                learner_id = self._queue.pop(0)
            try:
                with background():
                    self.catch_up(learner_id)
            except Exception:  # the next read asks again
                log.exception("rebuilding the state of a learner failed")
            finally:
                with self._lock:
                    self._queued.discard(learner_id)
                    self._lock.notify_all()

    def catch_up(self, learner_id: str) -> None:
        """Step the learner's state through their stored responses, a chunk per transaction."""
        with self.sessions() as session:
            while True:
                version, tracker = self.trackers.get(session)
                try:
                    loaded = load(session, tracker, version, learner_id, inline=self.chunk)
                    last_chunk = True
                except StateRebuilding:
                    loaded = self._chunk(session, tracker, version, learner_id)
                    last_chunk = False
                if loaded.stepped:
                    _save(session, tracker, version, learner_id, loaded, keep_history=self.keep_history)
                else:
                    session.rollback()
                if last_chunk:
                    self.done += 1
                    return

    def _chunk(self, session: Session, tracker: Tracker, version: int, learner_id: str) -> Loaded:
        row = session.execute(_ROW, {"b_learner": learner_id}).first()
        if row is not None and row.model_version == version:
            state, cursor, answers = tracker.state_from_dict(row.state), row.last_response, row.answers
        else:
            state, cursor, answers = tracker.new_state(), 0, 0
        chunk = session.execute(_AFTER, {"b_learner": learner_id, "b_after": cursor, "b_limit": self.chunk}).all()
        for r in chunk:
            _step(tracker, state, r.item_id, r.correct, r.timestamp)
        return Loaded(state, answers + len(chunk), chunk[-1].id if chunk else cursor, row, list(chunk))
