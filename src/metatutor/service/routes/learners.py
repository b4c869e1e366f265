from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from fastapi import HTTPException, Query, Request, Response

from metatutor.feedback.report import learner_report, skill_statuses
from metatutor.learner import LearnerState as TrackerState
from metatutor.learner import Tracker
from metatutor.policy.path import learning_path
from metatutor.service import kt, states, store
from metatutor.service.deps import PrincipalDep, RebuilderDep, SessionDep, SettingsDep, TrackerDep
from metatutor.service.fields import Name
from metatutor.service.http import api_router
from metatutor.service.schemas import (
    IngestPublic,
    LearnerIn,
    LearnerPublic,
    PathName,
    PolicyName,
    RecommendationPublic,
    ResponsesIn,
    StatePublic,
)
from metatutor.service.security import require_learner_access
from metatutor.service.tables import Learner

router = api_router(prefix="/api/learners", tags=["learners"])


def learner_state(session: SessionDep, model: TrackerDep, settings: SettingsDep, rebuilder: RebuilderDep,
                  learner_id: str) -> tuple[TrackerState, int]:
    """(state, answers) of a learner under the active tracker, caught up with their stored responses."""
    version, tracker = model
    return states.read(session, tracker, version, learner_id, inline=settings.rebuild_inline,
                       keep_history=settings.keep_history, rebuilder=rebuilder)


def check_batch(n: int, settings: SettingsDep) -> None:
    if n > settings.max_batch:
        raise HTTPException(422, f"{n} answers in one request; this service accepts at most {settings.max_batch} "
                                 "(METATUTOR_MAX_BATCH): send them in several requests")


@router.post("", response_model=LearnerPublic, status_code=201)
def create_learner(body: LearnerIn, session: SessionDep, who: PrincipalDep) -> LearnerPublic:
    """Add a learner (admin; a teacher adds learners to their own classes)."""
    if who.role == "learner":
        raise HTTPException(403, "learners cannot create learners")
    teacher = who.subject if who.role == "teacher" else body.teacher
    if session.get(Learner, body.id) is not None:
        raise HTTPException(409, f"learner {body.id!r} exists")
    session.add(Learner(id=body.id, teacher=teacher))
    session.commit()
    return LearnerPublic(id=body.id, teacher=teacher)


@router.delete("/{learner_id}", status_code=204)
def delete_learner(learner_id: PathName, session: SessionDep, who: PrincipalDep, request: Request) -> None:
    """Delete a learner and every trace of them (responses, state, keys)."""
    require_learner_access(session, who, learner_id)
    if who.role == "learner":
        raise HTTPException(403, "ask your teacher or an admin to delete your data")
    store.delete_learner(session, learner_id)
    request.app.state.keys.forget(learner_id)


@router.post("/{learner_id}/responses", response_model=IngestPublic)
def post_responses(learner_id: PathName, body: ResponsesIn, session: SessionDep, who: PrincipalDep,
                   model: TrackerDep, settings: SettingsDep, rebuilder: RebuilderDep,
                   next: Annotated[PolicyName | None, Query(description="Also recommend the next item with this "
                                                            "policy (saves a round trip).")] = None) -> IngestPublic:
    """Store answers (idempotent by event_id) and update the learner's state online. At most
    `max_batch` answers (default 1,000) per request."""
    require_learner_access(session, who, learner_id)
    check_batch(len(body.responses), settings)
    version, tracker = model
    done = states.ingest(session, tracker, version, {learner_id: body.responses}, keep_history=settings.keep_history,
                         inline=settings.rebuild_inline, rebuilder=rebuilder)[learner_id]
    rec = None if next is None or done.state is None else _recommend(tracker, done.state, learner_id, next)
    return IngestPublic(**done.counts(), next=rec)


def _recommend(tracker: Tracker, state: TrackerState, learner_id: str, policy: str) -> RecommendationPublic:
    rec = store.recommend(tracker, state, learner_id, policy)
    return RecommendationPublic(**{k: v for k, v in rec.to_dict().items() if k != "item_index"})


@router.get("/{learner_id}/state", response_model=StatePublic)
def get_state(learner_id: PathName, session: SessionDep, who: PrincipalDep, model: TrackerDep, settings: SettingsDep,
              rebuilder: RebuilderDep) -> StatePublic:
    """Mastery per skill with its uncertainty and status."""
    require_learner_access(session, who, learner_id)
    _, tracker = model
    state, answers = learner_state(session, model, settings, rebuilder, learner_id)
    skills = [asdict(s) for s in skill_statuses(tracker, state)]
    return StatePublic(learner=learner_id, answers=answers, ability=state.ability,
                       skills=skills)  # type: ignore[arg-type]


@router.get("/{learner_id}/next", response_model=RecommendationPublic)
def get_next(learner_id: PathName, session: SessionDep, who: PrincipalDep, model: TrackerDep, settings: SettingsDep,
             rebuilder: RebuilderDep, policy: PolicyName = "default") -> RecommendationPublic:
    """The next item to practise, with the reason."""
    require_learner_access(session, who, learner_id)
    state, _ = learner_state(session, model, settings, rebuilder, learner_id)
    return _recommend(model[1], state, learner_id, policy)


@router.get("/{learner_id}/report")
def get_report(learner_id: PathName, session: SessionDep, who: PrincipalDep, model: TrackerDep,
               settings: SettingsDep, rebuilder: RebuilderDep) -> dict[str, Any]:
    """The learner report: mastery, weak and blocked skills, mistakes, next steps with reasons, path."""
    require_learner_access(session, who, learner_id)
    _, tracker = model
    state, _ = learner_state(session, model, settings, rebuilder, learner_id)
    return learner_report(tracker, state, learner=learner_id, catalog=store.catalog(session)).to_dict()


@router.get("/{learner_id}/predict", response_model=dict[str, float])
def predict(learner_id: PathName, session: SessionDep, who: PrincipalDep, model: TrackerDep, request: Request,
            settings: SettingsDep, rebuilder: RebuilderDep,
            items: Annotated[list[Name] | None, Query(min_length=1, max_length=1000, description="Items to score "
                                                     "(`?items=a&items=b`); none: every item of the course.")] = None,
            by: Annotated[Literal["tracker", "kt"], Query(description="The skill tracker, or the active "
                                                      "knowledge-tracing model (POST /api/models/kt).")] = "tracker",
            ) -> Response:
    """Predicted P(correct) now on the given items (default: all of the course's), by the skill tracker
    or, with `by=kt`, by the active knowledge-tracing model (as the learner's next response)."""
    require_learner_access(session, who, learner_id)
    _, tracker = model
    if items is None:
        items = [str(i) for i in tracker.item_ids]
    unknown = sorted({i for i in items if i not in tracker.item_index})
    if unknown:
        raise HTTPException(422, f"unknown item(s) {', '.join(unknown[:10])}")
    if by == "kt":
        kt_version, served = request.app.state.kt.get(session)
        state, _ = kt.learner_state(session, served, kt_version, learner_id)
        p = kt.predict(served, state, tracker, items)
    else:
        p = tracker.p_correct(learner_state(session, model, settings, rebuilder, learner_id)[0])[
            [tracker.item_index[i] for i in items]]
    # the whole course can be 20k items: written by orjson, without a per-value validation pass
    return Response(orjson.dumps(dict(zip(items, np.round(p, 4).tolist(), strict=True))),
                    media_type="application/json")


@router.get("/{learner_id}/kt")
def kt_state(learner_id: PathName, session: SessionDep, who: PrincipalDep, model: TrackerDep,
             request: Request) -> dict[str, Any]:
    """The active knowledge-tracing model's view of the learner: per skill, the mean predicted P(correct)
    over the course's items of that skill, as the next response."""
    require_learner_access(session, who, learner_id)
    _, tracker = model
    kt_version, served = request.app.state.kt.get(session)
    state, answers = kt.learner_state(session, served, kt_version, learner_id)
    return {"learner": learner_id, "model_version": kt_version, "model": served.name, "answers": answers,
            "skills": kt.skill_predictions(served, state, tracker)}


@router.get("/{learner_id}/path")
def path(learner_id: PathName, session: SessionDep, who: PrincipalDep, model: TrackerDep, settings: SettingsDep,
         rebuilder: RebuilderDep, goals: Annotated[list[Name] | None, Query(max_length=1000)] = None
         ) -> list[dict[str, Any]]:
    """The learning path to chosen goal skills (`?goals=s1&goals=s2`; default: the learner's goals): the
    unmastered skills and their prerequisites in order, with the answers each is expected to take."""
    require_learner_access(session, who, learner_id)
    _, tracker = model
    if goals is not None:
        unknown = sorted(set(goals) - set(tracker.graph.skills))
        if unknown:
            raise HTTPException(422, f"unknown skill(s) {', '.join(unknown[:10])}")
    state, _ = learner_state(session, model, settings, rebuilder, learner_id)
    return [step.to_dict() for step in learning_path(tracker, state, goals)]
