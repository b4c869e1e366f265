"""Learner-model versions: train one in the background (a job with progress), list them, switch the
active one without stopping the service (workers pick the switch up within `cache_seconds`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import select

from metatutor.service import jobs, store
from metatutor.service import tables as t
from metatutor.service.deps import PrincipalDep, SessionDep
from metatutor.service.schemas import RowId
from metatutor.service.security import require_admin

router = APIRouter(tags=["models"])


class TrainIn(BaseModel):
    activate: bool = True  # make the new version active when training ends
    seed: int = 0


def _version(row: t.ModelVersion) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "active": row.active, "created": row.created, "info": row.info}


def _job(row: t.Job) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "status": row.status, "progress": row.progress, "message": row.message,
            "model_version": row.model_version, "created": row.created, "finished": row.finished}


@router.get("/api/models")
def list_models(session: SessionDep, who: PrincipalDep) -> list[dict[str, Any]]:
    """Every stored model version (learner trackers and item banks), newest first."""
    require_admin(who)
    return [_version(r) for r in session.scalars(select(t.ModelVersion).order_by(t.ModelVersion.id.desc()))]


@router.post("/api/models/train", status_code=202)
def train(body: TrainIn, request: Request, session: SessionDep, who: PrincipalDep) -> dict[str, Any]:
    """Retrain the learner model on every stored response, as a background job; poll /api/jobs/{id}."""
    require_admin(who)
    store.TrackerCache(ttl=0).get(session)  # 409-style error now if there is no course yet
    job_id = jobs.start(request.app.state.sessions, "train",
                        jobs.train_tracker(activate=body.activate, seed=body.seed),
                        on_done=request.app.state.trackers.invalidate)  # other workers: within cache_seconds
    return {"job": job_id, "status": "queued"}


@router.get("/api/jobs/{job_id}")
def get_job(job_id: RowId, session: SessionDep, who: PrincipalDep) -> dict[str, Any]:
    """A job's status (queued, running, done, failed), progress (0-1) and the model version it made."""
    require_admin(who)
    row = session.get(t.Job, job_id)
    if row is None:
        raise HTTPException(404, f"no job {job_id}")
    return _job(row)


@router.post("/api/models/{version_id}/activate")
def activate(version_id: RowId, request: Request, session: SessionDep, who: PrincipalDep) -> dict[str, Any]:
    """Make a stored version the active one of its kind (learners' states follow on their next request)."""
    require_admin(who)
    if session.get(t.ModelVersion, version_id) is None:
        raise HTTPException(404, f"no model version {version_id}")
    row = store.switch(session, version_id)
    session.commit()
    request.app.state.trackers.invalidate()
    return _version(row)
