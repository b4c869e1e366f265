"""Grading a raw answer on the server: read it within limits, compare it with the key, name the
misconception it shows, and say what the learner model should learn from it.

* numbers: equal within the part's tolerance (exact up to 1e-9 relative by default), whatever the form;
* fractions: exactly equal; a `lowest` part also wants lowest terms (`6/8` is then incorrect, with the
  built-in misconception `not-lowest-terms`, and a decimal gets `not-a-fraction`);
* expressions: algebraically equivalent (`metatutor.content.algebra`), equations and inequalities by
  solution set; a `simplified` part also wants like terms collected (`not-simplified`), a `solved` part a
  variable alone on one side (`not-isolated`);
* choices: the option's label (`B`, `b`, `(B)`) or its exact text.

An answer that cannot be read (or is too large to check) gets the verdict `unreadable` and the message
"couldn't read that"; it does not count as wrong (`GradeResult.counts` is False).

Example:
    >>> from metatutor.content import generate
    >>> item = generate("frac-add-unlike:00002a")
    >>> grade(item, item.parts[0].answer).verdict
    <Verdict.CORRECT: 'correct'>
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from typing import Any

from metatutor.content.algebra import (
    equivalent,
    fraction_text,
    lowest_terms,
    normalized,
    relation_equivalent,
    simplified,
    solved,
)
from metatutor.content.answers import MAX_BYTES, Rel, Tree, UnreadableAnswer, Var, evaluate, free_vars, parse
from metatutor.content.items import LABELS, AnswerType, Item, Part

UNREADABLE_MESSAGE = "couldn't read that"
FORM_FEEDBACK = {
    "not-lowest-terms": "Your fraction has the right value but is not in lowest terms: divide the numerator and "
                        "the denominator by their greatest common factor.",
    "not-a-fraction": "Your answer has the right value, but the question asks for a fraction.",
    "not-simplified": "Your expression is equal to the answer but not fully simplified: collect like terms and "
                      "remove the brackets.",
    "not-isolated": "Your inequality is equivalent, but finish solving it: leave the variable on its own on one side.",
}


class Verdict(StrEnum):
    CORRECT = "correct"
    INCORRECT = "incorrect"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Detected:
    """A misconception the answer shows, with the feedback that targets it."""

    id: str
    feedback: str


@dataclass(frozen=True)
class GradeResult:
    """The grade of one answer. `evidence()` is what the learner model gets."""

    item: str
    raw: str | tuple[str, ...]
    verdict: Verdict
    misconception: Detected | None
    normalized: str | tuple[str | None, ...] | None  # the answer as understood; None when unreadable
    message: str  # for the learner: "Correct.", the targeted feedback, or "couldn't read that"
    reason: str | None = None  # why an answer was unreadable (for logs, not for the learner)
    hints_used: int = 0
    hints_available: int = 0

    @property
    def correct(self) -> bool:
        return self.verdict == Verdict.CORRECT

    @property
    def counts(self) -> bool:
        """Whether the answer counts as an attempt (unreadable answers do not)."""
        return self.verdict != Verdict.UNREADABLE

    def evidence(self) -> dict[str, Any]:
        """For the learner model: `correct` (a bool, meaningful when `counts`), the hints used out of those
        available, `credit` (1 for a correct answer without hints, less per hint, 0 when wrong) and the
        misconception shown, if any."""
        credit = (1.0 - self.hints_used / (self.hints_available + 1)) if self.correct else 0.0
        return {"item": self.item, "counts": self.counts, "correct": self.correct, "hints_used": self.hints_used,
                "hints_available": self.hints_available, "credit": round(credit, 6),
                "misconception": self.misconception.id if self.misconception else None}

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item, "raw": self.raw if isinstance(self.raw, str) else list(self.raw),
                "verdict": self.verdict.value,
                "misconception": None if self.misconception is None else
                {"id": self.misconception.id, "feedback": self.misconception.feedback},
                "normalized": self.normalized if not isinstance(self.normalized, tuple) else list(self.normalized),
                "message": self.message, "reason": self.reason, "evidence": self.evidence()}


@dataclass(frozen=True)
class _Reading:
    tree: Tree | None  # None for a choice
    value: Fraction | str | None  # a number's value or a choice's label
    text: str  # normalized


def read(part: Part, raw: str) -> _Reading:
    """Read one answer box; raises `UnreadableAnswer`."""
    if not isinstance(raw, str):
        raise UnreadableAnswer("an answer must be text")
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise UnreadableAnswer(f"longer than {MAX_BYTES} bytes")
    if part.kind == AnswerType.CHOICE:
        label = _choice_label(part, raw)
        return _Reading(None, label, label)
    tree = parse(raw, percent=part.unit == "%")
    if part.kind in (AnswerType.NUMBER, AnswerType.FRACTION):
        tree = _unwrap_equation(tree)
        if isinstance(tree, Rel) or free_vars(tree):
            raise UnreadableAnswer("expected a number")
        value = evaluate(tree)
        return _Reading(tree, value, fraction_text(value))
    return _Reading(tree, None, normalized(tree))


def _unwrap_equation(tree: Tree) -> Tree:
    """`x = 4` (or `4 = x`) read as `4`; `y = 2x + 3` as `2x + 3`."""
    if isinstance(tree, Rel) and tree.op == "=":
        if isinstance(tree.lhs, Var) and tree.lhs.name not in free_vars(tree.rhs):
            return tree.rhs
        if isinstance(tree.rhs, Var) and tree.rhs.name not in free_vars(tree.lhs):
            return tree.lhs
    return tree


def _choice_label(part: Part, raw: str) -> str:
    text = raw.strip()
    core = text.strip("().: ").upper()
    if len(core) == 1 and core in LABELS[:len(part.choices)]:
        return core
    squeeze = "".join(text.split())
    for k, choice in enumerate(part.choices):
        if squeeze and squeeze == "".join(choice.split()).strip("$"):
            return LABELS[k]
    raise UnreadableAnswer("not one of the options")


@lru_cache(maxsize=8192)
def _key(part: Part, answer: str) -> _Reading:
    return read(part, answer)


def _same(part: Part, got: _Reading, want: _Reading) -> bool:
    """Equal in value (a number within tolerance, an equivalent expression, the same option)."""
    if part.kind == AnswerType.CHOICE:
        return got.value == want.value
    if part.kind in (AnswerType.NUMBER, AnswerType.FRACTION):
        assert isinstance(got.value, Fraction) and isinstance(want.value, Fraction)
        if part.kind == AnswerType.FRACTION:
            return got.value == want.value
        size = max(Fraction(1), abs(want.value))
        tol = Fraction(part.tolerance) if part.tolerance is not None else Fraction(1, 10**9) * size
        return abs(got.value - want.value) <= tol
    assert got.tree is not None and want.tree is not None
    if isinstance(want.tree, Rel):
        return isinstance(got.tree, Rel) and relation_equivalent(got.tree, want.tree)
    got_tree = _unwrap_equation(got.tree)  # `y = 2x + 3` for the expression `2x + 3`
    return not isinstance(got_tree, Rel) and equivalent(got_tree, want.tree)


def same_answer(part: Part, a: str, b: str) -> bool:
    """Whether two answer texts for `part` grade the same (equal value, equivalent expression, same option)."""
    return _same(part, _key(part, a), _key(part, b))


def _form_problem(part: Part, got: _Reading) -> str | None:
    """The built-in misconception id when a right value is written in the wrong form, else None."""
    tree = got.tree
    if tree is None or part.form == "any":
        return None
    if part.form == "lowest":
        low = lowest_terms(_unwrap_equation(tree))  # type: ignore[arg-type]
        return "not-a-fraction" if low is None else None if low else "not-lowest-terms"
    if part.form == "simplified":
        tree = _unwrap_equation(tree)
        return None if not isinstance(tree, Rel) and simplified(tree) else "not-simplified"
    if part.form == "solved":
        return None if isinstance(tree, Rel) and solved(tree) else "not-isolated"
    return None


def grade(item: Item, raw: str | Sequence[str], *, hints_used: int = 0) -> GradeResult:
    """Grade a learner's raw answer to `item` (for `blanks`: one answer per box, or one text with the
    answers separated by `;`). Never raises on the answer; bounded in time for answers of up to 1 kB."""
    answers = _split(item, raw)
    hints = (max(0, min(int(hints_used), len(item.hints))), len(item.hints))
    shown = raw if isinstance(raw, str) else tuple(str(r)[:MAX_BYTES] for r in raw) \
        if isinstance(raw, list | tuple) else str(raw)[:MAX_BYTES]
    if answers is None:
        return GradeResult(item.id, shown, Verdict.UNREADABLE, None, None, UNREADABLE_MESSAGE,
                           f"expected {len(item.parts)} answer{'s' if len(item.parts) > 1 else ''} as text", *hints)
    readings: list[_Reading] = []
    try:
        for part, answer in zip(item.parts, answers, strict=True):
            readings.append(read(part, answer))
    except (UnreadableAnswer, RecursionError) as exc:
        reason = exc.reason if isinstance(exc, UnreadableAnswer) else "nested too deep"
        return GradeResult(item.id, shown, Verdict.UNREADABLE, None, None, UNREADABLE_MESSAGE, reason, *hints)
    try:
        return _judge(item, shown, readings, hints)
    except UnreadableAnswer as exc:
        return GradeResult(item.id, shown, Verdict.UNREADABLE, None, None, UNREADABLE_MESSAGE, exc.reason, *hints)


def _split(item: Item, raw: str | Sequence[str]) -> list[str] | None:
    if isinstance(raw, str):
        answers = raw.split(";") if len(item.parts) > 1 else [raw]
    elif isinstance(raw, list | tuple) and len(raw) <= len(item.parts) and all(isinstance(a, str) for a in raw):
        answers = list(raw)
    else:
        return None
    return answers if len(answers) == len(item.parts) else None


def _judge(item: Item, shown: str | tuple[str, ...], readings: list[_Reading], hints: tuple[int, int]) -> GradeResult:
    single = len(item.parts) == 1
    text: str | tuple[str | None, ...] = readings[0].text if single else tuple(r.text for r in readings)
    same = [_same(p, r, _key(p, p.answer)) for p, r in zip(item.parts, readings, strict=True)]
    forms = [_form_problem(p, r) if ok else None for p, r, ok in zip(item.parts, readings, same, strict=True)]
    if all(same) and not any(forms):
        return GradeResult(item.id, shown, Verdict.CORRECT, None, text, "Correct.", None, *hints)
    for m in item.misconceptions:
        if all(want is None or _same(p, r, _key(p, want))
               for p, r, want in zip(item.parts, readings, m.answer, strict=True)):
            return GradeResult(item.id, shown, Verdict.INCORRECT, Detected(m.id, m.feedback), text, m.feedback,
                               None, *hints)
    if all(same):
        form = next(f for f in forms if f)
        return GradeResult(item.id, shown, Verdict.INCORRECT, Detected(form, FORM_FEEDBACK[form]), text,
                           FORM_FEEDBACK[form], None, *hints)
    return GradeResult(item.id, shown, Verdict.INCORRECT, None, text, "Not quite.", None, *hints)
