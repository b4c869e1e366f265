"""`create_app()`: the FastAPI application (routers, database, error mapping)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from metatutor.errors import MetatutorError
from metatutor.service.db import make_engine, migrate, session_factory
from metatutor.service.routes import assessments, classes, course, keys, learners, xapi
from metatutor.service.security import hash_key
from metatutor.service.settings import Settings
from metatutor.service.store import TrackerCache
from metatutor.service.tables import ApiKey


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    app = FastAPI(title="metatutor", summary="An adaptive learning engine that meta-learns how each learner learns.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.trackers = TrackerCache()
    if settings.admin_key:
        with app.state.sessions() as session:
            if session.query(ApiKey).filter_by(key_hash=hash_key(settings.admin_key)).first() is None:
                session.add(ApiKey(key_hash=hash_key(settings.admin_key), role="admin", subject=None))
                session.commit()

    @app.exception_handler(MetatutorError)
    async def _library_error(_request: Request, exc: MetatutorError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": f"{type(exc).__name__}: {exc}"})

    for router in (course.router, keys.router, learners.router, classes.router, xapi.router, assessments.router):
        app.include_router(router)
    return app
