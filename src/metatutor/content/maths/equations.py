"""Linear equations (one step, two steps, unknowns on both sides) and linear inequalities."""

from __future__ import annotations

import random
from fractions import Fraction

from metatutor.content.features import Features, number_features
from metatutor.content.items import AnswerType
from metatutor.content.maths.notation import FLIP_OP, TEX_OP, F, linear, relation, tex
from metatutor.content.templates import Params, Resample, Rule, Template, Value, register

X = ("x =",)
OPS = ("<", ">", "<=", ">=")


def _op(p: Params) -> str:
    return OPS[p["op"]]


def _nonzero(rng: random.Random, lo: int, hi: int) -> int:
    return rng.choice([n for n in range(lo, hi + 1) if n])


def _signed(v: int | Fraction) -> str:
    """` + 3` or ` - 3` after a term."""
    return f" + {tex(v)}" if v >= 0 else f" - {tex(-v)}"


def _eq_features(p: Params, answer: Fraction, numbers: list[int], *, steps: int, variables: int = 1) -> Features:
    return Features(steps=steps, variables=variables, **number_features(numbers, answer))


@register
class OneStepAdd(Template):
    id = "eq-one-step-add"
    skill = "linear-one-step"
    kind = AnswerType.NUMBER
    title = "Solve x + a = b or x - a = b"
    base = -1.4
    rules = (
        Rule("wrong-inverse", "Undo the operation with its inverse: to undo $+ a$ subtract $a$ from both sides, and to "
             "undo $- a$ add $a$.", lambda p: F(p["b"] + p["a"]) if p["v"] == 0 else F(p["b"] - p["a"])),
        Rule("dropped-sign", "Check the sign of your answer: substitute it back into the equation.",
             lambda p: -F(p["b"] - p["a"] if p["v"] == 0 else p["b"] + p["a"]) if (
                 p["b"] - p["a"] if p["v"] == 0 else p["b"] + p["a"]) < 0 else None),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        v = 0 if level == 1 else rng.randint(0, 1)
        a, b = rng.randint(1, 9 * level), rng.randint(1 if level < 3 else -20, 10 * level)
        x = b - a if v == 0 else b + a
        if (level < 3 and x <= 0) or (level == 3 and x >= 0) or x == 0:
            raise Resample
        return {"level": level, "v": v, "a": a, "b": b}

    def answer(self, p: Params) -> Value:
        return F(p["b"] - p["a"] if p["v"] == 0 else p["b"] + p["a"])

    def labels(self, p: Params) -> tuple[str, ...]:
        return X

    def statement(self, p: Params) -> str:
        return f"Solve $x {'+' if p['v'] == 0 else '-'} {p['a']} = {p['b']}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        op = "Subtract" if p["v"] == 0 else "Add"
        return ("Do the same to both sides to get $x$ on its own.", f"{op} ${p['a']}$ {'from' if p['v'] == 0 else 'to'} "
                "both sides.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b = p["a"], p["b"]
        if p["v"] == 0:
            return (f"Subtract ${a}$ from both sides: $x = {b} - {a}$.", f"$x = {self.number(p)}$.")
        return (f"Add ${a}$ to both sides: $x = {b} + {a}$.", f"$x = {self.number(p)}$.")

    def features(self, p: Params) -> Features:
        return _eq_features(p, self.number(p), [p["a"], p["b"]], steps=1)


@register
class OneStepMultiply(Template):
    id = "eq-one-step-mul"
    skill = "linear-one-step"
    kind = AnswerType.NUMBER
    title = "Solve ax = b or x / a = b"
    base = -1.1
    rules = (
        Rule("subtract-coefficient", "$ax$ means $a \\times x$: undo the multiplication by dividing both sides by $a$.",
             lambda p: F(p["b"] - p["a"]) if p["v"] == 0 else None),
        Rule("multiply-instead", "To undo multiplying by $a$, divide both sides by $a$.",
             lambda p: F(p["a"] * p["b"]) if p["v"] == 0 else None),
        Rule("divide-instead", "To undo dividing by $a$, multiply both sides by $a$.",
             lambda p: F(p["b"], p["a"]) if p["v"] == 1 else None),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        v = rng.randint(0, 1)
        a = rng.randint(2, 9 + 3 * level)
        if v == 0:
            b = a * rng.randint(1, 9) if level == 1 else a * _nonzero(rng, -9, 12) if level == 2 else _nonzero(rng, -30, 30)
            if level == 3 and b % a == 0:
                raise Resample
        else:
            b = rng.randint(1, 9) if level == 1 else _nonzero(rng, -12, 12)
        return {"level": level, "v": v, "a": a, "b": b}

    def answer(self, p: Params) -> Value:
        return F(p["b"], p["a"]) if p["v"] == 0 else F(p["a"] * p["b"])

    def labels(self, p: Params) -> tuple[str, ...]:
        return X

    def statement(self, p: Params) -> str:
        left = f"{p['a']}x" if p["v"] == 0 else f"\\frac{{x}}{{{p['a']}}}"
        return f"Solve ${left} = {p['b']}$." + (" Give an exact answer." if p["level"] == 3 and p["v"] == 0 else "")

    def hints(self, p: Params) -> tuple[str, ...]:
        if p["v"] == 0:
            return (f"${p['a']}x$ means ${p['a']} \\times x$.", f"Divide both sides by ${p['a']}$.")
        return (f"$\\frac{{x}}{{{p['a']}}}$ means $x \\div {p['a']}$.", f"Multiply both sides by ${p['a']}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b = p["a"], p["b"]
        if p["v"] == 0:
            return (f"Divide both sides by ${a}$: $x = \\frac{{{b}}}{{{a}}}$.", f"$x = {tex(self.number(p))}$.")
        return (f"Multiply both sides by ${a}$: $x = {b} \\times {a}$.", f"$x = {self.number(p)}$.")

    def features(self, p: Params) -> Features:
        return _eq_features(p, self.number(p), [p["a"], p["b"]], steps=1)


@register
class TwoStep(Template):
    id = "eq-two-step"
    skill = "linear-two-step"
    kind = AnswerType.NUMBER
    title = "Solve ax + b = c"
    base = -0.5
    rules = (
        Rule("divide-first-only", "If you divide first, divide every term by $a$, including $b$. It is easier to "
             "undo $+ b$ first, then divide.", lambda p: F(p["c"], p["a"]) - p["b"]),
        Rule("wrong-inverse", "Undo $+ b$ by subtracting $b$ from both sides (and undo $- b$ by adding $b$).",
             lambda p: F(p["c"] + p["b"], p["a"])),
        Rule("dropped-sign", "Check the sign of your answer: substitute it back into the equation.",
             lambda p: -F(p["c"] - p["b"], p["a"]) if F(p["c"] - p["b"], p["a"]) < 0 else None),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a = rng.randint(2, 9) * (-1 if level == 3 and rng.random() < 0.4 else 1)
        b = rng.randint(1, 15) if level == 1 else _nonzero(rng, -15, 15)
        if level < 3:
            x = rng.randint(1, 10) if level == 1 else _nonzero(rng, -10, 10)
            c = a * x + b
        else:
            c = _nonzero(rng, -30, 30)
            if (c - b) % a == 0:
                raise Resample
        return {"level": level, "a": a, "b": b, "c": c}

    def answer(self, p: Params) -> Value:
        return F(p["c"] - p["b"], p["a"])

    def labels(self, p: Params) -> tuple[str, ...]:
        return X

    def statement(self, p: Params) -> str:
        return f"Solve ${linear(p['a'], p['b'], texed=True)} = {p['c']}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        a, b = p["a"], p["b"]
        undo = f"subtract ${b}$ from" if b > 0 else f"add ${-b}$ to"
        return (f"First {undo} both sides.", f"Then divide both sides by ${a}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, c = p["a"], p["b"], p["c"]
        undo = f"Subtract ${b}$ from" if b > 0 else f"Add ${-b}$ to"
        return (f"{undo} both sides: ${a}x = {c - b}$.", f"Divide both sides by ${a}$: $x = {tex(self.number(p))}$.")

    def features(self, p: Params) -> Features:
        return _eq_features(p, self.number(p), [p["a"], p["b"], p["c"]], steps=2)


@register
class FractionCoefficient(Template):
    id = "eq-fraction-coef"
    skill = "linear-two-step"
    kind = AnswerType.NUMBER
    title = "Solve x / a + b = c"
    base = -0.2
    rules = (
        Rule("divide-instead", "$\\frac{x}{a}$ means $x \\div a$; undo it by multiplying both sides by $a$.",
             lambda p: F(p["c"] - p["b"], p["a"])),
        Rule("undo-in-wrong-order", "Undo the operations in reverse order: first undo $+ b$, then multiply both "
             "sides by $a$ — multiply the whole side, not only one term.", lambda p: F(p["a"] * p["c"] - p["b"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a = rng.randint(2, 6)
        b = rng.randint(1, 10) if level == 1 else _nonzero(rng, -10, 10)
        c = b + (rng.randint(1, 6) if level < 3 else _nonzero(rng, -6, 6))
        return {"level": level, "a": a, "b": b, "c": c}

    def answer(self, p: Params) -> Value:
        return F(p["a"] * (p["c"] - p["b"]))

    def labels(self, p: Params) -> tuple[str, ...]:
        return X

    def statement(self, p: Params) -> str:
        return f"Solve $\\frac{{x}}{{{p['a']}}}{_signed(p['b'])} = {p['c']}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        b = p["b"]
        return (f"First {'subtract' if b > 0 else 'add'} ${abs(b)}$ {'from' if b > 0 else 'to'} both sides.",
                f"Then multiply both sides by ${p['a']}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, c = p["a"], p["b"], p["c"]
        return (f"{'Subtract' if b > 0 else 'Add'} ${abs(b)}$ {'from' if b > 0 else 'to'} both sides: "
                f"$\\frac{{x}}{{{a}}} = {c - b}$.",
                f"Multiply both sides by ${a}$: $x = {c - b} \\times {a} = {a * (c - b)}$.")

    def features(self, p: Params) -> Features:
        f = _eq_features(p, self.number(p), [p["a"], p["b"], p["c"]], steps=2)
        return Features(**(f.to_dict() | {"non_integers": 1 / 3}))


@register
class BracketEquation(Template):
    id = "eq-distribute"
    skill = "linear-two-step"
    kind = AnswerType.NUMBER
    title = "Solve a(x + b) = c"
    base = 0.0
    rules = (
        Rule("first-term-only", "Multiply both terms in the bracket by $a$: $a(x + b) = ax + ab$. (Or divide both "
             "sides by $a$ first.)", lambda p: F(p["c"] - p["b"], p["a"])),
        Rule("wrong-inverse", "After dividing by $a$, undo $+ b$ by subtracting $b$ from both sides.",
             lambda p: F(p["c"], p["a"]) + p["b"]),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a = rng.randint(2, 6)
        b = rng.randint(1, 9) if level == 1 else _nonzero(rng, -9, 9)
        x = rng.randint(1, 9) if level < 3 else _nonzero(rng, -9, 9)
        return {"level": level, "a": a, "b": b, "c": a * (x + b)}

    def answer(self, p: Params) -> Value:
        return F(p["c"], p["a"]) - p["b"]

    def labels(self, p: Params) -> tuple[str, ...]:
        return X

    def statement(self, p: Params) -> str:
        return f"Solve ${p['a']}({linear(1, p['b'], texed=True)}) = {p['c']}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        return (f"Divide both sides by ${p['a']}$ first (or expand the bracket).",
                f"${linear(1, p['b'], texed=True)} = {p['c'] // p['a']}$; now get $x$ on its own.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, c = p["a"], p["b"], p["c"]
        return (f"Divide both sides by ${a}$: ${linear(1, b, texed=True)} = {c // a}$.",
                f"{'Subtract' if b > 0 else 'Add'} ${abs(b)}$: $x = {self.number(p)}$.")

    def features(self, p: Params) -> Features:
        return _eq_features(p, self.number(p), [p["a"], p["b"], p["c"]], steps=2)


@register
class BothSides(Template):
    id = "eq-both-sides"
    skill = "linear-both-sides"
    kind = AnswerType.NUMBER
    title = "Solve ax + b = cx + d"
    base = 0.1
    rules = (
        Rule("add-x-terms", "Moving $cx$ to the other side changes its sign: subtract $cx$ from both sides.",
             lambda p: F(p["d"] - p["b"], p["a"] + p["c"])),
        Rule("constants-same-side", "Undo $+ b$ by subtracting $b$ from both sides: the constant changes sign when it "
             "moves across.", lambda p: F(p["d"] + p["b"], p["a"] - p["c"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, c = rng.randint(2, 9), rng.randint(1, 8)
        if a == c or a + c == 0:
            raise Resample
        if level == 3 and rng.random() < 0.5:
            a, c = c, a  # the x-terms collect to a negative coefficient
        x = rng.randint(1, 8) if level == 1 else _nonzero(rng, -8, 8)
        b = rng.randint(1, 12) if level == 1 else _nonzero(rng, -12, 12)
        return {"level": level, "a": a, "b": b, "c": c, "d": (a - c) * x + b}

    def answer(self, p: Params) -> Value:
        return F(p["d"] - p["b"], p["a"] - p["c"])

    def labels(self, p: Params) -> tuple[str, ...]:
        return X

    def statement(self, p: Params) -> str:
        return f"Solve ${linear(p['a'], p['b'], texed=True)} = {linear(p['c'], p['d'], texed=True)}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        return (f"Get the $x$-terms on one side: subtract ${linear(p['c'], 0, texed=True)}$ from both sides.",
                f"That gives ${linear(p['a'] - p['c'], p['b'], texed=True)} = {p['d']}$; now solve it in two steps.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        return (f"Subtract ${linear(c, 0, texed=True)}$ from both sides: ${linear(a - c, b, texed=True)} = {d}$.",
                f"{'Subtract' if b > 0 else 'Add'} ${abs(b)}$: ${linear(a - c, 0, texed=True)} = {d - b}$.",
                f"Divide by ${a - c}$: $x = {tex(self.number(p))}$.")

    def features(self, p: Params) -> Features:
        return _eq_features(p, self.number(p), [p["a"], p["b"], p["c"], p["d"]], steps=3, variables=2)


@register
class BothSidesBracket(Template):
    id = "eq-both-sides-bracket"
    skill = "linear-both-sides"
    kind = AnswerType.NUMBER
    title = "Solve a(x + b) = cx + d"
    base = 0.4
    rules = (
        Rule("first-term-only", "Multiply both terms in the bracket by $a$: $a(x + b) = ax + ab$.",
             lambda p: F(p["d"] - p["b"], p["a"] - p["c"])),
        Rule("add-x-terms", "Moving $cx$ to the other side changes its sign: subtract $cx$ from both sides.",
             lambda p: F(p["d"] - p["a"] * p["b"], p["a"] + p["c"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, c = rng.randint(2, 6), rng.randint(1, 9)
        if a == c:
            raise Resample
        b = rng.randint(1, 6) if level == 1 else _nonzero(rng, -6, 6)
        x = rng.randint(1, 6) if level < 3 else _nonzero(rng, -6, 6)
        return {"level": level, "a": a, "b": b, "c": c, "d": (a - c) * x + a * b}

    def answer(self, p: Params) -> Value:
        return F(p["d"] - p["a"] * p["b"], p["a"] - p["c"])

    def labels(self, p: Params) -> tuple[str, ...]:
        return X

    def statement(self, p: Params) -> str:
        return f"Solve ${p['a']}({linear(1, p['b'], texed=True)}) = {linear(p['c'], p['d'], texed=True)}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        a, b = p["a"], p["b"]
        return (f"Expand the bracket first: ${a}({linear(1, b, texed=True)}) = {linear(a, a * b, texed=True)}$.",
                "Then collect the $x$-terms on one side and the numbers on the other.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        return (f"Expand: ${linear(a, a * b, texed=True)} = {linear(c, d, texed=True)}$.",
                f"Subtract ${linear(c, 0, texed=True)}$ and {'subtract' if a * b > 0 else 'add'} ${abs(a * b)}$ on both "
                f"sides: ${linear(a - c, 0, texed=True)} = {d - a * b}$.",
                f"Divide by ${a - c}$: $x = {tex(self.number(p))}$.")

    def features(self, p: Params) -> Features:
        return _eq_features(p, self.number(p), [p["a"], p["b"], p["c"], p["d"]], steps=4, variables=2)


@register
class OneStepInequality(Template):
    id = "ineq-one-step"
    skill = "inequalities"
    kind = AnswerType.EXPRESSION
    form = "solved"
    title = "Solve x + a < b or ax >= b (a > 0)"
    base = -0.5
    rules = (
        Rule("wrong-inverse", "Undo $+ a$ by subtracting $a$ from both sides, as in an equation.",
             lambda p: relation("x", _op(p), p["b"] + p["a"]) if p["v"] == 0 else None),
        Rule("flip-without-need", "Only reverse the inequality sign when you multiply or divide by a negative "
             "number; here you divide by a positive one.",
             lambda p: relation("x", FLIP_OP[_op(p)], F(p["b"], p["a"])) if p["v"] == 1 else None),
        Rule("subtract-coefficient", "$ax$ means $a \\times x$: divide both sides by $a$.",
             lambda p: relation("x", _op(p), p["b"] - p["a"]) if p["v"] == 1 else None),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        v = 0 if level == 1 else 1
        a = rng.randint(1 if v == 0 else 2, 9)
        b = rng.randint(1, 20) if level == 1 else _nonzero(rng, -20, 20)
        if v == 1 and level == 2 and b % a:
            raise Resample
        return {"level": level, "v": v, "op": rng.randrange(4), "a": a, "b": b}

    def answer(self, p: Params) -> Value:
        return relation("x", _op(p), p["b"] - p["a"] if p["v"] == 0 else F(p["b"], p["a"]))

    def statement(self, p: Params) -> str:
        left = f"x + {p['a']}" if p["v"] == 0 else f"{p['a']}x"
        return f"Solve ${left} {TEX_OP[_op(p)]} {p['b']}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        if p["v"] == 0:
            return ("Solve it like an equation: do the same to both sides.", f"Subtract ${p['a']}$ from both sides.")
        return ("Solve it like an equation: do the same to both sides.",
                f"Divide both sides by ${p['a']}$; it is positive, so the sign stays the same.")

    def solution(self, p: Params) -> tuple[str, ...]:
        op = _op(p)
        if p["v"] == 0:
            return (f"Subtract ${p['a']}$ from both sides: ${relation('x', op, p['b'] - p['a'], texed=True)}$.",)
        return (f"Divide both sides by ${p['a']}$ (positive, so the sign stays): "
                f"${relation('x', op, F(p['b'], p['a']), texed=True)}$.",)

    def features(self, p: Params) -> Features:
        value = F(p["b"] - p["a"]) if p["v"] == 0 else F(p["b"], p["a"])
        return _eq_features(p, value, [p["a"], p["b"]], steps=1)


@register
class NegativeInequality(Template):
    id = "ineq-negative"
    skill = "inequalities"
    kind = AnswerType.EXPRESSION
    form = "solved"
    title = "Solve b - ax > c: dividing by a negative number reverses the sign"
    base = 0.2
    rules = (
        Rule("no-flip", "When you multiply or divide both sides by a negative number, reverse the inequality sign.",
             lambda p: relation("x", _op(p), F(p["b"] - p["c"], p["a"]))),
        Rule("dropped-sign", "Dividing by a negative number changes the sign of the number too: check it by "
             "substituting a value.",
             lambda p: relation("x", FLIP_OP[_op(p)], F(p["c"] - p["b"], p["a"]))
             if p["b"] != p["c"] else None),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a = rng.randint(2, 9)
        b, c = _nonzero(rng, -15, 15), _nonzero(rng, -20, 20)
        if (level < 3 and (b - c) % a) or b == c:
            raise Resample
        return {"level": level, "op": rng.randrange(4), "a": a, "b": b, "c": c}

    def answer(self, p: Params) -> Value:
        return relation("x", FLIP_OP[_op(p)], F(p["b"] - p["c"], p["a"]))

    def statement(self, p: Params) -> str:
        return f"Solve ${p['b']} - {p['a']}x {TEX_OP[_op(p)]} {p['c']}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        b = p["b"]
        return (f"{'Subtract' if b > 0 else 'Add'} ${abs(b)}$ {'from' if b > 0 else 'to'} both sides first.",
                f"Then divide both sides by ${-p['a']}$: dividing by a negative number reverses the inequality sign.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, c = p["a"], p["b"], p["c"]
        op = _op(p)
        return (f"{'Subtract' if b > 0 else 'Add'} ${abs(b)}$ on both sides: $-{a}x {TEX_OP[op]} {c - b}$.",
                f"Divide both sides by ${-a}$ and reverse the sign: "
                f"${relation('x', FLIP_OP[op], F(b - c, a), texed=True)}$.")

    def features(self, p: Params) -> Features:
        value = F(p["b"] - p["c"], p["a"])
        return _eq_features(p, value, [p["a"], p["b"], p["c"], -p["a"]], steps=2)

