"""The admin's pages: what the service holds (course, learners, model versions, jobs, keys) and forms for
what needed curl before: load a course (the built-in maths course, JSON, CSV or response logs), a
OneRoster roster or a single learner, a knowledge-tracing model (upload or train), an item bank, keys.
Each form calls the same function as its API route; its outcome or its error is shown on the page."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import orjson
from fastapi import File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from metatutor.errors import MetatutorError
from metatutor.service import tables as t
from metatutor.service.deps import SessionDep
from metatutor.service.routes import assessments, course, keys, learners, models
from metatutor.service.schemas import KeyIn, LearnerIn
from metatutor.service.security import require_admin
from metatutor.service.web.base import Token, Visitor, natural, page, router, who

Upload = Annotated[UploadFile | None, File()]
Text = Annotated[str | None, Form(max_length=200)]


def _admin(request: Request, session: SessionDep, csrf: str | None = None) -> Visitor:
    person = who(request, session, csrf)
    require_admin(person.who)
    return person


def _given(upload: UploadFile | None) -> UploadFile | None:
    """A file field the form left empty arrives as a nameless, empty upload."""
    return upload if upload is not None and upload.filename else None


def _overview(session: SessionDep) -> dict[str, Any]:
    count = lambda table: int(session.scalar(select(func.count()).select_from(table)) or 0)  # noqa: E731
    metas = session.scalars(select(t.Item.meta)).all()
    versions = session.scalars(select(t.ModelVersion).order_by(t.ModelVersion.id.desc()).limit(30)).all()
    return {"skills": count(t.Skill), "items": len(metas), "with_content": sum(1 for m in metas if m and m.get("statement")),
            "learners": count(t.Learner), "responses": count(t.Response),
            "teachers": natural({x for x in session.scalars(select(t.Learner.teacher)) if x}),
            "versions": [{"id": v.id, "kind": v.kind, "active": v.active, "info": _info(v.info),
                          "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(v.created)) if v.created else ""}
                         for v in versions],
            "jobs": session.scalars(select(t.Job).order_by(t.Job.id.desc()).limit(5)).all(),
            "keys": session.scalars(select(t.ApiKey).order_by(t.ApiKey.id.desc()).limit(50)).all()}


def _info(info: dict[str, Any] | None) -> str:
    if not info:
        return ""
    keep = ("source", "model", "learners", "responses", "course_items_known", "course_items", "valid_auc", "seconds")
    return ", ".join(f"{k}: {info[k]}" for k in keep if k in info and not isinstance(info[k], dict | list))


def _done(request: Request, session: SessionDep, person: Visitor, *, message: str | None = None,
          error: str | None = None, status: int = 200, **extra: Any) -> HTMLResponse:
    return page(request, "admin.html", person, status=status, active="admin", message=message, error=error,
                **_overview(session), **extra)


def _attempt(request: Request, session: SessionDep, person: Visitor, action: Callable[[], str],
             extra: dict[str, Any] | None = None) -> HTMLResponse:
    """Run a form's action; its message (and what it put in `extra`), or its error, on the admin page."""
    try:
        message = action()
    except HTTPException as exc:
        session.rollback()
        return _done(request, session, person, error=str(exc.detail), status=exc.status_code)
    except (MetatutorError, ValidationError, RequestValidationError, ValueError) as exc:
        session.rollback()
        return _done(request, session, person, error=_describe(exc), status=422)
    return _done(request, session, person, message=message, **(extra or {}))


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError | RequestValidationError):
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()) if x != 'body')}: {e.get('msg')}" for e in exc.errors()[:5]]
        return "not valid: " + "; ".join(parts)
    return f"{type(exc).__name__}: {str(exc)[:500]}"


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, session: SessionDep) -> Response:
    return _done(request, session, _admin(request, session))


@router.post("/admin/course", response_class=HTMLResponse)
def admin_course(request: Request, session: SessionDep, csrf: Token = None,
                 source: Annotated[Literal["builtin", "json", "csv", "logs"], Form()] = "builtin",
                 per_template: Annotated[int, Form(ge=1, le=200)] = 20, course_file: Upload = None,
                 items: Upload = None, prerequisites: Upload = None, resources: Upload = None, logs: Upload = None,
                 format: Text = None) -> Response:
    """Load a course; a new learner-model version becomes active."""
    person = _admin(request, session, csrf)

    def load() -> str:
        if source == "builtin":
            from metatutor.content import course_body

            done = course.put_course(session, person.who, request, course_body(per_template))
        elif source == "json":
            upload = _need(course_file, "the course's JSON file")
            try:
                body = orjson.loads(upload.file.read())
            except orjson.JSONDecodeError as exc:
                raise HTTPException(422, f"the course file is not JSON ({exc})") from None
            done = course.put_course(session, person.who, request, body)
        elif source == "csv":
            done = course.put_course_csv(session, person.who, request, _need(items, "the items CSV"),
                                         _given(prerequisites), _given(resources))
        else:
            done = course.put_course_from_logs(session, person.who, request, _need(logs, "the logs file"),
                                               format or None)
        return (f"Course loaded: {done.skills} skills, {done.prerequisites} prerequisites, {done.items} items "
                f"(learner model version {done.model_version}).")

    return _attempt(request, session, person, load)


def _need(upload: UploadFile | None, what: str) -> UploadFile:
    found = _given(upload)
    if found is None:
        raise HTTPException(422, f"choose {what}")
    return found


@router.post("/admin/roster", response_class=HTMLResponse)
def admin_roster(request: Request, session: SessionDep, csrf: Token = None, users: Upload = None,
                 enrollments: Upload = None) -> Response:
    """Learners and their teachers from a OneRoster 1.1 roster (users.csv and enrollments.csv)."""
    person = _admin(request, session, csrf)

    def load() -> str:
        done = course.put_roster(session, person.who, _need(users, "users.csv"), _need(enrollments, "enrollments.csv"))
        return (f"Roster loaded: {done['learners_created']} learners added, {done['learners_updated']} moved, "
                f"{len(done['teachers'])} teachers.")

    return _attempt(request, session, person, load)


@router.post("/admin/learners", response_class=HTMLResponse)
def admin_learner(request: Request, session: SessionDep, learner: Annotated[str, Form(max_length=200)],
                  csrf: Token = None, teacher: Text = None) -> Response:
    person = _admin(request, session, csrf)

    def add() -> str:
        done = learners.create_learner(LearnerIn(id=learner, teacher=teacher or None), session, person.who)
        return f"Learner {done.id} added{f' to the class of {done.teacher}' if done.teacher else ''}."

    return _attempt(request, session, person, add)


@router.post("/admin/models", response_class=HTMLResponse)
def admin_models(request: Request, session: SessionDep, csrf: Token = None, model: Upload = None,
                 arrays: Upload = None, training: Upload = None) -> Response:
    """Upload a knowledge-tracing model saved by `metatutor train` (it becomes the active one)."""
    person = _admin(request, session, csrf)

    def load() -> str:
        done = models.upload_kt(_need(model, "the model's model.json"), _need(arrays, "its arrays.safetensors"),
                                session, person.who, request, training=_given(training), activate=True)
        return f"Knowledge-tracing model stored as version {done['id']} and made active."

    return _attempt(request, session, person, load)


@router.post("/admin/learner-model", response_class=HTMLResponse)
def admin_learner_model(request: Request, session: SessionDep, csrf: Token = None, model: Upload = None,
                        arrays: Upload = None) -> Response:
    """Upload the learner model every decision reads, as `metatutor train` saved it (it becomes the active one)."""
    person = _admin(request, session, csrf)

    def load() -> str:
        done = models.upload_learner_model(_need(model, "the model's learner.json"), session, person.who, request,
                                           arrays=_given(arrays), activate=True)
        return (f"Learner model ({done['info']['model']}) stored as version {done['id']} and made active; it knows "
                f"{done['info']['course_items_known']} of the course's {done['info']['course_items']} items.")

    return _attempt(request, session, person, load)


@router.post("/admin/train", response_class=HTMLResponse)
def admin_train(request: Request, session: SessionDep, csrf: Token = None,
                kind: Annotated[Literal["tracker", "kt"], Form()] = "tracker",
                model: Annotated[Literal["default", "meta", "tracker", "attn", "dkt", "irt", "irt2pl", "pairs", "ensemble",
                                         "ensemble-pairs"], Form()] = "default") -> Response:
    """Fit the learner model or a knowledge-tracing model on every stored response, as a background job."""
    person = _admin(request, session, csrf)

    def train() -> str:
        done = models.train(models.TrainIn(kind=kind, model=model, seed=0), request, session, person.who)
        return f"Training started (job {done['job']}); its progress shows under Jobs."

    return _attempt(request, session, person, train)


@router.post("/admin/activate", response_class=HTMLResponse)
def admin_activate(request: Request, session: SessionDep, version: Annotated[int, Form(ge=1, le=2**31 - 1)],
                   csrf: Token = None) -> Response:
    person = _admin(request, session, csrf)

    def switch() -> str:
        done = models.activate(version, request, session, person.who)
        return f"Version {done['id']} ({done['kind']}) is now the active one."

    return _attempt(request, session, person, switch)


@router.post("/admin/bank", response_class=HTMLResponse)
def admin_bank(request: Request, session: SessionDep, csrf: Token = None,
               kind: Annotated[Literal["1pl", "2pl"], Form()] = "1pl") -> Response:
    """Calibrate the assessment's item bank from every stored response."""
    person = _admin(request, session, csrf)

    def calibrate() -> str:
        done = assessments.put_bank(session, person.who, {"kind": kind})
        return f"Item bank calibrated: {done['items']} items ({done['kind']}, version {done['bank_version']})."

    return _attempt(request, session, person, calibrate)


@router.post("/admin/keys", response_class=HTMLResponse)
def admin_keys(request: Request, session: SessionDep, csrf: Token = None,
               role: Annotated[Literal["admin", "teacher", "learner"], Form()] = "learner", subject: Text = None,
               label: Text = None, expires_in_days: Annotated[float | None, Form(gt=0, le=3650)] = None) -> Response:
    """A new key, shown once on the page."""
    person = _admin(request, session, csrf)
    made: dict[str, Any] = {}

    def create() -> str:
        done = keys.create_key(KeyIn(role=role, subject=subject or None, label=label or None,
                                     expires_in_days=expires_in_days), session, person.who)
        made["new_key"] = {"key": done.key, "role": done.role, "subject": done.subject}
        return (f"Key {done.id} made for the {done.role}{f' {done.subject}' if done.subject else ''}: copy it now, "
                "it is not shown again.")

    return _attempt(request, session, person, create, made)


@router.post("/admin/keys/revoke", response_class=HTMLResponse)
def admin_revoke(request: Request, session: SessionDep, key_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
                 csrf: Token = None) -> Response:
    person = _admin(request, session, csrf)

    def revoke() -> str:
        keys.delete_key(key_id, session, person.who, request)
        return f"Key {key_id} revoked; its dashboard sessions ended."

    return _attempt(request, session, person, revoke)
