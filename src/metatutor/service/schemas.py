"""Request and response bodies (pydantic 2), in families per resource."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from fastapi import Path as PathParam
from pydantic import BaseModel, Field, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
RowId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="A row id (positive, 32-bit).")]


class ItemIn(BaseModel):
    id: Name
    skills: list[Name] = Field(min_length=1)
    meta: dict[str, Any] = {}  # anything the app wants back with the item (text, difficulty, media)


class ResourceIn(BaseModel):
    skill: Name
    kind: Literal["video", "reading", "hint", "exercise", "other"] = "other"
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    url: Annotated[str, StringConstraints(max_length=2000)] = ""


class CourseIn(BaseModel):
    skills: list[Name] = Field(min_length=1)
    prerequisites: list[tuple[Name, Name]] = []  # (prerequisite, skill)
    items: list[ItemIn] = Field(min_length=1)
    resources: list[ResourceIn] = []  # linked to skills; offered for weak skills in learner reports

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Unique skills and items; every item's skill is a course skill (prerequisites: SkillGraph checks)."""
        problems = []
        for what, names in (("skill", self.skills), ("item", [i.id for i in self.items])):
            seen: set[str] = set()
            dup = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
            if dup:
                problems.append(f"duplicate {what} ids: {', '.join(dup[:10])}")
        known = set(self.skills)
        unknown = sorted(({s for i in self.items for s in i.skills} | {r.skill for r in self.resources}) - known)
        if unknown:
            problems.append(f"items or resources name skills that are not in `skills`: {', '.join(unknown[:10])}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class CoursePublic(BaseModel):
    skills: int
    prerequisites: int
    items: int
    model_version: int


class LearnerIn(BaseModel):
    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:@-]+$")
    teacher: str | None = None


class LearnerPublic(BaseModel):
    id: str
    teacher: str | None


class ResponseIn(BaseModel):
    event_id: str = Field(min_length=1, max_length=200)
    item: str = Field(min_length=1, max_length=200)
    correct: bool
    timestamp: float | None = None  # seconds; the server's clock when omitted


class ResponsesIn(BaseModel):
    responses: list[ResponseIn] = Field(min_length=1, max_length=10_000)


class RecommendationPublic(BaseModel):
    item: str
    skill: str
    predicted: float
    mastery: float
    reason: str
    policy: str
    kind: str


PolicyName = Literal["default", "random", "curriculum", "mastery", "target", "gain", "thompson", "review"]


class IngestPublic(BaseModel):
    stored: int
    duplicates: int
    answers: int
    next: RecommendationPublic | None = None  # when asked for with ?next=POLICY


class SkillStatePublic(BaseModel):
    skill: str
    mastery: float
    uncertainty: float
    status: str
    answers: int
    wrong: int
    blocked_by: list[str]


class StatePublic(BaseModel):
    learner: str
    answers: int
    ability: float
    skills: list[SkillStatePublic]


class KeyIn(BaseModel):
    role: Literal["admin", "teacher", "learner"]
    subject: str | None = None


class KeyPublic(BaseModel):
    key: str  # shown once; only its hash is stored
    role: str
    subject: str | None


class Problem(BaseModel):
    detail: str | list[dict[str, Any]]
