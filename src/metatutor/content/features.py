"""Item features that mean the same thing in every template, so a difficulty model fitted on some
templates can predict items of others (`metatutor.content.difficulty`)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from fractions import Fraction

FEATURES = ("steps", "magnitude", "negatives", "non_integers", "unlike_denominators", "regrouping",
            "answer_negative", "answer_non_integer", "simplify", "variables", "choices", "blanks")


@dataclass(frozen=True)
class Features:
    steps: float = 1  # written steps of the worked solution
    magnitude: float = 0.0  # log10(1 + the largest absolute number in the question, numerators/denominators)
    negatives: float = 0  # negative numbers in the question
    non_integers: float = 0.0  # share of the question's numbers that are fractions or decimals
    unlike_denominators: float = 0  # fractions (or decimal places) that must be brought to a common base
    regrouping: float = 0  # carries and borrows in column arithmetic
    answer_negative: float = 0
    answer_non_integer: float = 0
    simplify: float = 0  # the raw result must be reduced (a common factor, like terms, a sign)
    variables: float = 0  # letter terms in the question
    choices: float = 0  # options offered (0: the answer is typed)
    blanks: float = 1  # answer boxes

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def number_features(numbers: Iterable[Fraction | int], answer: object = None) -> dict[str, float]:
    """`magnitude`, `negatives`, `non_integers` of the numbers in a question and, when `answer` is a number,
    its sign and kind."""
    nums = [Fraction(n) for n in numbers]
    size = max((max(abs(n.numerator), n.denominator) for n in nums), default=0)
    out: dict[str, float] = {
        "magnitude": round(math.log10(1 + size), 4),
        "negatives": sum(n < 0 for n in nums),
        "non_integers": round(sum(n.denominator != 1 for n in nums) / max(len(nums), 1), 4),
    }
    if isinstance(answer, Fraction | int):
        a = Fraction(answer)
        out["answer_negative"] = int(a < 0)
        out["answer_non_integer"] = int(a.denominator != 1)
    return out


def prime_factors(n: int) -> int:
    """Prime factors of n counted with multiplicity (12 -> 3)."""
    count, f = 0, 2
    while n > 1 and f * f <= n:
        while n % f == 0:
            n, count = n // f, count + 1
        f += 1
    return count + int(n > 1)


def carries(a: int, b: int) -> int:
    """Carries in the column addition of two non-negative whole numbers."""
    count, carry = 0, 0
    while a or b:
        s = a % 10 + b % 10 + carry
        carry = int(s >= 10)
        count += carry
        a, b = a // 10, b // 10
    return count


def borrows(a: int, b: int) -> int:
    """Borrows in the column subtraction a - b of whole numbers a >= b >= 0."""
    count, borrow = 0, 0
    while a or b:
        d = a % 10 - b % 10 - borrow
        borrow = int(d < 0)
        count += borrow
        a, b = a // 10, b // 10
    return count


# The authoring prior of difficulty: what one extra unit of each feature adds to an item's IRT b (logits).
# Set by judgement, not fitted; `metatutor.content.difficulty.DifficultyModel` learns weights from answers.
PRIOR_WEIGHTS = {"steps": 0.3, "magnitude": 0.4, "negatives": 0.25, "non_integers": 0.5,
                 "unlike_denominators": 0.4, "regrouping": 0.15, "answer_negative": 0.3, "answer_non_integer": 0.4,
                 "simplify": 0.3, "variables": 0.1, "choices": -0.1, "blanks": 0.2}


PRIOR_OFFSET = -0.75  # centres the built-in course's items near b = 0


def prior_difficulty(base: float, features: Features) -> float:
    """The predicted IRT b of an item: its template's `base` plus the prior weights times its features
    (`steps` and `blanks` counted beyond the first), plus `PRIOR_OFFSET`."""
    f = features.to_dict()
    f["steps"] -= 1
    f["blanks"] -= 1
    return base + PRIOR_OFFSET + sum(PRIOR_WEIGHTS[k] * v for k, v in f.items())
