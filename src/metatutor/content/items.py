"""Items as value objects: a statement, answer boxes with their keys, hints, a worked solution and the
misconceptions the item can diagnose. Everything is JSON-safe (`to_dict` / `from_dict`).

An item has one answer box (`Part`) for every answer type but `blanks`, which has several. The key of a
part is a canonical answer string in the typed syntax the grader reads (`3/4`, `-2.5`, `6*x + 8`,
`x < -2`, or a choice label `B`); a misconception's `answer` holds one such string per part (`None` where
the misconception says nothing about that part).

`Item.public()` is what a learner may see before answering (no key, no misconception answers, no
solution); `Item.meta()` is what the service stores with the item (see `metatutor.content.course`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self

from metatutor.errors import InvalidContentError, shorten

LABELS = "ABCDEFGHIJ"  # choice labels, in order
MAX_PARTS = 10
MAX_TEXT = 5_000  # characters of a statement, hint, solution step or feedback text
FORMS = {"number": ("any",), "fraction": ("any", "lowest"), "expression": ("any", "simplified", "solved"),
         "choice": ("any",)}
_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,200}$")


class AnswerType(StrEnum):
    NUMBER = "number"  # a value; any form, within a tolerance
    FRACTION = "fraction"  # an exact rational; lowest terms or any equivalent form, as the part says
    EXPRESSION = "expression"  # an algebraic expression, equation or inequality, checked for equivalence
    CHOICE = "choice"  # one of the labelled options
    BLANKS = "blanks"  # several boxes, each one of the types above


@dataclass(frozen=True)
class Part:
    """One answer box.

    `form`: fraction `any` (every equivalent form, decimals included) or `lowest` (a fraction, mixed
    number or integer in lowest terms); expression `any`, `simplified` (like terms collected, no
    brackets left) or `solved` (a variable alone on one side). `tolerance`: absolute, for numbers
    (default: exact up to 1e-9 relative). `unit`: a unit the learner may type after a number (`%`).
    """

    kind: AnswerType
    answer: str
    label: str = ""  # LaTeX shown before the box, e.g. `x =`
    form: str = "any"
    tolerance: float | None = None
    unit: str = ""
    choices: tuple[str, ...] = ()  # LaTeX of the options of a choice part, labelled A, B, ...

    def to_dict(self, *, key: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "label": self.label, "form": self.form}
        if key:
            out["answer"] = self.answer
        if self.tolerance is not None:
            out["tolerance"] = self.tolerance
        if self.unit:
            out["unit"] = self.unit
        if self.choices:
            out["choices"] = [{"label": LABELS[i], "text": c} for i, c in enumerate(self.choices)]
        return out


@dataclass(frozen=True)
class Misconception:
    """A diagnosable wrong answer: the answer it produces on this item (one entry per part) and the
    feedback that targets it."""

    id: str
    feedback: str
    answer: tuple[str | None, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "feedback": self.feedback, "answer": list(self.answer)}


@dataclass(frozen=True)
class Item:
    """A gradeable item. Generated items carry their `template`, `params` and `features`; the id
    alone regenerates them (`metatutor.content.generate`)."""

    id: str
    skills: tuple[str, ...]
    statement: str  # text with inline LaTeX in $...$
    answer_type: AnswerType
    parts: tuple[Part, ...]
    hints: tuple[str, ...] = ()  # a ladder: general first, the last nearly gives the answer
    solution: tuple[str, ...] = ()  # worked solution, one step per entry
    misconceptions: tuple[Misconception, ...] = ()
    difficulty: float | None = None  # predicted IRT b on the θ ~ N(0, 1) scale
    template: str | None = None
    params: Mapping[str, int] = field(default_factory=dict, hash=False)
    features: Mapping[str, float] = field(default_factory=dict, hash=False)

    @property
    def skill(self) -> str:
        return self.skills[0]

    def misconception(self, misconception_id: str) -> Misconception | None:
        return next((m for m in self.misconceptions if m.id == misconception_id), None)

    def to_dict(self) -> dict[str, Any]:
        """Everything, key included (for storage on the server side and for `from_dict`)."""
        out = self.public()
        out["parts"] = [p.to_dict() for p in self.parts]
        out["solution"] = list(self.solution)
        out["misconceptions"] = [m.to_dict() for m in self.misconceptions]
        if self.params:
            out["params"] = dict(self.params)
        if self.features:
            out["features"] = dict(self.features)
        return out

    def public(self) -> dict[str, Any]:
        """What a learner may see before answering: no key, no misconception answers, no solution."""
        out: dict[str, Any] = {"id": self.id, "skills": list(self.skills), "statement": self.statement,
                               "answer_type": self.answer_type.value,
                               "parts": [p.to_dict(key=False) for p in self.parts], "hints": list(self.hints)}
        if self.difficulty is not None:
            out["difficulty"] = self.difficulty
        if self.template is not None:
            out["template"] = self.template
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "") -> Self:
        """Validate the structure and build an item, raising `InvalidContentError` that lists every problem,
        each naming the item and the field (`authored.items_from_dicts` also checks that the keys read and
        that misconception answers differ from the key and from each other)."""
        problems: list[str] = []
        item = item_fields(data, problems, where=where)
        if problems or item is None:
            raise InvalidContentError(problems)
        return cls(**item)


def _text(data: Mapping[str, Any], name: str, problems: list[str], who: str, *, required: bool = True) -> str:
    value = data.get(name, None)
    if value is None or value == "":
        if required:
            problems.append(f"{who}: field '{name}' is missing")
        return ""
    if not isinstance(value, str):
        problems.append(f"{who}: field '{name}' must be text, got {type(value).__name__}")
        return ""
    if len(value) > MAX_TEXT:
        problems.append(f"{who}: field '{name}' is longer than {MAX_TEXT} characters")
    return value


def _texts(data: Mapping[str, Any], name: str, problems: list[str], who: str) -> tuple[str, ...]:
    value = data.get(name, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) and len(v) <= MAX_TEXT for v in value):
        problems.append(f"{who}: field '{name}' must be a list of texts (each at most {MAX_TEXT} characters)")
        return ()
    return tuple(value)


def item_fields(data: Mapping[str, Any], problems: list[str], *, where: str) -> dict[str, Any] | None:
    if not isinstance(data, Mapping):
        problems.append(f"{where or 'item'}: must be an object, got {type(data).__name__}")
        return None
    raw_id = data.get("id")
    item_id = raw_id if isinstance(raw_id, str) else ""
    who = f"{where + ' ' if where else ''}item '{shorten(item_id)}'" if item_id else (where or "item without an id")
    if not _ID.match(item_id):
        problems.append(f"{who}: field 'id' must be 1-200 characters of letters, digits and _.:@-")
    skills = data.get("skills")
    if isinstance(skills, str):
        skills = [skills]
    if (not isinstance(skills, Sequence) or not skills
            or not all(isinstance(s, str) and 0 < len(s.strip()) <= 200 for s in skills)):
        problems.append(f"{who}: field 'skills' must be a non-empty list of skill ids")
        skills = []
    statement = _text(data, "statement", problems, who)
    try:
        answer_type = AnswerType(str(data.get("answer_type")))
    except ValueError:
        problems.append(f"{who}: field 'answer_type' must be one of {', '.join(t.value for t in AnswerType)}, "
                        f"got '{shorten(data.get('answer_type'))}'")
        return None
    parts = _parts(data.get("parts"), answer_type, problems, who)
    misconceptions = []
    for k, m in enumerate(data.get("misconceptions") or []):
        mwho = f"{who}: misconceptions[{k}]"
        if not isinstance(m, Mapping):
            problems.append(f"{mwho} must be an object")
            continue
        mid = m.get("id")
        if not isinstance(mid, str) or not _ID.match(mid):
            problems.append(f"{mwho}: field 'id' must be an id (letters, digits and _.:@-)")
        feedback = _text(m, "feedback", problems, mwho)
        answer = m.get("answer")
        if isinstance(answer, str):
            answer = [answer]
        if (not isinstance(answer, Sequence) or len(answer) != len(parts)
                or not all(a is None or isinstance(a, str) for a in answer)):
            problems.append(f"{mwho}: field 'answer' must give one answer (or null) per answer box ({len(parts)})")
            answer = [None] * len(parts)
        misconceptions.append(Misconception(str(mid), feedback, tuple(answer)))
    difficulty = data.get("difficulty")
    if difficulty is not None and (isinstance(difficulty, bool) or not isinstance(difficulty, int | float)
                                   or not math.isfinite(difficulty)):
        problems.append(f"{who}: field 'difficulty' must be a finite number")
        difficulty = None
    params, features = data.get("params") or {}, data.get("features") or {}
    if not isinstance(params, Mapping) or not all(isinstance(v, int) for v in params.values()):
        problems.append(f"{who}: field 'params' must map names to integers")
        params = {}
    if not isinstance(features, Mapping) or not all(isinstance(v, int | float) for v in features.values()):
        problems.append(f"{who}: field 'features' must map names to numbers")
        features = {}
    template = data.get("template")
    return {"id": item_id, "skills": tuple(skills), "statement": statement, "answer_type": answer_type,
            "parts": parts, "hints": _texts(data, "hints", problems, who),
            "solution": _texts(data, "solution", problems, who), "misconceptions": tuple(misconceptions),
            "difficulty": None if difficulty is None else float(difficulty),
            "template": template if isinstance(template, str) else None,
            "params": dict(params), "features": {k: float(v) for k, v in features.items()}}


def _parts(raw: Any, answer_type: AnswerType, problems: list[str], who: str) -> tuple[Part, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        problems.append(f"{who}: field 'parts' must be a non-empty list of answer boxes")
        return ()
    if len(raw) > MAX_PARTS:
        problems.append(f"{who}: field 'parts' has more than {MAX_PARTS} answer boxes")
        return ()
    if answer_type != AnswerType.BLANKS and len(raw) != 1:
        problems.append(f"{who}: field 'parts': a '{answer_type.value}' item has exactly one answer box")
    out = []
    for k, p in enumerate(raw):
        pwho = f"{who}: parts[{k}]"
        if not isinstance(p, Mapping):
            problems.append(f"{pwho} must be an object")
            continue
        try:
            kind = AnswerType(p.get("kind", answer_type.value))
        except ValueError:
            problems.append(f"{pwho}: field 'kind' is not an answer type: '{shorten(p.get('kind'))}'")
            continue
        if kind == AnswerType.BLANKS or (answer_type != AnswerType.BLANKS and kind != answer_type):
            problems.append(f"{pwho}: field 'kind' must be "
                            + ("number, fraction, expression or choice" if answer_type == AnswerType.BLANKS
                               else f"'{answer_type.value}'"))
            continue
        form = p.get("form", "any")
        if form not in FORMS[kind.value]:
            problems.append(f"{pwho}: field 'form' must be one of {', '.join(FORMS[kind.value])} for {kind.value}")
        tolerance = p.get("tolerance")
        if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(tolerance, int | float)
                                      or not math.isfinite(tolerance) or tolerance < 0):
            problems.append(f"{pwho}: field 'tolerance' must be a non-negative number")
            tolerance = None
        choices = tuple(c["text"] if isinstance(c, Mapping) else c for c in p.get("choices") or [])
        if kind == AnswerType.CHOICE and not 2 <= len(choices) <= len(LABELS):
            problems.append(f"{pwho}: field 'choices' must list 2 to {len(LABELS)} options")
        if not all(isinstance(c, str) for c in choices):
            problems.append(f"{pwho}: field 'choices' must be texts")
            choices = ()
        answer = p.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            problems.append(f"{pwho}: field 'answer' is missing")
            answer = ""
        out.append(Part(kind, answer, label=str(p.get("label", "")), form=str(form),
                        tolerance=None if tolerance is None else float(tolerance), unit=str(p.get("unit", "")),
                        choices=choices))
    return tuple(out)
