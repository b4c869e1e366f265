"""Model versions: each kind (the learner model, an item bank, a KT model) has stored versions, one of them
active; a switch is one transaction, and every worker process follows it within its cache's `ttl`.

The learner model every decision reads (kind `tracker`) is any `metatutor.learner.Tracker`: the
meta-learned default is stored as its saved directory in one blob (`arrays`), the hand-built skill
tracker as JSON parameters (`params`)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from metatutor.errors import ConfigError
from metatutor.learner import SkillTracker, Tracker, tracker_from_bytes
from metatutor.service import tables as t

T = TypeVar("T")


class ActiveVersionCache(Generic[T]):
    """The active model version of one kind, built from its stored row only when the active version
    changes. Which version is active is read from the database at most every `ttl` seconds (a switch
    made by another worker process reaches this one within `ttl`; one made here, at once: `invalidate`)."""

    def __init__(self, kind: str, build: Callable[[Session, int], T], missing: Callable[[], Exception],
                 ttl: float = 1.0) -> None:
        self.kind, self.build, self.missing, self.ttl = kind, build, missing, ttl
        self.version: int | None = None
        self.model: T | None = None
        self._checked = -math.inf
        self._building = threading.Lock()  # one build per switch, however many requests see it at once

    def invalidate(self) -> None:
        self._checked = -math.inf

    def put(self, version: int, model: T) -> None:
        """`model` is what `version` stores, built here (the request that stored it): this process serves it
        without reading it back."""
        self.model, self.version, self._checked = model, version, time.monotonic()

    def cached(self) -> tuple[int, T] | None:
        """The active version as last checked, if that was within `ttl` (no database read, no build)."""
        if self.model is not None and self.version is not None and time.monotonic() - self._checked < self.ttl:
            return self.version, self.model
        return None

    def get(self, session: Session) -> tuple[int, T]:
        now = time.monotonic()
        if self.model is not None and self.version is not None and now - self._checked < self.ttl:
            return self.version, self.model
        active = session.scalar(select(t.ModelVersion.id).where(t.ModelVersion.active.is_(True),
                                                                t.ModelVersion.kind == self.kind))
        if active is None:
            raise self.missing()
        if active != self.version or self.model is None:  # the stored model is read only on a switch
            with self._building:
                if active != self.version or self.model is None:  # not built meanwhile by another request
                    self.model, self.version = self.build(session, active), active
        self._checked = now
        return active, self.model


def _tracker(session: Session, version: int) -> Tracker:
    row = session.execute(select(t.ModelVersion.params, t.ModelVersion.arrays)
                          .where(t.ModelVersion.id == version)).one()
    if row.arrays is not None:
        return tracker_from_bytes(row.arrays)
    return SkillTracker.from_dict(row.params)


def store_tracker(session: Session, tracker: Tracker, *, info: dict[str, Any] | None = None,
                  active: bool = True, before_commit: Callable[[int], object] | None = None) -> int:
    """Store a learner model as a new `tracker` version (the active one unless `active=False`)."""
    from metatutor.learner.registry import tracker_to_bytes

    if isinstance(tracker, SkillTracker):  # JSON parameters, readable in the database
        return activate(session, "tracker", tracker.to_dict(), info=info, active=active, before_commit=before_commit)
    params = {"kind": tracker.name, "items": tracker.n_items, "skills": tracker.n_skills}
    return activate(session, "tracker", params, info={"model": tracker.name, **(info or {})}, active=active,
                    arrays=tracker_to_bytes(tracker), before_commit=before_commit)


class TrackerCache(ActiveVersionCache[Tracker]):
    """The active learner model (see `ActiveVersionCache`)."""

    def __init__(self, ttl: float = 1.0) -> None:
        super().__init__("tracker", _tracker, lambda: ConfigError("no course loaded yet: POST /api/course first"), ttl)


def activate(session: Session, kind: str, params: dict[str, Any], *, info: dict[str, Any] | None = None,
             active: bool = True, arrays: bytes | None = None,
             before_commit: Callable[[int], object] | None = None) -> int:
    """Store a new model version of `kind`, the active one unless `active=False` (old ones stay, inactive);
    `arrays`: a KT model's bytes; `before_commit(version)` writes what must switch with it, in its
    transaction."""
    version = t.ModelVersion(kind=kind, params=params, active=False, info=info, created=time.time(), arrays=arrays)
    session.add(version)
    session.flush()
    if active:
        switch(session, version.id)
    if before_commit is not None:
        before_commit(version.id)
    session.commit()
    return version.id


def switch(session: Session, version_id: int) -> t.ModelVersion:
    """Make a stored version the active one of its kind, in one transaction. Learners' states under the old
    version are rebuilt from their stored responses (`states.Rebuilder`, or by a read when they are short)."""
    row = session.get(t.ModelVersion, version_id)
    if row is None:
        raise ConfigError(f"no model version {version_id}")
    session.execute(update(t.ModelVersion).where(t.ModelVersion.kind == row.kind, t.ModelVersion.id != row.id)
                    .values(active=False))
    row.active = True
    return row
