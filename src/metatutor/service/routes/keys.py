from __future__ import annotations

from fastapi import APIRouter

from metatutor.service.deps import PrincipalDep, SessionDep
from metatutor.service.schemas import KeyIn, KeyPublic
from metatutor.service.security import new_key, require_admin

router = APIRouter(prefix="/api/keys", tags=["keys"])


@router.post("", response_model=KeyPublic, status_code=201)
def create_key(body: KeyIn, session: SessionDep, who: PrincipalDep) -> KeyPublic:
    """A new API key for a role (shown once; only its hash is stored)."""
    require_admin(who)
    return KeyPublic(key=new_key(session, body.role, body.subject), role=body.role, subject=body.subject)
