"""Database tables (SQLAlchemy 2 typed ORM). "models" means learner models in this project, hence the name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Skill(Base):
    __tablename__ = "skills"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)


class Prerequisite(Base):
    __tablename__ = "prerequisites"
    prerequisite: Mapped[str] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True)
    skill: Mapped[str] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True)


class Item(Base):
    __tablename__ = "items"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    skills: Mapped[list[str]] = mapped_column(JSON)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # the author's: text, difficulty…


class CourseResource(Base):
    __tablename__ = "resources"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    skill: Mapped[str] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # video | reading | hint | exercise | other
    title: Mapped[str] = mapped_column(String(500))
    url: Mapped[str] = mapped_column(String(2000), default="")


class Learner(Base):
    __tablename__ = "learners"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # a pseudonymous token; no names needed
    teacher: Mapped[str | None] = mapped_column(String(200), index=True)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | teacher | learner
    subject: Mapped[str | None] = mapped_column(String(200))  # the teacher's or learner's id (none: admin)
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created: Mapped[float | None] = mapped_column(Float, nullable=True)
    expires: Mapped[float | None] = mapped_column(Float, nullable=True)  # none: until revoked
    last_used: Mapped[float | None] = mapped_column(Float, nullable=True)  # to the hour
    bootstrap: Mapped[bool] = mapped_column(Boolean, default=False)  # from METATUTOR_ADMIN_KEY


class WebSession(Base):
    """A dashboard login: the cookie holds a random id whose hash is stored here, never the API key."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))  # the token every form of this session carries
    created: Mapped[float] = mapped_column(Float)
    expires: Mapped[float] = mapped_column(Float)


class Secret(Base):
    """Deployment secrets made by the service itself (the pseudonym key when `secret_key` is not set)."""

    __tablename__ = "secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("learner_id", "event_id"), Index("ix_responses_learner_order", "learner_id", "id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(200))  # the client's id: a replay is stored once
    item_id: Mapped[str] = mapped_column(String(200))
    correct: Mapped[bool] = mapped_column(Boolean)
    timestamp: Mapped[float] = mapped_column(Float)
    # for an answer the server graded (`POST /api/learners/{id}/attempts`): what was typed, the verdict, the
    # misconception it showed, the hints shown before it, the seconds it took
    answer: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)
    misconception: Mapped[str | None] = mapped_column(String(200), nullable=True)
    hints: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)


class HintView(Base):
    """A hint shown to a learner on an item; the next graded answer to that item counts (and clears) them."""

    __tablename__ = "hint_views"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(String(200))
    shown: Mapped[float] = mapped_column(Float)


class LearnerState(Base):
    __tablename__ = "learner_states"
    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    answers: Mapped[int] = mapped_column(Integer, default=0)
    last_response: Mapped[int] = mapped_column(Integer, default=0)  # the last `responses.id` stepped into `state`


class ModelVersion(Base):
    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # "tracker", "bank" or "kt"
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    info: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # what it was trained on, how long
    created: Mapped[float | None] = mapped_column(Float, nullable=True)
    # a KT model's `to_bytes()` (safetensors; read only when that version is loaded)
    arrays: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)


class KTState(Base):
    """A learner's online state under a KT model version, up to (and including) their response
    `last_response` (a `responses.id`; later ones are stepped in when the state is next read)."""

    __tablename__ = "kt_states"
    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer)
    last_response: Mapped[int] = mapped_column(Integer)
    answers: Mapped[int] = mapped_column(Integer)
    state: Mapped[bytes] = mapped_column(LargeBinary)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # "train"
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(500), default="")
    model_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created: Mapped[float] = mapped_column(Float)
    finished: Mapped[float | None] = mapped_column(Float, nullable=True)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # what the job's work is made from
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the instance running it
    heartbeat: Mapped[float | None] = mapped_column(Float, nullable=True)


class Assessment(Base):
    __tablename__ = "assessments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"), index=True)
    bank_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)  # CATSession.to_dict()
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
