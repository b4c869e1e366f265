from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, Form, Request, UploadFile
from sqlalchemy import select

from metatutor.learner import Tracker
from metatutor.service import imports, store
from metatutor.service import tables as t
from metatutor.service.deps import PrincipalDep, SessionDep
from metatutor.service.http import JSONBody, api_router, body_doc, validated
from metatutor.service.schemas import CourseIn, CoursePublic
from metatutor.service.security import require_admin

router = api_router(tags=["course"])


def _load(course: CourseIn, session: SessionDep, request: Request, tracker: Tracker | None = None) -> CoursePublic:
    settings = request.app.state.settings
    version, stored = store.import_course(session, course, tracker, sessions=request.app.state.sessions,
                                          keep_history=settings.keep_history, inline=settings.rebuild_inline)
    request.app.state.rebuilder.switched((version, stored))
    return CoursePublic(skills=len(course.skills), prerequisites=len(course.prerequisites), items=len(course.items),
                        model_version=version)


def _text(upload: UploadFile) -> str:
    data = upload.file.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from metatutor.errors import ConfigError

        raise ConfigError(f"{upload.filename or 'the upload'} is not UTF-8 text") from None


@router.post("/api/course", response_model=CoursePublic, openapi_extra=body_doc(CourseIn))
def put_course(session: SessionDep, who: PrincipalDep, request: Request, body: JSONBody) -> CoursePublic:
    """Load a course (skills, prerequisites, items); a new learner-model version becomes active."""
    require_admin(who)
    return _load(validated(CourseIn, body), session, request)


@router.post("/api/course/csv", response_model=CoursePublic)
def put_course_csv(session: SessionDep, who: PrincipalDep, request: Request,
                         items: Annotated[UploadFile, File(description="CSV: item, skills (joined by ~~ ; or |)")],
                         prerequisites: Annotated[UploadFile | None, File(
                             description="CSV: prerequisite, skill")] = None,
                         resources: Annotated[UploadFile | None, File(
                             description="CSV: skill, kind, title, url")] = None) -> CoursePublic:
    """Load a course from CSV files (items with their skills and metadata; prerequisites; resources)."""
    require_admin(who)
    course = imports.course_from_csv(_text(items), _text(prerequisites) if prerequisites else None,
                                     _text(resources) if resources else None)
    return _load(course, session, request)


@router.post("/api/course/logs", response_model=CoursePublic)
def put_course_from_logs(session: SessionDep, who: PrincipalDep, request: Request,
                               logs: Annotated[UploadFile, File(description="Response logs in any format "
                                                                "`metatutor data check` reads")],
                               format: Annotated[str | None, Form()] = None) -> CoursePublic:
    """Learn a course from response logs (plain `def`: fitting runs in the thread pool, not on the event loop): items and skills from the logs, prerequisites estimated, and a
    learner model fitted on them becomes the active version."""
    require_admin(who)
    course, tracker = imports.course_from_logs(logs.file.read(), logs.filename or "logs.csv",
                                               format[:32] if format else None)
    return _load(course, session, request, tracker)


@router.post("/api/roster/oneroster")
def put_roster(session: SessionDep, who: PrincipalDep,
                     users: Annotated[UploadFile, File(description="OneRoster 1.1 users.csv")],
                     enrollments: Annotated[UploadFile, File(description="OneRoster 1.1 enrollments.csv")]
                     ) -> dict[str, Any]:
    """Create or update learners (pseudonymous sourcedIds) and their teachers from a OneRoster roster."""
    require_admin(who)
    roster = imports.oneroster(_text(users), _text(enrollments))
    ids = list(roster.learners)
    existing = {r.id: r for start in range(0, len(ids), 1000)  # bounded IN lists (SQLite's variable limit)
                for r in session.scalars(select(t.Learner).where(t.Learner.id.in_(ids[start:start + 1000])))}
    created = updated = 0
    for learner, teacher in roster.learners.items():
        row = existing.get(learner)
        if row is None:
            session.add(t.Learner(id=learner, teacher=teacher))
            created += 1
        elif row.teacher != teacher:
            row.teacher = teacher
            updated += 1
    session.commit()
    return {"learners_created": created, "learners_updated": updated, "teachers": roster.teachers,
            "learners_with_several_teachers": roster.several_teachers}
