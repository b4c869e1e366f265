from __future__ import annotations

from fastapi import APIRouter, Request

from metatutor.service import store
from metatutor.service.deps import PrincipalDep, SessionDep
from metatutor.service.schemas import CourseIn, CoursePublic
from metatutor.service.security import require_admin

router = APIRouter(prefix="/api/course", tags=["course"])


@router.post("", response_model=CoursePublic)
def put_course(course: CourseIn, session: SessionDep, who: PrincipalDep, request: Request) -> CoursePublic:
    """Load a course (skills, prerequisites, items); a new learner-model version becomes active."""
    require_admin(who)
    version = store.import_course(session, course)
    request.app.state.trackers.invalidate()
    return CoursePublic(skills=len(course.skills), prerequisites=len(course.prerequisites), items=len(course.items),
                        model_version=version)
