"""`create_app()`: the FastAPI application (routers, database, limits, error mapping)."""

from __future__ import annotations

import contextlib
import gc
import logging
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import Scope

from metatutor.errors import MetatutorError
from metatutor.service import dashboard, http
from metatutor.service.dashboard import LoginRequired
from metatutor.service.db import checkpointer, make_engine, migrate, session_factory
from metatutor.service.jobs import JobRunner, fail_interrupted
from metatutor.service.kt import KTCache
from metatutor.service.routes import assessments, classes, course, items, keys, learners, models, xapi
from metatutor.service.security import (
    KeyCache,
    bootstrap_admin,
    deployment_secret,
    hash_key,
    principal_of,
    pseudonym,
    web_principal,
)
from metatutor.service.settings import Settings
from metatutor.service.states import Rebuilder, StateRebuilding
from metatutor.service.versions import TrackerCache


def create_app(settings: Settings | None = None, *, prepare: bool = True) -> FastAPI:
    """The application. `prepare=False` skips migrations and the admin-key bootstrap (done once by
    `metatutor serve` before it starts several worker processes)."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size, pool_timeout=settings.db_pool_timeout)
    app = FastAPI(title="metatutor", summary="An adaptive learning engine that meta-learns how each learner learns.",
                  docs_url=None, redoc_url=None, lifespan=_lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.checkpointer = checkpointer(engine)
    app.state.trackers = TrackerCache(ttl=settings.cache_seconds)
    app.state.kt = KTCache(ttl=settings.cache_seconds)
    app.state.keys = KeyCache(ttl=settings.cache_seconds)
    app.state.failed_auth = http.FailedAuth(limit=settings.login_attempts)
    app.state.rebuilder = Rebuilder(app.state.sessions, app.state.trackers, keep_history=settings.keep_history)
    # other instances follow a switch within cache_seconds
    app.state.jobs = JobRunner(app.state.sessions, {"train": app.state.rebuilder.switched,
                                                    "train-kt": app.state.kt.invalidate})
    if prepare:
        prepare_database(engine, settings)
    with app.state.sessions() as session:
        app.state.secret = deployment_secret(session, settings.secret_key)
    _redact_access_log(app.state.secret)

    def is_admin(scope: Scope) -> bool:
        """Whether a request carries an admin's key or dashboard session (for the larger upload limit)."""
        headers = dict(scope.get("headers", []))
        with app.state.sessions() as session:
            key = headers.get(b"x-api-key")
            if key:
                who = principal_of(session, hash_key(key.decode("latin-1")), app.state.keys)
            else:
                cookie = re.search(rb"(?:^|;\s*)" + dashboard.COOKIE.encode() + rb"=([^;]+)", headers.get(b"cookie", b""))
                found = web_principal(session, cookie.group(1).decode("latin-1"), app.state.keys) if cookie else None
                who = found[0] if found else None
        return who is not None and who.role == "admin"

    app.add_middleware(http.Guard, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes,
                       admin=is_admin, https=settings.https)

    @app.exception_handler(MetatutorError)
    async def _library_error(_request: Request, exc: MetatutorError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": f"{type(exc).__name__}: {exc}"})

    @app.exception_handler(StateRebuilding)
    async def _rebuilding(_request: Request, exc: StateRebuilding) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)},
                            headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(PoolTimeout)
    async def _busy(_request: Request, _exc: PoolTimeout) -> JSONResponse:
        return JSONResponse(status_code=503, headers={"Retry-After": "1"}, content={
            "detail": "the service is busy (every database connection is in use): retry shortly"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return await http.validation_error(request, exc)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method the path has, not only the first route's
            headers["Allow"] = ", ".join(_methods(app, request.scope))
        if request.url.path.startswith(("/api/", "/openapi", "/docs", "/static/")):
            return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail}, headers=headers)
        return dashboard.error_page(request, exc)  # a page for people, not JSON

    @app.exception_handler(LoginRequired)
    async def _login(_request: Request, _exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse("/", status_code=303)

    for router in (course.router, keys.router, learners.router, items.router, classes.router, xapi.router,
                   assessments.router, models.router, dashboard.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=dashboard.HERE / "static"), name="static")
    dashboard.add_docs(app)
    http.add_body_schemas(app)
    _quiet_gc()
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    sys.setswitchinterval(app.state.settings.switch_interval_ms / 1000)
    anyio.to_thread.current_default_thread_limiter().total_tokens = app.state.settings.threads
    app.state.jobs.wake()  # a served app polls for jobs queued by any instance
    try:
        yield
    finally:
        app.state.jobs.stop()


def _methods(app: FastAPI, scope: Scope) -> list[str]:
    from starlette.routing import Match

    found: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**scope, "method": "GET"})
        methods = getattr(route, "methods", None)
        if match != Match.NONE and methods:
            found |= set(methods)
    return sorted(found)


def _quiet_gc() -> None:
    """Move everything loaded so far (modules, the app) out of the collector's way and collect young
    objects less often: a request allocates many short-lived objects, and full collections over a few
    hundred thousand long-lived ones were the slowest requests' pauses."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


def prepare_database(engine: Engine, settings: Settings) -> None:
    """Migrate to the newest schema; make METATUTOR_ADMIN_KEY the bootstrap admin key (a previous one is
    revoked); mark jobs a stopped server left running as failed."""
    migrate(engine)
    with session_factory(engine)() as session:
        fail_interrupted(session)
        bootstrap_admin(session, settings.admin_key)


_LEARNER_PATH = re.compile(r"(/(?:api/learners|api/classes|class/learner)/)([^/?\s\"]+)")


class _Pseudonyms(logging.Filter):
    """Access-log lines name learners and teachers by keyed pseudonym, never by id."""

    def __init__(self, secret: bytes) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_LEARNER_PATH.sub(lambda m: m.group(1) + "~" + pseudonym(self.secret, m.group(2)), a)
                                if isinstance(a, str) else a for a in record.args)
        return True


def _redact_access_log(secret: bytes) -> None:
    logger = logging.getLogger("uvicorn.access")
    for old in [f for f in logger.filters if isinstance(f, _Pseudonyms)]:
        logger.removeFilter(old)
    logger.addFilter(_Pseudonyms(secret))


def worker_app() -> FastAPI:
    """The app of one `metatutor serve --workers N` process (settings from the environment)."""
    return create_app(prepare=False)


__all__: list[Any] = ["create_app", "prepare_database", "worker_app"]
