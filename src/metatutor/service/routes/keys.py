"""API keys: made, listed and revoked by an admin (`metatutor keys` does the same from the shell)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import HTTPException, Query, Request, Response
from sqlalchemy import select

from metatutor.service.deps import PrincipalDep, SessionDep
from metatutor.service.fields import Name
from metatutor.service.http import api_router
from metatutor.service.schemas import KeyIn, KeyInfo, KeyPublic, RowId
from metatutor.service.security import new_key, require_admin, revoke_key
from metatutor.service.tables import ApiKey, Learner

router = api_router(prefix="/api/keys", tags=["keys"])


def key_info(row: ApiKey) -> KeyInfo:
    return KeyInfo(id=row.id, role=row.role, subject=row.subject, label=row.label, created=row.created,
                   expires=row.expires, last_used=row.last_used)


@router.post("", response_model=KeyPublic, status_code=201)
def create_key(body: KeyIn, session: SessionDep, who: PrincipalDep) -> KeyPublic:
    """A new API key for a role (shown once; only its hash is stored). A teacher's key names the teacher,
    a learner's key an existing learner; `expires_in_days` sets an expiry (default: until revoked)."""
    require_admin(who)
    if body.role == "learner" and session.get(Learner, body.subject) is None:
        raise HTTPException(404, f"no learner {body.subject!r}: create the learner first")
    key, row = new_key(session, body.role, body.subject, label=body.label, expires_in_days=body.expires_in_days)
    return KeyPublic(key=key, **key_info(row).model_dump())


@router.get("", response_model=list[KeyInfo])
def list_keys(session: SessionDep, who: PrincipalDep,
              role: Literal["admin", "teacher", "learner"] | None = None,
              subject: Annotated[Name | None, Query()] = None) -> list[KeyInfo]:
    """Every key (never the key itself): role, subject, label, when made, when it expires, last used."""
    require_admin(who)
    query = select(ApiKey).order_by(ApiKey.id)
    if role is not None:
        query = query.where(ApiKey.role == role)
    if subject is not None:
        query = query.where(ApiKey.subject == subject)
    return [key_info(row) for row in session.scalars(query)]


@router.delete("/{key_id}", status_code=204, response_class=Response)
def delete_key(key_id: RowId, session: SessionDep, who: PrincipalDep, request: Request) -> Response:
    """Revoke a key and end its dashboard sessions (other workers stop accepting it within
    `cache_seconds`). An admin cannot revoke the key they are using."""
    require_admin(who)
    if key_id == who.key_id:
        raise HTTPException(409, "this is the key you are using: revoke it with another admin key")
    if revoke_key(session, key_id) is None:
        raise HTTPException(404, f"no key {key_id}")
    request.app.state.keys.forget()
    return Response(status_code=204)
