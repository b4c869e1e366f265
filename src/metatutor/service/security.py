"""API keys and roles, dashboard sessions, and the deployment's secret.

Keys are stored as SHA-256 hashes (a key is 32 random bytes, so a hash cannot be reversed by trying).
Three roles: admin (everything), teacher (learners whose `teacher` is them), learner (themselves only).
A teacher's or learner's key always names its subject. Keys can expire and be revoked; revoking one
ends its dashboard sessions too. Other workers stop accepting a revoked key within `cache_seconds`.
Wrong, missing, expired or revoked key: 401; out of scope: 403.

A dashboard login makes a session: the cookie holds a random session id (only its hash is stored), never
the API key; it expires after `session_hours` and ends on logout. Each session has a CSRF token that every
form carries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from fastapi import HTTPException
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from metatutor.service.tables import ApiKey, Learner, Secret, WebSession

HOUR = 3600.0


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(session: Session, role: str, subject: str | None = None, *, label: str | None = None,
            expires_in_days: float | None = None, bootstrap: bool = False) -> tuple[str, ApiKey]:
    """A new key (returned once, stored hashed) and its row. Teachers and learners need a subject."""
    if (role == "admin") != (subject is None):
        raise ValueError("an admin key has no subject; a teacher's or learner's key needs one")
    key = "mt_" + secrets.token_urlsafe(32)
    now = time.time()
    row = ApiKey(key_hash=hash_key(key), role=role, subject=subject, label=label, created=now, bootstrap=bootstrap,
                 expires=None if expires_in_days is None else now + expires_in_days * 86_400.0)
    session.add(row)
    session.commit()
    return key, row


def bootstrap_admin(session: Session, key: str | None) -> None:
    """Make `METATUTOR_ADMIN_KEY` the one bootstrap admin key: a previous bootstrap key (the variable was
    changed, or unset) is revoked."""
    digest = hash_key(key) if key else None
    old = [row for row in session.scalars(select(ApiKey).where(ApiKey.bootstrap.is_(True))) if row.key_hash != digest]
    for row in old:
        session.delete(row)
    if digest is not None and session.scalar(select(ApiKey.id).where(ApiKey.key_hash == digest)) is None:
        session.add(ApiKey(key_hash=digest, role="admin", subject=None, label="METATUTOR_ADMIN_KEY",
                           created=time.time(), bootstrap=True))
    session.commit()


def revoke_key(session: Session, key_id: int) -> ApiKey | None:
    """Delete a key (and so its dashboard sessions); the removed row, or None when there was none."""
    row = session.get(ApiKey, key_id)
    if row is not None:
        session.execute(delete(WebSession).where(WebSession.key_id == key_id))
        session.delete(row)
        session.commit()
    return row


@dataclass(frozen=True)
class Principal:
    role: str
    subject: str | None
    key_id: int = 0


class KeyCache:
    """Known keys for `ttl` seconds, so that a request does not read the key table each time. A key
    deleted by this process is forgotten at once (`forget`); by another worker, within `ttl` seconds.
    An entry never outlives its key's expiry."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._known: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Principal | None:
        hit = self._known.get(key_hash)
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def put(self, key_hash: str, who: Principal, expires: float | None = None) -> None:
        until = time.monotonic() + self.ttl
        if expires is not None:
            until = min(until, time.monotonic() + (expires - time.time()))
        with self._lock:
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[key_hash] = (who, until)

    def forget(self, subject: str | None = None) -> None:
        """Drop the cached keys of `subject` (every key when None)."""
        with self._lock:
            self._known = {} if subject is None else {
                h: v for h, v in self._known.items() if v[0].subject != subject}


_KEY = select(ApiKey.id, ApiKey.role, ApiKey.subject, ApiKey.expires, ApiKey.last_used).where(
    ApiKey.key_hash == bindparam("b_hash"))


def principal_of(session: Session, key_hash: str, cache: KeyCache | None = None) -> Principal | None:
    """Who holds the key with this hash, or None (unknown, expired, or without the subject its role needs)."""
    if cache is not None and (who := cache.get(key_hash)) is not None:
        return who
    row = session.execute(_KEY, {"b_hash": key_hash}).first()
    now = time.time()
    if row is None or (row.expires is not None and row.expires <= now) or \
            ((row.role == "admin") != (row.subject is None)):
        return None
    who = Principal(row.role, row.subject, row.id)
    if row.last_used is None or now - row.last_used > HOUR:  # to the hour: not a write per request
        session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used=now))
        session.commit()
    if cache is not None:
        cache.put(key_hash, who, row.expires)
    return who


def authenticate(session: Session, key: str | None, cache: KeyCache | None = None) -> Principal:
    if not key:
        raise HTTPException(401, "missing API key (header X-API-Key)")
    who = principal_of(session, hash_key(key), cache)
    if who is None:
        raise HTTPException(401, "unknown, expired or revoked API key")
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
    if who.role == "teacher" and found is not None and (found.teacher is None or found.teacher != who.subject):
        raise HTTPException(403, "this learner is not in your classes")
    if found is None:
        raise HTTPException(404, f"no learner {learner_id!r}")


# ----- dashboard sessions ---------------------------------------------------------------------------
def new_web_session(session: Session, who: Principal, *, hours: float) -> tuple[str, str]:
    """(session id for the cookie, CSRF token) of a new dashboard login by the key `who` holds."""
    sid, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.time()
    session.execute(delete(WebSession).where(WebSession.expires <= now))  # expired ones go as new ones come
    session.add(WebSession(id_hash=hash_key(sid), key_id=who.key_id, csrf=csrf, created=now, expires=now + hours * HOUR))
    session.commit()
    return sid, csrf


_WEB = (select(WebSession.csrf, WebSession.expires, ApiKey.key_hash)
        .join(ApiKey, ApiKey.id == WebSession.key_id).where(WebSession.id_hash == bindparam("b_sid")))


def web_principal(session: Session, sid: str | None, cache: KeyCache | None = None) -> tuple[Principal, str] | None:
    """(who, CSRF token) of a live dashboard session, or None."""
    if not sid:
        return None
    row = session.execute(_WEB, {"b_sid": hash_key(sid)}).first()
    if row is None or row.expires <= time.time():
        return None
    who = principal_of(session, row.key_hash, cache)
    return None if who is None else (who, row.csrf)


def end_web_session(session: Session, sid: str | None) -> None:
    if sid:
        session.execute(delete(WebSession).where(WebSession.id_hash == hash_key(sid)))
        session.commit()


# ----- the deployment's secret ----------------------------------------------------------------------
def deployment_secret(session: Session, configured: str | None) -> bytes:
    """The key of the service's pseudonyms: `METATUTOR_SECRET_KEY`, else one made at the first start and
    kept in the database."""
    if configured:
        return configured.encode()
    row = session.get(Secret, "pseudonyms")
    if row is None:
        row = Secret(name="pseudonyms", value=secrets.token_hex(32))
        session.add(row)
        session.commit()
    return row.value.encode()


def pseudonym(secret: bytes, value: str) -> str:
    """A keyed pseudonym (HMAC-SHA-256, 16 hex digits): the same for the same id under one deployment,
    and not recoverable by trying ids without the secret."""
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:16]
