"""`create_app()`: the FastAPI application (routers, database, error mapping)."""

from __future__ import annotations

import gc

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from metatutor.errors import MetatutorError
from metatutor.service import dashboard
from metatutor.service.dashboard import LoginRequired
from metatutor.service.db import checkpointer, make_engine, migrate, session_factory
from metatutor.service.jobs import fail_interrupted
from metatutor.service.kt import KTCache
from metatutor.service.routes import assessments, classes, course, keys, learners, models, xapi
from metatutor.service.security import KeyCache, hash_key
from metatutor.service.settings import Settings
from metatutor.service.store import TrackerCache
from metatutor.service.tables import ApiKey


def create_app(settings: Settings | None = None, *, prepare: bool = True) -> FastAPI:
    """The application. `prepare=False` skips migrations and the admin-key bootstrap (done once by
    `metatutor serve` before it starts several worker processes)."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    app = FastAPI(title="metatutor", summary="An adaptive learning engine that meta-learns how each learner learns.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.checkpointer = checkpointer(engine)
    app.state.trackers = TrackerCache(ttl=settings.cache_seconds)
    app.state.kt = KTCache(ttl=settings.cache_seconds)
    app.state.keys = KeyCache(ttl=settings.cache_seconds)
    if prepare:
        prepare_database(engine, settings)

    @app.exception_handler(MetatutorError)
    async def _library_error(_request: Request, exc: MetatutorError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": f"{type(exc).__name__}: {exc}"})

    @app.exception_handler(LoginRequired)
    async def _login(_request: Request, _exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse("/", status_code=303)

    for router in (course.router, keys.router, learners.router, classes.router, xapi.router, assessments.router,
                   models.router, dashboard.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=dashboard.HERE / "static"), name="static")
    _quiet_gc()
    return app


def _quiet_gc() -> None:
    """Move everything loaded so far (modules, the app) out of the collector's way and collect young
    objects less often: a request allocates many short-lived objects, and full collections over a few
    hundred thousand long-lived ones were the slowest requests' pauses."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


def prepare_database(engine: Engine, settings: Settings) -> None:
    """Migrate to the newest schema; store the bootstrap admin key (hashed) if one is set."""
    migrate(engine)
    with session_factory(engine)() as session:
        fail_interrupted(session)
        if settings.admin_key and session.query(ApiKey).filter_by(key_hash=hash_key(settings.admin_key)).first() is None:
            session.add(ApiKey(key_hash=hash_key(settings.admin_key), role="admin", subject=None))
            session.commit()


def worker_app() -> FastAPI:
    """The app of one `metatutor serve --workers N` process (settings from the environment)."""
    return create_app(prepare=False)
