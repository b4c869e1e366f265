"""Dependencies shared by the routes: a database session, the caller, the active learner model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from metatutor.policy.tracker import SkillTracker
from metatutor.service.security import Principal, authenticate
from metatutor.service.settings import Settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(session: SessionDep, x_api_key: Annotated[str | None, Header()] = None) -> Principal:
    return authenticate(session, x_api_key)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_tracker(request: Request, session: SessionDep) -> tuple[int, SkillTracker]:
    version, tracker = request.app.state.trackers.get(session)
    return version, tracker


TrackerDep = Annotated[tuple[int, SkillTracker], Depends(get_tracker)]
