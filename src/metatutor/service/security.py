"""API keys (stored as SHA-256 hashes) and the three roles: admin (everything), teacher (learners
whose `teacher` is them), learner (themselves only). Wrong or missing key: 401; out of scope: 403."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from fastapi import HTTPException
from sqlalchemy import select
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


def authenticate(session: Session, key: str | None) -> Principal:
    if not key:
        raise HTTPException(401, "missing API key (header X-API-Key)")
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None:
        raise HTTPException(401, "unknown API key")
    return Principal(row.role, row.subject)


def require_admin(who: Principal) -> None:
    if who.role != "admin":
        raise HTTPException(403, "only an admin may do this")


def require_learner_access(session: Session, who: Principal, learner_id: str) -> Learner:
    """The learner, if `who` may see them (404 when absent, for admins and teachers only)."""
    learner = session.get(Learner, learner_id)
    if who.role == "learner":
        if who.subject != learner_id:
            raise HTTPException(403, "a learner key gives access to that learner only")
    elif who.role == "teacher" and learner is not None and learner.teacher != who.subject:
        raise HTTPException(403, "this learner is not in your classes")
    if learner is None:
        raise HTTPException(404, f"no learner {learner_id!r}")
    return learner
