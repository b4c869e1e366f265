"""Ratios and direct proportion."""

from __future__ import annotations

import random
from math import gcd

from metatutor.content.features import Features, number_features, prime_factors
from metatutor.content.items import AnswerType
from metatutor.content.maths.decimals import fixed
from metatutor.content.maths.notation import F, dec
from metatutor.content.templates import Params, Resample, Rule, Template, Value, register

NAMES = (("Ali", "Ben"), ("Maya", "Noor"), ("Sam", "Tess"), ("Kofi", "Lena"))


def _smallest_factor(n: int) -> int:
    return next(f for f in range(2, n + 1) if n % f == 0)


@register
class SimplifyRatio(Template):
    id = "ratio-simplify"
    skill = "ratios"
    kind = AnswerType.BLANKS
    kinds = (AnswerType.NUMBER, AnswerType.NUMBER)
    title = "Write a ratio in its simplest form"
    base = -1.0
    rules = (
        Rule("partial-simplify", "You divided by a common factor, but not by the highest one: both numbers can "
             "still be divided again.",
             lambda p: (F(p["x"] * p["g"] // _smallest_factor(p["g"])), F(p["y"] * p["g"] // _smallest_factor(p["g"])))
             if _smallest_factor(p["g"]) < p["g"] else None),
        Rule("ratio-reversed", "The order of a ratio matters: keep the numbers in the order of the question.",
             lambda p: (F(p["y"]), F(p["x"]))),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        x, y = rng.randint(1, (5, 7, 9)[level - 1]), rng.randint(1, (5, 7, 9)[level - 1])
        g = rng.choice(((2, 3, 5), (4, 6, 8, 9, 10), (12, 14, 15, 16, 18, 20, 24))[level - 1])
        if x == y or gcd(x, y) != 1:
            raise Resample
        return {"level": level, "x": x, "y": y, "g": g}

    def answer(self, p: Params) -> Value:
        return F(p["x"]), F(p["y"])

    def labels(self, p: Params) -> tuple[str, ...]:
        return ("", ":")

    def statement(self, p: Params) -> str:
        return f"Write the ratio ${p['x'] * p['g']} : {p['y'] * p['g']}$ in its simplest form."

    def hints(self, p: Params) -> tuple[str, ...]:
        a, b = p["x"] * p["g"], p["y"] * p["g"]
        return ("Divide both numbers by the same number, as many times as you can.",
                f"The highest common factor of ${a}$ and ${b}$ is ${p['g']}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        g, x, y = p["g"], p["x"], p["y"]
        return (f"The highest common factor of ${x * g}$ and ${y * g}$ is ${g}$.",
                f"${x * g} \\div {g} = {x}$ and ${y * g} \\div {g} = {y}$, so ${x * g} : {y * g} = {x} : {y}$.")

    def features(self, p: Params) -> Features:
        return Features(steps=prime_factors(p["g"]), simplify=1, blanks=2,
                        **number_features([p["x"] * p["g"], p["y"] * p["g"]], F(p["x"])))


@register
class ShareInRatio(Template):
    id = "ratio-share"
    skill = "ratios"
    kind = AnswerType.BLANKS
    kinds = (AnswerType.NUMBER, AnswerType.NUMBER)
    title = "Share an amount in a given ratio"
    base = -0.4
    rules = (
        Rule("split-equally", "A ratio does not split an amount equally: add the parts of the ratio to find how "
             "many equal shares there are.", lambda p: (F(p["t"] * (p["a"] + p["b"]), 2),) * 2),
        Rule("ratio-reversed", "The first number of the ratio belongs to the first person: keep the order of the "
             "question.", lambda p: (F(p["t"] * p["b"]), F(p["t"] * p["a"]))),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, b = rng.randint(1, (4, 6, 9)[level - 1]), rng.randint(1, (4, 6, 9)[level - 1])
        if a == b or gcd(a, b) != 1:
            raise Resample
        return {"level": level, "a": a, "b": b, "t": rng.randint(2, (6, 12, 25)[level - 1]),
                "names": rng.randrange(len(NAMES))}

    def answer(self, p: Params) -> Value:
        return F(p["t"] * p["a"]), F(p["t"] * p["b"])

    def labels(self, p: Params) -> tuple[str, ...]:
        first, second = NAMES[p["names"]]
        return (f"\\text{{{first} gets}}", f"\\text{{{second} gets}}")

    def statement(self, p: Params) -> str:
        first, second = NAMES[p["names"]]
        total = p["t"] * (p["a"] + p["b"])
        return (f"{first} and {second} share ${total}$ stickers in the ratio ${p['a']} : {p['b']}$. "
                "How many stickers does each get?")

    def hints(self, p: Params) -> tuple[str, ...]:
        a, b = p["a"], p["b"]
        total = p["t"] * (a + b)
        return (f"Add the parts of the ratio: ${a} + {b} = {a + b}$ equal shares.",
                f"One share is ${total} \\div {a + b} = {p['t']}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, t = p["a"], p["b"], p["t"]
        first, second = NAMES[p["names"]]
        return (f"There are ${a} + {b} = {a + b}$ shares, and one share is ${t * (a + b)} \\div {a + b} = {t}$.",
                f"{first} gets ${a} \\times {t} = {a * t}$ and {second} gets ${b} \\times {t} = {b * t}$.")

    def features(self, p: Params) -> Features:
        a, b, t = p["a"], p["b"], p["t"]
        return Features(steps=3, blanks=2, **number_features([t * (a + b), a, b], F(t * a)))


@register
class DirectProportion(Template):
    id = "ratio-unitary"
    skill = "ratios"
    kind = AnswerType.NUMBER
    title = "Direct proportion: the cost of a different number of items"
    base = -0.2
    rules = (
        Rule("additive-reasoning", "You added the difference in the number of items to the cost. In a proportion "
             "the cost grows by multiplying: find the cost of one item first.",
             lambda p: F(p["u"] * p["n1"], 100) + p["n2"] - p["n1"]),
        Rule("inverse-proportion", "More items should cost more, not less: find the cost of one item, then multiply "
             "by the number of items.", lambda p: F(p["u"] * p["n1"] * p["n1"], 100 * p["n2"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        n1, n2 = rng.randint(2, 6), rng.randint(3, (9, 12, 15)[level - 1])
        u = rng.choice(((100, 200, 300, 50), (25, 75, 120, 150, 250), (35, 45, 65, 85, 115, 135))[level - 1])
        if n2 <= n1:
            raise Resample
        return {"level": level, "n1": n1, "n2": n2, "u": u}

    def answer(self, p: Params) -> Value:
        return F(p["u"] * p["n2"], 100)

    def _cost(self, cents: int) -> str:
        return f"\\${fixed(cents, 2)}"

    def statement(self, p: Params) -> str:
        return (f"${p['n1']}$ notebooks cost ${self._cost(p['u'] * p['n1'])}$. How much do ${p['n2']}$ notebooks "
                "cost, in dollars?")

    def hints(self, p: Params) -> tuple[str, ...]:
        return (f"Find the cost of one notebook first: divide by ${p['n1']}$.",
                f"One notebook costs ${self._cost(p['u'])}$; now multiply by ${p['n2']}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        u, n1, n2 = p["u"], p["n1"], p["n2"]
        return (f"One notebook costs ${dec(F(u * n1, 100))} \\div {n1} = {dec(F(u, 100))}$ dollars.",
                f"${n2}$ notebooks cost ${n2} \\times {dec(F(u, 100))} = {dec(F(u * n2, 100))}$ dollars.")

    def features(self, p: Params) -> Features:
        u, n1, n2 = p["u"], p["n1"], p["n2"]
        return Features(steps=2, **number_features([F(u * n1, 100), n1, n2], F(u * n2, 100)))
