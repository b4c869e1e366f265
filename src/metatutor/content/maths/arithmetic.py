"""Integer operations and the order of operations."""

from __future__ import annotations

import random

from metatutor.content.features import Features, borrows, carries, number_features
from metatutor.content.items import AnswerType
from metatutor.content.maths.notation import F, texp
from metatutor.content.templates import Params, Resample, Rule, Template, Value, register

LEVELS = (10, 30, 100)


def _column(a: int, b: int) -> int:
    """Carries or borrows when adding signed numbers by their sizes."""
    x, y = abs(a), abs(b)
    return carries(x, y) if (a < 0) == (b < 0) else borrows(max(x, y), min(x, y))


@register
class IntegerAdd(Template):
    id = "int-add"
    skill = "integer-add-sub"
    kind = AnswerType.NUMBER
    title = "Add two integers, one of them negative"
    base = -1.6
    rules = (
        Rule("ignore-signs", "You added the sizes of the numbers and ignored their signs. A negative number moves "
             "you left on the number line, so when the signs differ you subtract the sizes.",
             lambda p: F(abs(p["a"]) + abs(p["b"])) if (p["a"] < 0) != (p["b"] < 0) else None),
        Rule("wrong-sign", "The size of your answer is right but its sign is not. The sum takes the sign of the "
             "number that is further from zero.", lambda p: F(-(p["a"] + p["b"])) if p["a"] + p["b"] else None),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        m = LEVELS[level - 1]
        a, b = rng.randint(-m, m), rng.randint(-m, m)
        if a == 0 or b == 0 or (a > 0 and b > 0):
            raise Resample
        return {"level": level, "a": a, "b": b}

    def answer(self, p: Params) -> Value:
        return F(p["a"] + p["b"])

    def statement(self, p: Params) -> str:
        return f"Work out ${p['a']} + {texp(p['b'])}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        a, b = p["a"], p["b"]
        direction = "right" if b > 0 else "left"
        first = f"Picture a number line: start at ${a}$ and move ${abs(b)}$ to the {direction}."
        if (a < 0) == (b < 0):
            return (first, f"Both numbers are negative: add their sizes, ${abs(a)} + {abs(b)}$, and keep the "
                           "negative sign.")
        big = a if abs(a) > abs(b) else b
        return (first, f"The signs differ: subtract the smaller size from the larger, "
                       f"${max(abs(a), abs(b))} - {min(abs(a), abs(b))}$.",
                f"The answer takes the sign of ${big}$, the number further from zero.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b = p["a"], p["b"]
        s = a + b
        if (a < 0) == (b < 0):
            return (f"Both numbers are negative, so add the sizes: ${abs(a)} + {abs(b)} = {abs(s)}$.",
                    f"The sum is negative: ${a} + {texp(b)} = {s}$.")
        return (f"The signs differ, so subtract the sizes: ${max(abs(a), abs(b))} - {min(abs(a), abs(b))} = "
                f"{abs(s)}$.",
                f"${a if abs(a) > abs(b) else b}$ is further from zero, so the sum is "
                f"{'negative' if s < 0 else 'positive' if s > 0 else 'zero'}: ${a} + {texp(b)} = {s}$.")

    def features(self, p: Params) -> Features:
        a, b = p["a"], p["b"]
        return Features(steps=2 if (a < 0) != (b < 0) else 1, regrouping=_column(a, b),
                        **number_features([a, b], a + b))


@register
class IntegerSubtract(Template):
    id = "int-sub"
    skill = "integer-add-sub"
    kind = AnswerType.NUMBER
    title = "Subtract integers, including negative numbers"
    base = -1.2
    rules = (
        Rule("subtract-negative", "Subtracting a negative number is the same as adding the positive number: "
             "$a - (-b) = a + b$.", lambda p: F(p["a"] + p["b"]) if p["b"] < 0 else None),
        Rule("smaller-from-larger", "You took the smaller number from the larger one. Subtracting a larger number "
             "from a smaller one gives a negative answer.",
             lambda p: F(p["b"] - p["a"]) if p["a"] - p["b"] < 0 and p["b"] > 0 else None),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        m = LEVELS[level - 1]
        a, b = rng.randint(-m, m), rng.randint(-m, m)
        if b == 0 or a == 0 or not (b < 0 or a < b):
            raise Resample
        return {"level": level, "a": a, "b": b}

    def answer(self, p: Params) -> Value:
        return F(p["a"] - p["b"])

    def statement(self, p: Params) -> str:
        return f"Work out ${p['a']} - {texp(p['b'])}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        a, b = p["a"], p["b"]
        if b < 0:
            return ("Subtracting a number is the same as adding its opposite.",
                    f"Rewrite the question as ${a} + {abs(b)}$.")
        return ("Picture a number line: subtracting a positive number moves you to the left.",
                f"Start at ${a}$ and move ${b}$ to the left. Do you pass zero?")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b = p["a"], p["b"]
        if b < 0:
            return (f"Subtracting ${b}$ is the same as adding ${abs(b)}$: ${a} - ({b}) = {a} + {abs(b)}$.",
                    f"${a} + {abs(b)} = {a - b}$.")
        return (f"Start at ${a}$ and move ${b}$ to the left on the number line.", f"${a} - {b} = {a - b}$.")

    def features(self, p: Params) -> Features:
        a, b = p["a"], p["b"]
        return Features(steps=2 if b < 0 else 1, regrouping=_column(a, -b),
                        **number_features([a, b], a - b))


@register
class IntegerMultiply(Template):
    id = "int-mul"
    skill = "integer-mul-div"
    kind = AnswerType.NUMBER
    title = "Multiply integers with signs"
    base = -1.0
    rules = (
        Rule("sign-rule", "Check the sign: a negative times a positive is negative, and a negative times a negative "
             "is positive.", lambda p: F(-p["a"] * p["b"])),
        Rule("add-instead", "You added the numbers; the × sign means multiply.",
             lambda p: F(p["a"] + p["b"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        lo, hi = ((2, 9), (3, 12), (11, 25))[level - 1]
        a, b = rng.randint(lo, hi), rng.randint(2, 9 if level == 3 else hi)
        signs = rng.choice([(-1, 1), (1, -1), (-1, -1)])
        return {"level": level, "a": signs[0] * a, "b": signs[1] * b}

    def answer(self, p: Params) -> Value:
        return F(p["a"] * p["b"])

    def statement(self, p: Params) -> str:
        return f"Work out ${p['a']} \\times {texp(p['b'])}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        a, b = p["a"], p["b"]
        return (f"Multiply the sizes first: ${abs(a)} \\times {abs(b)}$.",
                "Then the sign: the same signs give a positive answer, different signs a negative one.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b = p["a"], p["b"]
        same = (a < 0) == (b < 0)
        return (f"${abs(a)} \\times {abs(b)} = {abs(a * b)}$.",
                f"The signs are {'the same' if same else 'different'}, so the answer is "
                f"{'positive' if same else 'negative'}: ${a} \\times {texp(b)} = {a * b}$.")

    def features(self, p: Params) -> Features:
        a, b = p["a"], p["b"]
        return Features(steps=2, regrouping=int(abs(a) > 9) + int(abs(b) > 9),
                        **number_features([a, b], a * b))


@register
class IntegerDivide(Template):
    id = "int-div"
    skill = "integer-mul-div"
    kind = AnswerType.NUMBER
    title = "Divide integers with signs"
    base = -0.8
    rules = (
        Rule("sign-rule", "Check the sign: dividing numbers with the same sign gives a positive answer, with "
             "different signs a negative one.", lambda p: F(-p["q"])),
        Rule("divide-backwards", "You divided the second number by the first. $a \\div b$ asks how many times $b$ "
             "fits into $a$.", lambda p: F(p["b"], p["q"] * p["b"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        hi = (9, 12, 20)[level - 1]
        q, b = rng.randint(2, hi), rng.randint(2, 9 if level < 3 else 15)
        signs = rng.choice([(-1, 1), (1, -1), (-1, -1)])
        return {"level": level, "q": signs[0] * q, "b": signs[1] * b}

    def answer(self, p: Params) -> Value:
        return F(p["q"])

    def statement(self, p: Params) -> str:
        return f"Work out ${p['q'] * p['b']} \\div {texp(p['b'])}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        a, b = p["q"] * p["b"], p["b"]
        return (f"Divide the sizes first: ${abs(a)} \\div {abs(b)}$.",
                "Then the sign: the same signs give a positive answer, different signs a negative one.")

    def solution(self, p: Params) -> tuple[str, ...]:
        q, b = p["q"], p["b"]
        a = q * b
        return (f"${abs(a)} \\div {abs(b)} = {abs(q)}$, because ${abs(q)} \\times {abs(b)} = {abs(a)}$.",
                f"The signs are {'the same' if (a < 0) == (b < 0) else 'different'}, so "
                f"${a} \\div {texp(b)} = {q}$.")

    def features(self, p: Params) -> Features:
        q, b = p["q"], p["b"]
        return Features(steps=2, regrouping=int(abs(q * b) > 99), **number_features([q * b, b], q))


@register
class OrderAddMultiply(Template):
    id = "ooo-add-mul"
    skill = "order-of-operations"
    kind = AnswerType.NUMBER
    title = "Multiplication before addition and subtraction"
    base = -0.9
    rules = (
        Rule("left-to-right", "Multiplication and division come before addition and subtraction, even when they "
             "are further to the right.",
             lambda p: F((p["a"] + p["b"]) * p["c"]) if p["v"] == 0 else F((p["a"] - p["b"]) * p["c"])
             if p["v"] == 1 else F((p["a"] * p["b"] + p["c"]) * p["d"])),
        Rule("wrong-sign", "The size of your answer is right but its sign is not: you take away more than you "
             "have, so the answer is negative.",
             lambda p: F(p["b"] * p["c"] - p["a"]) if p["v"] == 1 and p["a"] < p["b"] * p["c"] else None),
    )

    def sample(self, rng: random.Random) -> Params:
        v = rng.randint(0, 2)
        a, b, c, d = (rng.randint(2, 12) for _ in range(4))
        return {"v": v, "a": a, "b": b, "c": c, "d": d}

    def _text(self, p: Params) -> str:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        return (f"{a} + {b} \\times {c}", f"{a} - {b} \\times {c}", f"{a} \\times {b} + {c} \\times {d}")[p["v"]]

    def answer(self, p: Params) -> Value:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        return F((a + b * c, a - b * c, a * b + c * d)[p["v"]])

    def statement(self, p: Params) -> str:
        return f"Work out ${self._text(p)}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        first = "Multiplication comes before addition and subtraction."
        if p["v"] == 2:
            return (first, f"Work out both products: ${p['a']} \\times {p['b']}$ and ${p['c']} \\times {p['d']}$.")
        return (first, f"Work out ${p['b']} \\times {p['c']}$ first.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        if p["v"] == 2:
            return (f"Multiply first: ${a} \\times {b} = {a * b}$ and ${c} \\times {d} = {c * d}$.",
                    f"Then add: ${a * b} + {c * d} = {a * b + c * d}$.")
        op = "+" if p["v"] == 0 else "-"
        return (f"Multiply first: ${b} \\times {c} = {b * c}$.", f"Then ${a} {op} {b * c} = {self.answer(p)}$.")

    def features(self, p: Params) -> Features:
        ans = self.answer(p)
        assert isinstance(ans, F)
        nums = [p["a"], p["b"], p["c"]] + ([p["d"]] if p["v"] == 2 else [])
        return Features(steps=3 if p["v"] == 2 else 2, **number_features(nums, ans))


@register
class OrderBracketsPowers(Template):
    id = "ooo-brackets-power"
    skill = "order-of-operations"
    kind = AnswerType.NUMBER
    title = "Brackets, then powers, then multiplication, then addition"
    base = -0.2
    rules = (
        Rule("multiply-before-power", "Powers come before multiplication: square the bracket first, then multiply.",
             lambda p: F(p["p"] + (p["q"] * (p["r"] - p["s"])) ** 2)),
        Rule("double-not-square", "Squaring a number means multiplying it by itself: $n^2 = n \\times n$, "
             "not $2 \\times n$.", lambda p: F(p["p"] + p["q"] * 2 * (p["r"] - p["s"]))),
        Rule("add-before-multiply", "Multiplication comes before addition: multiply before you add the first "
             "number.", lambda p: F((p["p"] + p["q"]) * (p["r"] - p["s"]) ** 2)),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        r, s = rng.randint(1, 9 + 3 * level), rng.randint(1, 9 + 3 * level)
        if r == s or (level == 1 and r < s) or (level > 1 and r - s > 0 and rng.random() < 0.5):
            raise Resample
        return {"level": level, "p": rng.randint(1, 10 * level), "q": rng.randint(2, 5), "r": r, "s": s}

    def answer(self, p: Params) -> Value:
        return F(p["p"] + p["q"] * (p["r"] - p["s"]) ** 2)

    def statement(self, p: Params) -> str:
        return f"Work out ${p['p']} + {p['q']} \\times ({p['r']} - {p['s']})^2$."

    def hints(self, p: Params) -> tuple[str, ...]:
        d = p["r"] - p["s"]
        return ("Work in this order: brackets, powers, multiplication, addition.",
                f"The bracket is ${p['r']} - {p['s']} = {d}$. Square that next.",
                f"$({d})^2 = {d * d}$; now multiply by ${p['q']}$ and add ${p['p']}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        d = p["r"] - p["s"]
        return (f"Brackets: ${p['r']} - {p['s']} = {d}$.", f"Power: ${texp(d)}^2 = {d * d}$.",
                f"Multiplication: ${p['q']} \\times {d * d} = {p['q'] * d * d}$.",
                f"Addition: ${p['p']} + {p['q'] * d * d} = {self.answer(p)}$.")

    def features(self, p: Params) -> Features:
        ans = self.answer(p)
        assert isinstance(ans, F)
        f = number_features([p["p"], p["q"], p["r"], p["s"]], ans)
        f["negatives"] = int(p["r"] < p["s"])  # the bracket is negative
        return Features(steps=4, **f)
