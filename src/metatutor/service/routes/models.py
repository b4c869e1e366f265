"""Learner-model versions: train one in the background (a job with progress), upload a KT model trained
elsewhere, list them, switch the active one without stopping the service (workers pick the switch up
within `cache_seconds`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import File, Form, HTTPException, Request, UploadFile
from pydantic import Field
from sqlalchemy import distinct, func, select

from metatutor.errors import ConfigError
from metatutor.service import jobs, kt, versions
from metatutor.service import tables as t
from metatutor.service.deps import PrincipalDep, SessionDep
from metatutor.service.fields import Count, Finite, Flag, check_json
from metatutor.service.http import api_router
from metatutor.service.schemas import Body, RowId
from metatutor.service.security import require_admin

router = api_router(tags=["models"])
META_MIN_LEARNERS = 10  # learners with answers before the meta-learned model can be trained on them


class TrainIn(Body):
    activate: Flag = True  # make the new version active when training ends
    seed: Count = Field(0, ge=0, le=2**31 - 1)
    kind: Literal["tracker", "kt"] = "tracker"  # the learner model every decision reads, or a knowledge-tracing model
    # which model: for `tracker`, default (= meta, the meta-learned learner model) or tracker (the skill tracker);
    # for `kt`, default (the sequence-only ensemble), default-classmates (= ensemble-pairs), attn, dkt, ...
    model: Literal["default", "meta", "tracker", "default-classmates", "attn", "dkt", "irt", "irt2pl", "pairs",
                   "ensemble", "ensemble-pairs"] = "default"
    max_epochs: Count | None = Field(default=None, ge=1, le=200)  # most epochs of a neural model (default: its own)
    meta_steps: Count | None = Field(default=None, ge=1, le=20_000)  # the meta-learned model's outer steps
    valid: Finite = Field(default=0.2, ge=0.0, lt=1.0)  # the learners held out to early-stop it


def _version(row: t.ModelVersion) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "active": row.active, "created": row.created, "info": row.info}


def _job(row: t.Job) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "status": row.status, "progress": row.progress, "message": row.message,
            "model_version": row.model_version, "created": row.created, "finished": row.finished}


@router.get("/api/models")
def list_models(session: SessionDep, who: PrincipalDep) -> list[dict[str, Any]]:
    """Every stored model version (skill trackers, KT models, item banks), newest first."""
    require_admin(who)
    return [_version(r) for r in session.scalars(select(t.ModelVersion).order_by(t.ModelVersion.id.desc()))]


@router.post("/api/models/train", status_code=202)
def train(body: TrainIn, request: Request, session: SessionDep, who: PrincipalDep) -> dict[str, Any]:
    """Fit the learner model every decision reads (`kind: tracker`; `model`: default = the meta-learned model,
    or tracker) or a knowledge-tracing model (`kind: kt`) on every stored response, as a background job;
    poll /api/jobs/{id}."""
    require_admin(who)
    versions.TrackerCache(ttl=0).get(session)  # an error now if there is no course yet
    learner_models = ("default", "meta", "tracker")
    if body.kind == "tracker" and body.model not in learner_models:
        raise ConfigError(f"kind tracker fits a learner model: model {body.model!r} is a knowledge-tracing model "
                          f"(choose {', '.join(learner_models)}, or kind kt)")
    if body.kind == "kt" and body.model in ("meta", "tracker"):
        raise ConfigError(f"kind kt fits a knowledge-tracing model: {body.model!r} is a learner model (kind tracker)")
    if body.kind == "kt":
        if not session.scalar(select(func.count()).select_from(t.Response)):
            raise ConfigError("no responses stored yet: a KT model learns from them")
        busy = session.scalar(select(t.Job.id).where(t.Job.kind == "train-kt", t.Job.status.in_(["queued", "running"])))
        if busy is not None:  # one at a time: a fit takes the machine's cores
            raise HTTPException(409, f"a KT model is training already (job {busy}); try again when it ends")
        job_id = jobs.enqueue(session, "train-kt", {"model": body.model, "activate": body.activate, "seed": body.seed,
                                                    "max_epochs": body.max_epochs, "valid": body.valid})
    else:
        if body.model != "tracker":
            learners = session.scalar(select(func.count(distinct(t.Response.learner_id)))) or 0
            if learners < META_MIN_LEARNERS:
                raise ConfigError(f"the meta-learned model learns from learners as tasks: it needs answers of at least "
                                  f"{META_MIN_LEARNERS} learners ({learners} so far); model tracker fits on fewer")
        busy = session.scalar(select(t.Job.id).where(t.Job.kind == "train", t.Job.status.in_(["queued", "running"])))
        if body.model != "tracker" and busy is not None:
            raise HTTPException(409, f"a learner model is training already (job {busy}); try again when it ends")
        job_id = jobs.enqueue(session, "train", {"activate": body.activate, "seed": body.seed, "model": body.model,
                                                 "max_epochs": body.max_epochs, "meta_steps": body.meta_steps,
                                                 "valid": body.valid})
    request.app.state.jobs.wake()  # this instance looks at once; any instance may take it
    return {"job": job_id, "status": "queued"}


@router.post("/api/models/kt", status_code=201)
def upload_kt(model: Annotated[UploadFile, File(description="The model.json of a saved model.")],
              arrays: Annotated[UploadFile, File(description="Its arrays.safetensors.")],
              session: SessionDep, who: PrincipalDep, request: Request,
              training: Annotated[UploadFile | None, File(description="Its training.json, if any.")] = None,
              activate: Annotated[bool, Form()] = True) -> dict[str, Any]:
    """Store a knowledge-tracing model saved by `metatutor train` (or `save()`): attn, dkt, irt or their
    ensemble. `curl -F model=@DIR/model.json -F arrays=@DIR/arrays.safetensors -F training=@DIR/training.json`"""
    require_admin(who)
    from safetensors.numpy import load

    from metatutor.models import model_from_parts
    from metatutor.models.serving import ServedModel

    try:
        meta = orjson.loads(model.file.read())
        loaded = load(arrays.file.read())
    except Exception as exc:  # not JSON, not safetensors (its own error type)
        raise ConfigError(f"upload a saved model's model.json and arrays.safetensors ({type(exc).__name__})") from None
    if not isinstance(meta, dict):
        raise ConfigError("model.json must hold a saved model's description (a JSON object)")
    served = ServedModel(model_from_parts(meta, loaded, where="the upload"))
    coverage = kt.course_coverage(session, served)
    if coverage["course_items"] and not coverage["course_items_known"]:
        raise ConfigError("the model knows none of this course's items: was it trained on another course?")
    info: dict[str, Any] = {"source": "upload", **coverage}
    if training is not None:
        try:
            record = orjson.loads(training.file.read() or b"{}")
        except ValueError:
            raise ConfigError("training.json is not JSON") from None
        if not isinstance(record, dict):
            raise ConfigError("training.json must be a JSON object (as `metatutor train` writes it)")
        kept = {k: record[k] for k in ("model", "data", "seed", "train_learners", "valid_learners",
                                       "train_responses", "valid_auc", "seconds") if k in record}
        try:
            info["training"] = check_json({k: v[:500] if isinstance(v, str) else v for k, v in kept.items()})
        except ValueError as exc:
            raise ConfigError(f"training.json: {exc}") from None
    version = kt.store_model(session, served, info=info, activate=activate)
    request.app.state.kt.invalidate()
    row = session.get(t.ModelVersion, version)
    assert row is not None
    return _version(row)


@router.post("/api/models/learner", status_code=201)
def upload_learner_model(model: Annotated[UploadFile, File(description="The learner.json of a saved learner model.")],
                         session: SessionDep, who: PrincipalDep, request: Request,
                         arrays: Annotated[UploadFile | None, File(
                             description="Its arrays.safetensors (the meta-learned model has one).")] = None,
                         activate: Annotated[bool, Form()] = True) -> dict[str, Any]:
    """Store the learner model every decision reads, as `metatutor train --model default` (or `tracker`) saved
    it, for the service's course: items it never saw are predicted from their skills. `curl -F
    model=@DIR/learner.json -F arrays=@DIR/arrays.safetensors`"""
    require_admin(who)
    import tempfile
    from pathlib import Path

    from metatutor.learner import load_tracker

    _, current = versions.TrackerCache(ttl=0).get(session)  # an error now if there is no course yet
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "learner.json").write_bytes(model.file.read())
        if arrays is not None:
            (Path(tmp) / "arrays.safetensors").write_bytes(arrays.file.read())
        try:
            uploaded = load_tracker(tmp)
        except ConfigError as exc:  # named after the upload, not the server's temporary folder
            raise ConfigError(str(exc).replace(tmp, "the upload")) from None
        except Exception as exc:  # not JSON, not safetensors, wrong sizes: the upload is not a saved model
            raise ConfigError(f"upload a saved learner model's learner.json (and arrays.safetensors) "
                              f"({type(exc).__name__})") from None
    known = set(map(str, uploaded.item_ids)) & set(map(str, current.item_ids))
    if current.n_items and not known:
        raise ConfigError("the model knows none of this course's items: was it trained on another course?")
    info = {"source": "upload", "model": uploaded.name, "course_items": current.n_items,
            "course_items_known": len(known)}
    served = uploaded.with_course(current.course)
    version = versions.store_tracker(session, served, info=info, active=activate)
    if activate:
        request.app.state.rebuilder.switched((version, served))
    row = session.get(t.ModelVersion, version)
    assert row is not None
    return _version(row)


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
    row = versions.switch(session, version_id)
    session.commit()
    request.app.state.kt.invalidate()
    if row.kind == "tracker":
        request.app.state.rebuilder.switched()
    return _version(row)
