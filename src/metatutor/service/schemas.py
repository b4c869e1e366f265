"""Request and response bodies (pydantic 2), in families per resource."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from fastapi import Path as PathParam
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from metatutor.service.fields import (
    LEARNER_ID_PATTERN,
    Finite,
    Flag,
    FreeJSON,
    Name,
    Timestamp,
    Title,
    Url,
    check_name,
    check_text,
)

RowId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="A row id (positive, 32-bit).")]
PathName = Annotated[str, PathParam(min_length=1, max_length=200, description="An id (1-200 printable "
                                    "characters)."), AfterValidator(check_name)]
MAX_BATCH = 10_000  # answers in one request at most, whatever the settings say (`max_batch`, smaller, applies)
MAX_COURSE = 100_000  # items, skills or prerequisites in one course


class Body(BaseModel):
    """Every request body: numbers finite, strings within their limits (see `fields`)."""

    model_config = ConfigDict(allow_inf_nan=False, str_max_length=100_000)


class ItemIn(Body):
    id: Name
    skills: list[Name] = Field(min_length=1, max_length=100)
    meta: FreeJSON = {}  # anything the app wants back with the item (text, difficulty, media)


class ResourceIn(Body):
    skill: Name
    kind: Literal["video", "reading", "hint", "exercise", "other"] = "other"
    title: Title
    url: Url = ""  # http(s) or a path on this site


class CourseIn(Body):
    skills: list[Name] = Field(min_length=1, max_length=MAX_COURSE)
    prerequisites: list[tuple[Name, Name]] = Field(default_factory=list, max_length=MAX_COURSE)  # (prerequisite, skill)
    items: list[ItemIn] = Field(min_length=1, max_length=MAX_COURSE)
    resources: list[ResourceIn] = Field(default_factory=list, max_length=MAX_COURSE)  # offered for weak skills in reports

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


class LearnerIn(Body):
    id: str = Field(min_length=1, max_length=200, pattern=LEARNER_ID_PATTERN)
    teacher: Name | None = None


class LearnerPublic(BaseModel):
    id: str
    teacher: str | None


class ResponseIn(Body):
    event_id: Name
    item: Name
    correct: Flag
    timestamp: Timestamp | None = None  # seconds since 1970 UTC, at most a day ahead; the server's clock if omitted


class ResponsesIn(Body):
    responses: list[ResponseIn] = Field(min_length=1, max_length=MAX_BATCH)


class RecommendationPublic(BaseModel):
    item: str
    skill: str
    predicted: float
    mastery: float
    reason: str
    policy: str
    kind: str


class AttemptIn(Body):
    """A typed answer for the server to grade: one string, or one per blank of a several-blanks item."""

    event_id: Name
    item: Name
    answer: Annotated[str, StringConstraints(max_length=1000), AfterValidator(check_text)] | \
        Annotated[list[Annotated[str, StringConstraints(max_length=1000), AfterValidator(check_text)]],
                  Field(min_length=1, max_length=20)]
    seconds: Finite | None = Field(None, ge=0, le=86_400)  # time taken, as the client measured it
    timestamp: Timestamp | None = None


class MisconceptionPublic(BaseModel):
    id: str
    feedback: str


class AttemptPublic(BaseModel):
    verdict: Literal["correct", "incorrect", "unreadable"]
    message: str  # for the learner: "Correct.", the feedback on a misconception, or "couldn't read that"
    misconception: MisconceptionPublic | None
    normalized: str | list[str | None] | None  # the answer as the server read it
    hints_used: int
    solution: list[str] | None  # once the attempt is over (a readable answer)
    stored: int
    answers: int
    updating: bool = False
    next: RecommendationPublic | None = None


class ItemView(BaseModel):
    """What a learner may see of an item: never its key; the solution only after answering."""

    model_config = ConfigDict(extra="allow")
    id: str
    skills: list[str]
    hints: list[str] = []
    hints_available: int = 0


class HintPublic(BaseModel):
    hint: str
    shown: int
    available: int


PolicyName = Literal["default", "random", "curriculum", "mastery", "target", "gain", "thompson", "review"]


class IngestPublic(BaseModel):
    stored: int
    duplicates: int
    answers: int
    next: RecommendationPublic | None = None  # when asked for with ?next=POLICY
    updating: bool = False  # the state is being rebuilt after a model switch: the answers are stored, `next` waits


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


class KeyIn(Body):
    role: Literal["admin", "teacher", "learner"]
    subject: Name | None = None  # the teacher's id or the learner's id; none for an admin
    label: Annotated[str, StringConstraints(max_length=200), AfterValidator(check_name)] | None = None
    expires_in_days: Finite | None = Field(None, gt=0, le=3650)

    @model_validator(mode="after")
    def _subject(self) -> Self:
        if self.role == "admin" and self.subject is not None:
            raise ValueError("an admin key has no subject")
        if self.role != "admin" and self.subject is None:
            raise ValueError(f"a {self.role} key needs a subject: the {self.role}'s id")
        return self


class KeyInfo(BaseModel):
    id: int
    role: str
    subject: str | None
    label: str | None
    created: float | None
    expires: float | None
    last_used: float | None


class KeyPublic(KeyInfo):
    key: str  # shown once; only its hash is stored


class Problem(BaseModel):
    """An error: a sentence, or (422 from request validation) a list of what was wrong where."""

    detail: str | list[dict[str, Any]]
