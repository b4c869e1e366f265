"""The dashboard: server-rendered pages (Jinja2), partial updates with htmx, charts with Vega-Lite, maths
with KaTeX and a MathLive answer field (all JavaScript served from /static; nothing from a CDN; Vega's
expressions run through its CSP-safe interpreter). Same API keys and roles as the JSON API: logging in
with a key starts a server-side session (the cookie holds a random session id, HTTP-only, same-site,
Secure over HTTPS); every form carries the session's CSRF token and a cross-site Origin is refused.

- `/practice`: a learner answers items (typed, graded on the server), with hints, feedback on known
  misconceptions, the worked solution, the next item and their plan (`web.practice`);
- `/assess`: an adaptive test on the same items (`web.assess`);
- `/class`, `/class/learner/{id}`: a teacher's class and each learner's report, also as CSV (`web.teacher`);
- `/admin`: the course, roster, models and keys (`web.admin`).

Every page works with the keyboard alone, labels every field for screen readers, and fits a 375 px screen.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from metatutor.service.deps import SessionDep, SettingsDep
from metatutor.service.http import client_address
from metatutor.service.security import authenticate, end_web_session, new_web_session, web_principal
from metatutor.service.web import admin, assess, practice, teacher  # noqa: F401  (their pages join `router`)
from metatutor.service.web.base import COOKIE, HERE, IMPORT_MAP, LoginRequired, Visitor, home, page, router, same_origin
from metatutor.service.web.base import who as _who

__all__ = ["COOKIE", "HERE", "IMPORT_MAP", "LoginRequired", "Visitor", "add_docs", "error_page", "router"]


def error_page(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
    """An error on a dashboard page, as a page (with a way back), not JSON."""
    titles = {403: "Not allowed", 404: "Not found", 409: "Not now", 413: "Too large", 422: "Not understood",
              429: "Too many tries"}
    detail = exc.detail if isinstance(exc.detail, str) else "the request was not valid"
    person = None
    try:
        with request.app.state.sessions() as session:
            found = web_principal(session, request.cookies.get(COOKIE), request.app.state.keys)
            person = Visitor(*found) if found else None
    except Exception:  # the error page must not fail on its own
        person = None
    response = page(request, "error.html", person, status=exc.status_code, status_code=exc.status_code,
                    title=titles.get(exc.status_code, "Error"), detail=detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def add_docs(app: Any) -> None:
    """The interactive API reference at /docs from the vendored Swagger UI (works offline)."""

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE)


DOCS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>metatutor API</title><link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/vendor/swagger-ui.css"></head><body><div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui-bundle.js"></script><script src="/static/docs.js"></script></body></html>"""


# ----- log in and out ------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def login_form(request: Request, session: SessionDep, error: str | None = None) -> Response:
    found = web_principal(session, request.cookies.get(COOKIE), request.app.state.keys)
    if found is not None:  # logged in already: their home page
        return RedirectResponse(home(found[0]), status_code=303)
    return page(request, "login.html", error=error)


@router.post("/login")
def login(request: Request, session: SessionDep, settings: SettingsDep,
          key: Annotated[str, Form(max_length=400)]) -> Response:
    same_origin(request)
    failures, address = request.app.state.failed_auth, client_address(request)
    failures.check(address)
    try:
        person = authenticate(session, key.strip(), request.app.state.keys)
    except HTTPException:
        failures.failed(address)
        return page(request, "login.html", error="Unknown, expired or revoked key.")
    sid, _ = new_web_session(session, person, hours=settings.session_hours)
    res = RedirectResponse(home(person), status_code=303)
    secure = settings.https or request.url.scheme == "https"
    res.set_cookie(COOKIE, sid, httponly=True, samesite="strict", secure=secure,
                   max_age=int(settings.session_hours * 3600))
    return res


@router.post("/logout")
def logout(request: Request, session: SessionDep, csrf: Annotated[str | None, Form(max_length=200)] = None) -> Response:
    try:
        _who(request, session, csrf)
        end_web_session(session, request.cookies.get(COOKIE))
    except LoginRequired:
        pass
    res = RedirectResponse("/", status_code=303)
    res.delete_cookie(COOKIE)
    return res

