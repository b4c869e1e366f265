"""API keys (stored as SHA-256 hashes) and the three roles: admin (everything), teacher (learners
whose `teacher` is them), learner (themselves only). Wrong or missing key: 401; out of scope: 403."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from fastapi import HTTPException
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from metatutor.service.tables import ApiKey, Learner


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(session: Session, role: str, subject: str | None = None) -> str:
    key = "mt_" + secrets.token_urlsafe(24)
    session.add(ApiKey(key_hash=hash_key(key), role=role, subject=subject))
    session.commit()
    return key


@dataclass(frozen=True)
class Principal:
    role: str
    subject: str | None


class KeyCache:
    """Known keys for `ttl` seconds, so that a request does not read the key table each time. A key
    deleted by this process is forgotten at once (`forget`); by another worker, within `ttl` seconds."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._known: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Principal | None:
        hit = self._known.get(key_hash)
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def put(self, key_hash: str, who: Principal) -> None:
        with self._lock:
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[key_hash] = (who, time.monotonic() + self.ttl)

    def forget(self, subject: str | None = None) -> None:
        """Drop the cached keys of `subject` (every key when None)."""
        with self._lock:
            self._known = {} if subject is None else {
                h: v for h, v in self._known.items() if v[0].subject != subject}


def authenticate(session: Session, key: str | None, cache: KeyCache | None = None) -> Principal:
    if not key:
        raise HTTPException(401, "missing API key (header X-API-Key)")
    key_hash = hash_key(key)
    if cache is not None and (who := cache.get(key_hash)) is not None:
        return who
    row = session.execute(select(ApiKey.role, ApiKey.subject).where(ApiKey.key_hash == key_hash)).first()
    if row is None:
        raise HTTPException(401, "unknown API key")
    who = Principal(row.role, row.subject)
    if cache is not None:
        cache.put(key_hash, who)
    return who


def require_admin(who: Principal) -> None:
    if who.role != "admin":
        raise HTTPException(403, "only an admin may do this")


_LEARNERS = Learner.__table__
# Core and built once: this check runs on every request
_LEARNER_TEACHER = select(_LEARNERS.c.teacher).where(_LEARNERS.c.id == bindparam("b_learner"))


def require_learner_access(session: Session, who: Principal, learner_id: str) -> None:
    """Check that `who` may see the learner (404 when absent, for admins and teachers only)."""
    if who.role == "learner" and who.subject != learner_id:
        raise HTTPException(403, "a learner key gives access to that learner only")
    found = session.execute(_LEARNER_TEACHER, {"b_learner": learner_id}).first()
    if who.role == "teacher" and found is not None and found.teacher != who.subject:
        raise HTTPException(403, "this learner is not in your classes")
    if found is None:
        raise HTTPException(404, f"no learner {learner_id!r}")
