"""Item templates: seeded parameters in, a complete item out, reproducibly from its id alone.

A template draws integer parameters, computes the answer and, for every misconception it knows, the
wrong answer that misconception produces (a `Rule`: a function of the parameters plus targeted
feedback). Parameters for which the correct answer and the misconception answers are not pairwise
different (as the grader sees them) are rejected and drawn again, so each listed misconception is
diagnosable. The item id is `template:seed` with a 6-hex-digit seed (`frac-add-unlike:3f2a9c`); the
seed fixes the random stream, so `generate(id)` rebuilds the same item on any machine.

The item's predicted difficulty follows from its parameters: `prior_difficulty(template.base, features)`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

from metatutor.content.features import Features, prior_difficulty
from metatutor.content.items import LABELS, AnswerType, Item, Misconception, Part

Params = dict[str, int]
Value = Fraction | str | tuple[Fraction | str, ...]
MAX_TRIES = 500
SEED_SPACE = 16**6
GENERATED_ID = re.compile(r"^([a-z0-9-]+):([0-9a-f]{6})$")


class Resample(Exception):
    """Raised by `Template.sample` for parameters it does not want; the next draw follows."""


@dataclass(frozen=True)
class Rule:
    """A misconception: an id shared across templates, feedback that targets it, and the wrong answer
    it produces from the parameters (None where it does not apply to them)."""

    id: str
    feedback: str
    wrong: Callable[[Params], Value | None]


class Template:
    """Subclasses set the class attributes and implement `sample`, `answer`, `statement`, `hints`,
    `solution` and `features`; choice templates also `fillers`, blanks templates `kinds` and `labels`."""

    id: ClassVar[str]
    skill: ClassVar[str]
    kind: ClassVar[AnswerType]
    title: ClassVar[str]
    base: ClassVar[float] = 0.0  # prior difficulty (logit) of the simplest version
    form: ClassVar[str] = "any"
    unit: ClassVar[str] = ""
    tolerance: ClassVar[float | None] = None
    kinds: ClassVar[tuple[AnswerType, ...]] = ()  # blanks: the kind of each box
    rules: ClassVar[tuple[Rule, ...]] = ()

    def sample(self, rng: random.Random) -> Params:
        raise NotImplementedError

    def answer(self, p: Params) -> Value:
        raise NotImplementedError

    def statement(self, p: Params) -> str:
        raise NotImplementedError

    def hints(self, p: Params) -> tuple[str, ...]:
        raise NotImplementedError

    def solution(self, p: Params) -> tuple[str, ...]:
        raise NotImplementedError

    def features(self, p: Params) -> Features:
        raise NotImplementedError

    def number(self, p: Params) -> Fraction:
        """The answer of a number or fraction template."""
        value = self.answer(p)
        assert isinstance(value, Fraction)
        return value

    def labels(self, p: Params) -> tuple[str, ...]:
        """The LaTeX shown before each box (`x =`)."""
        return ("",) * len(self.kinds or (self.kind,))

    def fillers(self, p: Params) -> tuple[str, ...]:
        """Choice: extra options beyond the answer and the misconceptions' (LaTeX)."""
        return ()

    @property
    def misconception_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    def item_id(self, seed: int) -> str:
        return f"{self.id}:{seed % SEED_SPACE:06x}"

    def make(self, seed: int) -> Item:
        """The item of `seed` (0 <= seed < 16^6)."""
        from metatutor.content.grading import same_answer

        rng = random.Random(f"{self.id}:{seed % SEED_SPACE}")
        for _ in range(MAX_TRIES):
            try:
                p = self.sample(rng)
            except Resample:
                continue
            wrongs = [(r, w) for r in self.rules if (w := r.wrong(p)) is not None]
            values = [self.answer(p), *(w for _, w in wrongs)]
            choices = self._choices(p, values, rng) if self.kind == AnswerType.CHOICE else ()
            parts = self._parts(p, values[0], choices)
            keys = [self._keys(v, choices) for v in values]
            if all(not all(same_answer(part, a, b) for part, a, b in zip(parts, keys[i], keys[j], strict=True))
                   for i in range(len(keys)) for j in range(i)):
                break
        else:
            raise RuntimeError(f"template {self.id}: no valid parameters in {MAX_TRIES} draws for seed {seed}")
        features = self.features(p)
        return Item(id=self.item_id(seed), skills=(self.skill,), statement=self.statement(p),
                    answer_type=self.kind, parts=parts, hints=self.hints(p), solution=self.solution(p),
                    misconceptions=tuple(Misconception(r.id, r.feedback, tuple(k)) for (r, _), k
                                         in zip(wrongs, keys[1:], strict=True)),
                    difficulty=round(prior_difficulty(self.base, features), 4), template=self.id, params=p,
                    features=features.to_dict())

    def _choices(self, p: Params, values: list[Value], rng: random.Random) -> tuple[str, ...]:
        options = list(dict.fromkeys([*(str(v) for v in values), *self.fillers(p)]))[:5]
        rng.shuffle(options)
        return tuple(options)

    def _parts(self, p: Params, answer: Value, choices: tuple[str, ...]) -> tuple[Part, ...]:
        kinds = self.kinds or (self.kind,)
        keys = self._keys(answer, choices)
        return tuple(Part(kind, key, label=label, form=self.form if kind != AnswerType.NUMBER else "any",
                          tolerance=self.tolerance, unit=self.unit, choices=choices)
                     for kind, key, label in zip(kinds, keys, self.labels(p), strict=True))

    def _keys(self, value: Value, choices: tuple[str, ...]) -> tuple[str, ...]:
        kinds = self.kinds or (self.kind,)
        values = value if isinstance(value, tuple) else (value,)
        return tuple(_key_text(k, v, choices) for k, v in zip(kinds, values, strict=True))


def _key_text(kind: AnswerType, value: Fraction | str, choices: tuple[str, ...]) -> str:
    if kind == AnswerType.CHOICE:
        return LABELS[choices.index(str(value))]
    if isinstance(value, str):
        return value
    if kind == AnswerType.NUMBER and terminates(value):
        return decimal_text(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def terminates(v: Fraction) -> bool:
    """Whether v is a terminating decimal (its denominator has no prime factors but 2 and 5)."""
    d = v.denominator
    for f in (2, 5):
        while d % f == 0:
            d //= f
    return d == 1


def decimal_text(v: Fraction) -> str:
    """A terminating decimal written out exactly: `3.45`, `-0.5`, `12`."""
    if v.denominator == 1:
        return str(v.numerator)
    places = 0
    while (v * 10**places).denominator != 1:
        places += 1
    digits = str(abs(v.numerator * 10**places // v.denominator)).rjust(places + 1, "0")
    return ("-" if v < 0 else "") + digits[:-places] + "." + digits[-places:]


REGISTRY: dict[str, Template] = {}


def register(cls: type[Template]) -> type[Template]:
    """Class decorator: add a template to the registry (ids are unique)."""
    if cls.id in REGISTRY:
        raise ValueError(f"duplicate template id {cls.id}")
    REGISTRY[cls.id] = cls()
    return cls
