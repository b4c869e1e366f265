"""Equivalent fractions, adding and subtracting fractions, multiplying and dividing them."""

from __future__ import annotations

import random
from math import gcd, lcm

from metatutor.content.features import Features, number_features, prime_factors
from metatutor.content.items import AnswerType
from metatutor.content.maths.notation import F, frac, tex
from metatutor.content.templates import Params, Resample, Rule, Template, Value, register

LOWEST = "Give your answer as a fraction in lowest terms."


def _proper(rng: random.Random, den_lo: int, den_hi: int) -> tuple[int, int]:
    """A proper fraction in lowest terms."""
    while True:
        d = rng.randint(den_lo, den_hi)
        n = rng.randint(1, d - 1)
        if gcd(n, d) == 1:
            return n, d


def _convert(a: int, b: int, c: int, d: int) -> str:
    """`$\\frac{a}{b} = \\frac{..}{m}$ and ...` for the fractions whose denominator changes."""
    m = lcm(b, d)
    steps = [f"${frac(n, q)} = {frac(n * m // q, m)}$" for n, q in ((a, b), (c, d)) if q != m]
    return " and ".join(steps)


def _reduce_step(num: int, den: int) -> str:
    """` = \\frac{p}{q}` when num/den reduces, else the empty string."""
    v = F(num, den)
    return "" if v.numerator == num and v.denominator == den else f" = {tex(v)}"


@register
class SimplifyFraction(Template):
    id = "frac-simplify"
    skill = "fraction-equivalence"
    kind = AnswerType.FRACTION
    form = "lowest"
    title = "Write a fraction in lowest terms"
    base = -1.0
    rules = (
        Rule("divide-numerator-only", "You divided only the numerator. Divide the numerator and the denominator by "
             "the same number, so the fraction keeps its value.", lambda p: F(p["a"], p["k"] * p["b"])),
        Rule("divide-denominator-only", "You divided only the denominator. Divide the numerator and the denominator "
             "by the same number, so the fraction keeps its value.", lambda p: F(p["k"] * p["a"], p["b"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, b = _proper(rng, 2, (6, 10, 12)[level - 1])
        k = rng.choice(((2, 3, 5), (2, 3, 4, 5, 6), (4, 6, 8, 9, 12))[level - 1])
        return {"level": level, "a": a, "b": b, "k": k}

    def answer(self, p: Params) -> Value:
        return F(p["a"], p["b"])

    def statement(self, p: Params) -> str:
        return f"Write ${frac(p['k'] * p['a'], p['k'] * p['b'])}$ in its lowest terms."

    def hints(self, p: Params) -> tuple[str, ...]:
        n, d = p["k"] * p["a"], p["k"] * p["b"]
        return ("Find a number that divides both the numerator and the denominator.",
                f"The highest common factor of ${n}$ and ${d}$ is ${p['k']}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        k, a, b = p["k"], p["a"], p["b"]
        return (f"The highest common factor of ${k * a}$ and ${k * b}$ is ${k}$.",
                f"Divide both by ${k}$: ${frac(k * a, k * b)} = \\frac{{{k * a} \\div {k}}}{{{k * b} \\div {k}}} = "
                f"{frac(a, b)}$.")

    def features(self, p: Params) -> Features:
        k = p["k"]
        return Features(steps=prime_factors(k), simplify=1, **number_features([F(k * p["a"], k * p["b"])], F(p["a"], p["b"]))
                        | {"magnitude": number_features([k * p["b"]])["magnitude"], "non_integers": 1})


@register
class MissingNumerator(Template):
    id = "frac-missing"
    skill = "fraction-equivalence"
    kind = AnswerType.NUMBER
    title = "Find the missing number in a pair of equivalent fractions"
    base = -1.2
    rules = (
        Rule("add-same", "Equivalent fractions multiply (or divide) the numerator and the denominator by the same "
             "number. Adding the same amount to both changes the fraction's value.",
             lambda p: F(p["a"] + (p["k"] - 1) * p["b"]) if p["v"] == 0 else F(p["b"] + (p["k"] - 1) * p["a"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, b = _proper(rng, 2, (6, 10, 12)[level - 1])
        return {"level": level, "v": int(level == 3 and rng.random() < 0.5), "a": a, "b": b,
                "k": rng.randint(2, (4, 6, 9)[level - 1])}

    def answer(self, p: Params) -> Value:
        return F(p["k"] * (p["a"] if p["v"] == 0 else p["b"]))

    def statement(self, p: Params) -> str:
        a, b, k = p["a"], p["b"], p["k"]
        right = f"\\frac{{?}}{{{k * b}}}" if p["v"] == 0 else f"\\frac{{{k * a}}}{{?}}"
        return f"Find the missing number: ${frac(a, b)} = {right}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        a, b, k = p["a"], p["b"], p["k"]
        known = (b, k * b) if p["v"] == 0 else (a, k * a)
        part = "denominator" if p["v"] == 0 else "numerator"
        return (f"Compare the {part}s: what was ${known[0]}$ multiplied by to make ${known[1]}$?",
                f"It was multiplied by ${k}$; do the same to the other number.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, k = p["a"], p["b"], p["k"]
        if p["v"] == 0:
            return (f"${b} \\times {k} = {k * b}$, so the denominator was multiplied by ${k}$.",
                    f"Multiply the numerator by ${k}$ too: ${a} \\times {k} = {k * a}$, so "
                    f"${frac(a, b)} = {frac(k * a, k * b)}$.")
        return (f"${a} \\times {k} = {k * a}$, so the numerator was multiplied by ${k}$.",
                f"Multiply the denominator by ${k}$ too: ${b} \\times {k} = {k * b}$, so "
                f"${frac(a, b)} = {frac(k * a, k * b)}$.")

    def features(self, p: Params) -> Features:
        a, b, k = p["a"], p["b"], p["k"]
        return Features(steps=2, **number_features([F(a, b), k * b], self.answer(p))
                        | {"non_integers": 0.5})


@register
class EquivalentChoice(Template):
    id = "frac-equiv-choice"
    skill = "fraction-equivalence"
    kind = AnswerType.CHOICE
    title = "Recognise an equivalent fraction"
    base = -1.4
    rules = (
        Rule("add-same", "Adding the same number to the numerator and the denominator changes a fraction's value; "
             "multiplying both by the same number does not.",
             lambda p: frac(p["a"] + p["k"], p["b"] + p["k"])),
        Rule("multiply-numerator-only", "Multiplying only the numerator makes the fraction bigger. Multiply the "
             "numerator and the denominator by the same number.",
             lambda p: frac(p["k"] * p["a"], p["b"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, b = _proper(rng, 3, (6, 9, 12)[level - 1])
        return {"level": level, "a": a, "b": b, "k": rng.randint(2, (3, 5, 8)[level - 1])}

    def answer(self, p: Params) -> Value:
        return frac(p["k"] * p["a"], p["k"] * p["b"])

    def fillers(self, p: Params) -> tuple[str, ...]:
        a, b, k = p["a"], p["b"], p["k"]
        return (frac(k * b, k * a), frac(a, k * b))

    def statement(self, p: Params) -> str:
        return f"Which fraction is equal to ${frac(p['a'], p['b'])}$?"

    def hints(self, p: Params) -> tuple[str, ...]:
        return ("Equivalent fractions come from multiplying the numerator and the denominator by the same number.",
                f"Look for a fraction whose numerator and denominator are both ${p['k']}$ times bigger.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, k = p["a"], p["b"], p["k"]
        return (f"Multiply the numerator and the denominator by ${k}$: "
                f"$\\frac{{{a} \\times {k}}}{{{b} \\times {k}}} = {frac(k * a, k * b)}$.",
                f"So ${frac(a, b)} = {frac(k * a, k * b)}$.")

    def features(self, p: Params) -> Features:
        a, b, k = p["a"], p["b"], p["k"]
        return Features(steps=1, choices=5, **number_features([F(a, b), k * b]) | {"non_integers": 1})


@register
class AddLikeFractions(Template):
    id = "frac-add-like"
    skill = "fraction-add-sub"
    kind = AnswerType.FRACTION
    title = "Add fractions with the same denominator"
    base = -1.2
    rules = (
        Rule("add-denominators", "When the denominators are the same, keep the denominator and add the numerators: "
             "the pieces stay the same size.", lambda p: F(p["a"] + p["b"], 2 * p["n"])),
        Rule("multiply-denominators", "You don't multiply the denominators when adding: with a common denominator, "
             "add the numerators and keep the denominator.", lambda p: F(p["a"] + p["b"], p["n"] ** 2)),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        n = rng.randint(3, (7, 10, 12)[level - 1])
        a, b = rng.randint(1, n - 1), rng.randint(1, n - 1)
        if (level == 1 and a + b >= n) or (level == 3 and a + b <= n):
            raise Resample
        return {"level": level, "a": a, "b": b, "n": n}

    def answer(self, p: Params) -> Value:
        return F(p["a"] + p["b"], p["n"])

    def statement(self, p: Params) -> str:
        return f"Work out ${frac(p['a'], p['n'])} + {frac(p['b'], p['n'])}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        return ("The denominators are the same, so the pieces are the same size.",
                f"Add the numerators, ${p['a']} + {p['b']}$, and keep the denominator ${p['n']}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, n = p["a"], p["b"], p["n"]
        return (f"${frac(a, n)} + {frac(b, n)} = \\frac{{{a} + {b}}}{{{n}}} = {frac(a + b, n)}{_reduce_step(a + b, n)}$.",)

    def features(self, p: Params) -> Features:
        a, b, n = p["a"], p["b"], p["n"]
        return Features(steps=1, simplify=int(gcd(a + b, n) > 1),
                        **number_features([F(a, n), F(b, n), n], F(a + b, n)))


@register
class AddUnlikeFractions(Template):
    id = "frac-add-unlike"
    skill = "fraction-add-sub"
    kind = AnswerType.FRACTION
    form = "lowest"
    title = "Add fractions with different denominators"
    base = -0.4
    rules = (
        Rule("add-denominators", "You added the denominators. Fractions can only be added when the pieces are the "
             "same size: rewrite both over a common denominator, then add the numerators.",
             lambda p: F(p["a"] + p["c"], p["b"] + p["d"])),
        Rule("numerators-not-converted", "You used a common denominator but left the numerators as they were. "
             "Multiply each numerator by the same number as its denominator.",
             lambda p: F(p["a"] + p["c"], lcm(p["b"], p["d"]))),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, b = _proper(rng, 2, (5, 6, 12)[level - 1])
        if level == 1:
            d = b * rng.randint(2, 3)
            c = rng.randint(1, d - 1)
        else:
            c, d = _proper(rng, 2, (5, 7, 12)[level - 1])
        if b == d or gcd(c, d) != 1 or (level == 2 and gcd(b, d) != 1) or (level == 3 and gcd(b, d) == 1):
            raise Resample
        return {"level": level, "a": a, "b": b, "c": c, "d": d}

    def answer(self, p: Params) -> Value:
        return F(p["a"], p["b"]) + F(p["c"], p["d"])

    def statement(self, p: Params) -> str:
        return f"Work out ${frac(p['a'], p['b'])} + {frac(p['c'], p['d'])}$. {LOWEST}"

    def hints(self, p: Params) -> tuple[str, ...]:
        b, d = p["b"], p["d"]
        m = lcm(b, d)
        return ("The denominators are different: rewrite both fractions with a common denominator first.",
                f"The lowest common multiple of ${b}$ and ${d}$ is ${m}$.",
                f"{_convert(p['a'], b, p['c'], d)}; now add the numerators.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        m = lcm(b, d)
        x, y = a * m // b, c * m // d
        return (f"The lowest common denominator of ${b}$ and ${d}$ is ${m}$.",
                f"Rewrite: {_convert(a, b, c, d)}.",
                f"${frac(x, m)} + {frac(y, m)} = {frac(x + y, m)}{_reduce_step(x + y, m)}$.")

    def features(self, p: Params) -> Features:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        m = lcm(b, d)
        raw = a * m // b + c * m // d
        return Features(steps=2 + int(m not in (b, d)) + int(gcd(raw, m) > 1), unlike_denominators=1,
                        simplify=int(gcd(raw, m) > 1), **number_features([F(a, b), F(c, d), m], self.answer(p)))


@register
class SubtractUnlikeFractions(Template):
    id = "frac-sub-unlike"
    skill = "fraction-add-sub"
    kind = AnswerType.FRACTION
    form = "lowest"
    title = "Subtract fractions with different denominators"
    base = -0.2
    rules = (
        Rule("subtract-across", "You subtracted the numerators and the denominators. Rewrite both fractions over a "
             "common denominator, then subtract the numerators only.",
             lambda p: F(p["a"] - p["c"], p["b"] - p["d"]) if p["b"] != p["d"] else None),
        Rule("numerators-not-converted", "You used a common denominator but left the numerators as they were. "
             "Multiply each numerator by the same number as its denominator.",
             lambda p: F(p["a"] - p["c"], lcm(p["b"], p["d"]))),
        Rule("wrong-sign", "The size of your answer is right but its sign is not: you take away more than you have, "
             "so the answer is negative.",
             lambda p: -(F(p["a"], p["b"]) - F(p["c"], p["d"])) if F(p["a"], p["b"]) < F(p["c"], p["d"]) else None),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, b = _proper(rng, 2, (6, 9, 12)[level - 1])
        c, d = _proper(rng, 2, (6, 9, 12)[level - 1])
        if b == d or (level < 3 and F(a, b) <= F(c, d)) or (level == 3 and F(a, b) >= F(c, d)):
            raise Resample
        return {"level": level, "a": a, "b": b, "c": c, "d": d}

    def answer(self, p: Params) -> Value:
        return F(p["a"], p["b"]) - F(p["c"], p["d"])

    def statement(self, p: Params) -> str:
        return f"Work out ${frac(p['a'], p['b'])} - {frac(p['c'], p['d'])}$. {LOWEST}"

    def hints(self, p: Params) -> tuple[str, ...]:
        b, d = p["b"], p["d"]
        m = lcm(b, d)
        return ("Rewrite both fractions with a common denominator first.",
                f"The lowest common multiple of ${b}$ and ${d}$ is ${m}$.",
                f"{_convert(p['a'], b, p['c'], d)}; now subtract the numerators.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        m = lcm(b, d)
        x, y = a * m // b, c * m // d
        return (f"The lowest common denominator of ${b}$ and ${d}$ is ${m}$.",
                f"Rewrite: {_convert(a, b, c, d)}.",
                f"${frac(x, m)} - {frac(y, m)} = {frac(x - y, m)}{_reduce_step(x - y, m)}$.")

    def features(self, p: Params) -> Features:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        m = lcm(b, d)
        raw = a * m // b - c * m // d
        return Features(steps=2 + int(m not in (b, d)) + int(gcd(raw, m) > 1), unlike_denominators=1,
                        simplify=int(gcd(raw, m) > 1), **number_features([F(a, b), F(c, d), m], self.answer(p)))


@register
class MultiplyFractions(Template):
    id = "frac-mul"
    skill = "fraction-mul-div"
    kind = AnswerType.FRACTION
    form = "lowest"
    title = "Multiply fractions"
    base = -0.6
    rules = (
        Rule("cross-multiply", "That is the first step of dividing fractions. To multiply, multiply the numerators "
             "together and the denominators together.", lambda p: F(p["a"] * p["d"], p["b"] * p["c"])),
        Rule("common-denominator", "You don't need a common denominator to multiply fractions: multiply the "
             "numerators together and the denominators together.",
             lambda p: F(p["a"] * lcm(p["b"], p["d"]) // p["b"] * (p["c"] * lcm(p["b"], p["d"]) // p["d"]),
                         lcm(p["b"], p["d"]))),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, b = _proper(rng, 2, (6, 9, 12)[level - 1])
        c, d = _proper(rng, 2, (6, 9, 12)[level - 1])
        cancels = gcd(a, d) > 1 or gcd(c, b) > 1
        if (level == 1 and cancels) or (level == 3 and not cancels):
            raise Resample
        return {"level": level, "a": a, "b": b, "c": c, "d": d}

    def answer(self, p: Params) -> Value:
        return F(p["a"], p["b"]) * F(p["c"], p["d"])

    def statement(self, p: Params) -> str:
        return f"Work out ${frac(p['a'], p['b'])} \\times {frac(p['c'], p['d'])}$. {LOWEST}"

    def hints(self, p: Params) -> tuple[str, ...]:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        return ("Multiply the numerators together and the denominators together.",
                f"That gives $\\frac{{{a} \\times {c}}}{{{b} \\times {d}}} = {frac(a * c, b * d)}$; "
                "can it be simplified?")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        return (f"${frac(a, b)} \\times {frac(c, d)} = \\frac{{{a} \\times {c}}}{{{b} \\times {d}}} = "
                f"{frac(a * c, b * d)}{_reduce_step(a * c, b * d)}$.",)

    def features(self, p: Params) -> Features:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        simplify = int(gcd(a * c, b * d) > 1)
        return Features(steps=1 + simplify, simplify=simplify,
                        **number_features([F(a, b), F(c, d), b * d], self.answer(p)))


@register
class DivideFractions(Template):
    id = "frac-div"
    skill = "fraction-mul-div"
    kind = AnswerType.FRACTION
    form = "lowest"
    title = "Divide fractions"
    base = -0.2
    rules = (
        Rule("no-flip", "You multiplied without flipping. To divide by a fraction, multiply by its reciprocal: "
             "turn the second fraction upside down.", lambda p: F(p["a"] * p["c"], p["b"] * p["d"])),
        Rule("flip-first", "You flipped the first fraction. Keep the first fraction and flip the one you divide by.",
             lambda p: F(p["b"] * p["c"], p["a"] * p["d"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, b = _proper(rng, 2, (6, 9, 12)[level - 1])
        if level == 3 and rng.random() < 0.5:
            c, d = rng.randint(2, 6), 1  # divide by a whole number
        else:
            c, d = _proper(rng, 2, (6, 9, 12)[level - 1])
        if (a, b) == (c, d):
            raise Resample
        return {"level": level, "a": a, "b": b, "c": c, "d": d}

    def answer(self, p: Params) -> Value:
        return F(p["a"], p["b"]) / F(p["c"], p["d"])

    def _divisor(self, p: Params) -> str:
        return str(p["c"]) if p["d"] == 1 else frac(p["c"], p["d"])

    def statement(self, p: Params) -> str:
        return f"Work out ${frac(p['a'], p['b'])} \\div {self._divisor(p)}$. {LOWEST}"

    def hints(self, p: Params) -> tuple[str, ...]:
        c, d = p["c"], p["d"]
        return ("Dividing by a fraction is the same as multiplying by its reciprocal.",
                f"The reciprocal of ${self._divisor(p)}$ is ${frac(d, c)}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        return (f"Multiply by the reciprocal: ${frac(a, b)} \\div {self._divisor(p)} = {frac(a, b)} \\times {frac(d, c)}$.",
                f"$= \\frac{{{a} \\times {d}}}{{{b} \\times {c}}} = {frac(a * d, b * c)}{_reduce_step(a * d, b * c)}$.")

    def features(self, p: Params) -> Features:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        simplify = int(gcd(a * d, b * c) > 1)
        return Features(steps=2 + simplify, simplify=simplify,
                        **number_features([F(a, b), F(c, d), b * c], self.answer(p)))
