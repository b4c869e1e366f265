"""Dependencies shared by the routes: a database session, the caller, the active learner model.

They are `async def` although they may touch the database: each does at most a few short queries (an
indexed read on SQLite or loopback PostgreSQL, well under a millisecond) and usually none (keys and the
active model are cached), and running them on the event loop saves a thread-pool hop per dependency.
Anything longer, such as building the tracker after a model switch, goes to the thread pool. Routes are
plain `def`: their work runs in the thread pool, never on the event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from metatutor.learner import Tracker
from metatutor.service.http import client_address
from metatutor.service.security import Principal, authenticate
from metatutor.service.settings import Settings
from metatutor.service.states import Rebuilder


async def get_session(request: Request) -> AsyncIterator[Session]:
    with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (admin, teacher or learner).")


async def get_principal(request: Request, session: SessionDep,
                        x_api_key: Annotated[str | None, Depends(API_KEY)] = None) -> Principal:
    failures = request.app.state.failed_auth
    address = client_address(request)
    failures.check(address)
    try:
        return authenticate(session, x_api_key if x_api_key is None or len(x_api_key) <= 200 else "~",
                            request.app.state.keys)
    except HTTPException:
        failures.failed(address)
        raise


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_tracker(request: Request, session: SessionDep) -> tuple[int, Tracker]:
    cache = request.app.state.trackers
    hit = cache.cached()
    if hit is not None:
        return hit
    version, tracker = await run_in_threadpool(cache.get, session)
    return version, tracker


TrackerDep = Annotated[tuple[int, Tracker], Depends(get_tracker)]


async def get_rebuilder(request: Request) -> Rebuilder:
    rebuilder: Rebuilder = request.app.state.rebuilder
    return rebuilder


RebuilderDep = Annotated[Rebuilder, Depends(get_rebuilder)]
