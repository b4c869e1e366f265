"""What every request passes through before a route sees it, and every error on its way out.

* Bodies are read with a size limit (`max_body_bytes`; `max_upload_bytes` on the admin upload routes, for
  a caller with an admin key only), so a huge body is refused with 413 while it arrives.
* JSON is parsed by orjson, which refuses NaN, Infinity, numbers beyond a double, lone surrogates and
  nesting deeper than 1,024 levels: each is a 422 naming the position, never a 500.
* Errors have one shape, `{"detail": ...}` (`schemas.Problem`), documented for every route.
* Security headers on every answer; `Cache-Control: no-store` on everything but the static files.
* Failed keys and logins are counted per client address; too many in a minute get 429 for a while.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import anyio.from_thread
import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.middleware.body_limit import RequestBodyLimitResponder
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from metatutor.service.pacing import serving
from metatutor.service.schemas import Problem

UPLOAD_PATHS = ("/api/course", "/api/course/csv", "/api/course/logs", "/api/roster/oneroster", "/api/models/kt",
                "/api/assessments/bank", "/admin/course", "/admin/roster", "/admin/models")

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body cannot be read (a broken multipart form)."},
    401: {"model": Problem, "description": "No API key, or an unknown, revoked or expired one."},
    403: {"model": Problem, "description": "The key's role may not do this."},
    404: {"model": Problem, "description": "No such learner, assessment, model version or job."},
    409: {"model": Problem, "description": "Conflicts with the service's state (see the detail)."},
    413: {"model": Problem, "description": "The body is larger than the service accepts."},
    422: {"model": Problem, "description": "The request is not valid: what was wrong, and where."},
    429: {"model": Problem, "description": "Too many failed keys from this address: wait (Retry-After)."},
    503: {"model": Problem, "description": "The learner's state is being rebuilt after a model switch, or every "
          "database connection is in use: retry (Retry-After)."},
}


class JSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())  # orjson.JSONDecodeError is a json.JSONDecodeError
        return self._json


class Route(APIRoute):
    """A route whose JSON bodies are parsed strictly (see the module docstring) and which refuses query
    parameters it does not take (a misspelt `?item=` for `?items=` is an error, not silently ignored)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = _query_names(self.dependant)

        async def strict(request: Request) -> Response:
            unknown = sorted(set(request.query_params) - known)
            if unknown:
                takes = f"it takes {', '.join(sorted(known))}" if known else "it takes none"
                return JSONResponse(status_code=422, content={
                    "detail": f"unknown query parameter(s) {', '.join(repr(u[:50]) for u in unknown[:5])}; {takes}"})
            return await handler(JSONRequest(request.scope, request.receive))

        return strict


def _query_names(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def api_router(**kwargs: Any) -> APIRouter:
    """A router of the JSON API: strict JSON bodies, and every error status documented."""
    return APIRouter(route_class=Route, responses=ERRORS, **kwargs)


# ----- bodies validated in the thread pool -----------------------------------------------------------
# FastAPI validates a declared body on the event loop; a whole course (16,000 items) took 270 ms there, during
# which no other request moved. Routes that take such bodies read and validate them in a plain-`def`
# dependency instead (`JSONBody`), which FastAPI runs in the thread pool, and document them with `body_doc`.
BODY_MODELS: list[type[BaseModel]] = []
M = TypeVar("M", bound=BaseModel)


def read_json(request: Request) -> Any:
    """The request's JSON body, read and parsed strictly (orjson) from the thread pool."""
    raw = anyio.from_thread.run(request.body)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}]) from None


JSONBody = Annotated[Any, Depends(read_json)]


def validated(model: type[M], data: Any) -> M:
    """`data` as `model`, or the 422 FastAPI would have given for a declared body."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that validates `model` itself: the spec shows it as the JSON body."""
    BODY_MODELS.append(model)
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def add_body_schemas(app: Any) -> None:
    """Put the models of `body_doc` into the app's OpenAPI components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = build()
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        for model in BODY_MODELS:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                components.setdefault(name, sub)
            components.setdefault(model.__name__, schema)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi


def json_safe(value: Any) -> Any:
    """`value` with non-finite floats and anything else JSON cannot hold turned into strings."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{k: json_safe(v) for k, v in e.items() if k in ("type", "loc", "msg", "input", "ctx")}
              for e in exc.errors()[:50]]
    for e in errors:  # the offending value back, but never a whole 10 MB body
        if isinstance(e.get("input"), str) and len(e["input"]) > 200:
            e["input"] = e["input"][:200] + "…"
        elif isinstance(e.get("input"), dict | list) and len(orjson.dumps(e["input"])) > 2000:
            e.pop("input")
    return JSONResponse(status_code=422, content={"detail": errors})


class Guard:
    """Pure ASGI middleware: body limits and security headers (see the module docstring).
    `admin_key(scope)` says whether the request carries a valid admin key or admin session."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int, admin: Callable[[Scope], bool],
                 https: bool = False) -> None:
        self.app, self.max_body, self.max_upload, self.admin, self.https = app, max_body, max_upload, admin, https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        secure = self.https or scope.get("scheme") == "https"
        private = not path.startswith("/static/")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += security_headers(path, private=private, secure=secure)
                message = {**message, "headers": headers}
            await send(message)

        if any(not pair.split(b"=", 1)[0] for pair in scope.get("query_string", b"").split(b"&") if pair):
            response = JSONResponse(status_code=422, content={"detail": "a query parameter without a name"})
            await response(scope, receive, send_with_headers)
            return
        limit = self.max_body
        if scope["method"] in ("POST", "PUT") and path in UPLOAD_PATHS and self.admin(scope):
            limit = self.max_upload
        length = _content_length(scope)
        if length is not None and length > limit:
            response = JSONResponse(status_code=413, content={
                "detail": f"the body is {length} bytes; this service accepts at most {limit} bytes here"})
            await response(scope, receive, send_with_headers)
            return
        with serving():
            await RequestBodyLimitResponder(self.app, limit)(scope, receive, send_with_headers)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


# scripts and styles only from this site; Vega's expressions run through its interpreter (no eval); the
# inline import map that lets the interpreter find Vega's helpers is allowed by its hash (dashboard.IMPORT_MAP)
CSP = ("default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
SCRIPT_HASHES: list[str] = []  # filled by the dashboard module


def security_headers(path: str, *, private: bool, secure: bool) -> list[tuple[bytes, bytes]]:
    headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
               (b"x-frame-options", b"DENY"), (b"cross-origin-opener-policy", b"same-origin")]
    headers.append((b"content-security-policy", CSP.format(hashes=" ".join(SCRIPT_HASHES)).encode()))
    if private:
        headers.append((b"cache-control", b"no-store"))
    if secure:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


class FailedAuth:
    """Failed keys and logins per client address: `limit` failures within `window` seconds lock the address
    out for `lockout` seconds (429). Per process; with N workers an address gets at most N × limit tries."""

    def __init__(self, *, limit: int = 20, window: float = 60.0, lockout: float = 60.0) -> None:
        self.limit, self.window, self.lockout = limit, window, lockout
        self._failures: dict[str, list[float]] = {}
        self._locked: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        until = self._locked.get(address)
        if until is not None:
            wait = until - time.monotonic()
            if wait > 0:
                raise HTTPException(429, "too many failed keys or logins from this address; try again later",
                                    headers={"Retry-After": str(math.ceil(wait))})
            with self._lock:
                self._locked.pop(address, None)

    def failed(self, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 100_000:
                self._failures.clear()
            recent = [t for t in self._failures.get(address, []) if now - t < self.window] + [now]
            self._failures[address] = recent
            if len(recent) >= self.limit:
                self._locked[address] = now + self.lockout
                self._failures.pop(address, None)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
