"""Dependencies shared by the routes: a database session, the caller, the active learner model.

They are `async def` although they touch the database: each does a few short queries (an indexed read
on SQLite or loopback PostgreSQL, well under a millisecond), and running them on the event loop saves
a thread-pool hop per dependency, the largest cost of a request after the model itself. Routes that do
long work stay plain `def` and run in the thread pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from metatutor.policy.tracker import SkillTracker
from metatutor.service.security import Principal, authenticate
from metatutor.service.settings import Settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_principal(request: Request, session: SessionDep,
                  x_api_key: Annotated[str | None, Header()] = None) -> Principal:
    return authenticate(session, x_api_key, request.app.state.keys)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_tracker(request: Request, session: SessionDep) -> tuple[int, SkillTracker]:
    version, tracker = request.app.state.trackers.get(session)
    return version, tracker


TrackerDep = Annotated[tuple[int, SkillTracker], Depends(get_tracker)]
