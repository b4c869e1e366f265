"""Exponents, simplifying expressions, and substituting into them."""

from __future__ import annotations

import random

from metatutor.content.features import Features, number_features
from metatutor.content.items import AnswerType
from metatutor.content.maths.notation import F, poly, texp
from metatutor.content.templates import Params, Resample, Rule, Template, Value, register

TIMES = " \\times "


def _power_text(p: Params) -> str:
    a, n = p["a"], p["n"]
    return (f"{a}^{n}", f"(-{a})^{n}", f"-{a}^{n}")[p["v"]]


@register
class EvaluatePower(Template):
    id = "pow-evaluate"
    skill = "exponents"
    kind = AnswerType.NUMBER
    title = "Evaluate a power, with and without a negative base"
    base = -0.9
    rules = (
        Rule("multiply-base-exponent", "A power is repeated multiplication: $a^n$ means $n$ copies of $a$ multiplied "
             "together, not $a \\times n$.", lambda p: F((p["a"] * p["n"], -p["a"] * p["n"], -p["a"] * p["n"])[p["v"]])),
        Rule("negative-base-sign", "A negative number to an even power is positive, and to an odd power it is "
             "negative: count the minus signs.", lambda p: F(-((-p["a"]) ** p["n"])) if p["v"] == 1 else None),
        Rule("power-before-negation", "In $-a^n$ the power applies to $a$ only, not to the minus sign: "
             "$-3^2 = -(3 \\times 3) = -9$, while $(-3)^2 = 9$.",
             lambda p: F((-p["a"]) ** p["n"]) if p["v"] == 2 and p["n"] % 2 == 0 else None),
    )

    def sample(self, rng: random.Random) -> Params:
        v = rng.randint(0, 2)
        n = rng.randint(2, 4)
        a = rng.randint(2, (12, 6, 4)[n - 2])
        return {"v": v, "a": a, "n": n}

    def answer(self, p: Params) -> Value:
        a, n = p["a"], p["n"]
        return F((a**n, (-a) ** n, -(a**n))[p["v"]])

    def statement(self, p: Params) -> str:
        return f"Work out ${_power_text(p)}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        a, n = p["a"], p["n"]
        base = (str(a), f"(-{a})", str(a))[p["v"]]
        first = f"Write it as a product of ${n}$ factors: ${TIMES.join([base] * n)}$."
        if p["v"] == 2:
            return ("The power applies only to the number next to it, not to the minus sign in front.", first)
        return (first, "Multiply the factors one at a time." + (" Count the negative signs." if p["v"] == 1 else ""))

    def solution(self, p: Params) -> tuple[str, ...]:
        a, n = p["a"], p["n"]
        if p["v"] == 2:
            return (f"${_power_text(p)} = -({TIMES.join([str(a)] * n)})$.", f"$= -{a**n}$.")
        base = str(a) if p["v"] == 0 else f"(-{a})"
        return (f"${_power_text(p)} = {TIMES.join([base] * n)}$.", f"$= {self.number(p)}$.")

    def features(self, p: Params) -> Features:
        return Features(steps=p["n"] - 1, regrouping=int(p["a"] ** p["n"] > 100),
                        **number_features([p["a"], p["n"]], self.answer(p)) | {"negatives": float(p["v"] > 0)})


@register
class ExponentLaws(Template):
    id = "pow-laws"
    skill = "exponents"
    kind = AnswerType.EXPRESSION
    form = "simplified"
    title = "Simplify with the laws of exponents"
    base = -0.4
    rules = (
        Rule("multiply-exponents", "When multiplying powers of the same base, add the exponents: "
             "$x^a \\times x^b = x^{a+b}$.",
             lambda p: poly([(p["c1"] * p["c2"], f"x^{p['a'] * p['b']}")]) if p["v"] == 0 else None),
        Rule("add-coefficients", "Multiply the numbers in front as well: $2x^3 \\times 3x^4 = (2 \\times 3)x^{3+4}$.",
             lambda p: poly([(p["c1"] + p["c2"], f"x^{p['a'] + p['b']}")]) if p["v"] == 0 else None),
        Rule("add-exponents", "A power of a power multiplies the exponents: $(x^a)^b = x^{a \\times b}$.",
             lambda p: poly([(1, f"x^{p['a'] + p['b']}")]) if p["v"] == 1 else None),
        Rule("divide-exponents", "When dividing powers of the same base, subtract the exponents: "
             "$x^a \\div x^b = x^{a-b}$.",
             lambda p: poly([(1, f"x^{p['a'] // p['b']}")]) if p["v"] == 2 and p["a"] % p["b"] == 0 else None),
        Rule("add-when-dividing", "When dividing powers of the same base, subtract the exponents; adding them is "
             "for multiplying.", lambda p: poly([(1, f"x^{p['a'] + p['b']}")]) if p["v"] == 2 else None),
    )

    def sample(self, rng: random.Random) -> Params:
        v = rng.randint(0, 2)
        a, b = rng.randint(2, 7), rng.randint(2, 6)
        c1, c2 = (rng.randint(1, 5), rng.randint(1, 5)) if v == 0 and rng.random() < 0.6 else (1, 1)
        if v == 2 and a <= b + 1:
            raise Resample
        return {"v": v, "a": a, "b": b, "c1": c1, "c2": c2}

    def answer(self, p: Params) -> Value:
        a, b = p["a"], p["b"]
        exponent = (a + b, a * b, a - b)[p["v"]]
        return poly([(p["c1"] * p["c2"], f"x^{exponent}")])

    def _question(self, p: Params) -> str:
        a, b = p["a"], p["b"]
        c1 = "" if p["c1"] == 1 else str(p["c1"])
        c2 = "" if p["c2"] == 1 else str(p["c2"])
        return (f"{c1}x^{{{a}}} \\times {c2}x^{{{b}}}", f"(x^{{{a}}})^{{{b}}}", f"\\frac{{x^{{{a}}}}}{{x^{{{b}}}}}")[p["v"]]

    def statement(self, p: Params) -> str:
        return f"Simplify ${self._question(p)}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        law = ("When you multiply powers of the same base, add the exponents.",
               "A power of a power: multiply the exponents.",
               "When you divide powers of the same base, subtract the exponents.")[p["v"]]
        if p["v"] == 0 and (p["c1"], p["c2"]) != (1, 1):
            return (law, f"Multiply the numbers in front too: ${p['c1']} \\times {p['c2']}$.")
        return (law,)

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b = p["a"], p["b"]
        ans = poly([(p["c1"] * p["c2"], f"x^{(a + b, a * b, a - b)[p['v']]}")], texed=True)
        step = (f"x^{{{a} + {b}}}", f"x^{{{a} \\times {b}}}", f"x^{{{a} - {b}}}")[p["v"]]
        coef = f"{p['c1'] * p['c2']}" if p["c1"] * p["c2"] != 1 else ""
        return (f"${self._question(p)} = {coef}{step}$.", f"$= {ans}$.")

    def features(self, p: Params) -> Features:
        coefs = (p["c1"], p["c2"]) != (1, 1)
        return Features(steps=1 + int(coefs), variables=2 if p["v"] != 1 else 1,
                        **number_features([p["a"], p["b"], p["c1"], p["c2"]]))


@register
class CollectLikeTerms(Template):
    id = "expr-like-terms"
    skill = "expressions"
    kind = AnswerType.EXPRESSION
    form = "simplified"
    title = "Simplify by collecting like terms"
    base = -0.7
    rules = (
        Rule("combine-unlike", "$x$-terms and number terms are unlike terms: collect the $x$-terms and the numbers "
             "separately.", lambda p: poly([(p["a"] + p["b"] + p["c"] + p["d"], "x")])
             if p["a"] + p["b"] + p["c"] + p["d"] else None),
        Rule("dropped-sign", "The sign in front of a term belongs to it: $- 3x$ means take away $3x$.",
             lambda p: poly([(abs(p["a"]) + abs(p["c"]), "x"), (abs(p["b"]) + abs(p["d"]), "")])
             if min(p["a"], p["b"], p["c"], p["d"]) < 0 else None),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, b, c, d = (rng.randint(1, 9) for _ in range(4))
        if level >= 2:
            c, d = (-c, d) if rng.random() < 0.5 else (c, -d)
        if level == 3:
            a, d = -a, -d
        if a + c == 0 or b + d == 0:
            raise Resample
        return {"level": level, "a": a, "b": b, "c": c, "d": d}

    def answer(self, p: Params) -> Value:
        return poly([(p["a"] + p["c"], "x"), (p["b"] + p["d"], "")])

    def _question(self, p: Params) -> str:
        return poly([(p["a"], "x"), (p["b"], ""), (p["c"], "x"), (p["d"], "")], texed=True)

    def statement(self, p: Params) -> str:
        return f"Simplify ${self._question(p)}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        return ("Collect the $x$-terms together and the numbers together; each term keeps the sign in front of it.",
                f"The $x$-terms are ${poly([(p['a'], 'x'), (p['c'], 'x')], texed=True)}$ and the numbers are "
                f"${poly([(p['b'], ''), (p['d'], '')], texed=True, keep_zero=True)}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, c, d = p["a"], p["b"], p["c"], p["d"]
        return (f"$x$-terms: ${poly([(a, 'x'), (c, 'x')], texed=True)} = {poly([(a + c, 'x')], texed=True)}$.",
                f"Numbers: ${poly([(b, ''), (d, '')], texed=True)} = {b + d}$.",
                f"So ${self._question(p)} = {poly([(a + c, 'x'), (b + d, '')], texed=True)}$.")

    def features(self, p: Params) -> Features:
        nums = [p["a"], p["b"], p["c"], p["d"]]
        return Features(steps=3, variables=2, simplify=1, **number_features(nums)
                        | {"answer_negative": float(p["a"] + p["c"] < 0 or p["b"] + p["d"] < 0)})


@register
class ExpandBrackets(Template):
    id = "expr-distribute"
    skill = "expressions"
    kind = AnswerType.EXPRESSION
    form = "simplified"
    title = "Expand a bracket"
    base = -0.5
    rules = (
        Rule("first-term-only", "Multiply every term inside the bracket by the number outside: "
             "$a(b + c) = ab + ac$.", lambda p: poly([(p["a"] * p["b"], "x"), (p["c"], "")])),
        Rule("dropped-sign", "Multiply the signs too: a negative times a negative is positive, and a negative "
             "times a positive is negative.",
             lambda p: poly([(p["a"] * p["b"], "x"), (-p["a"] * p["c"], "")]) if p["a"] < 0 else None),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, b, c = rng.randint(2, 9), rng.randint(1, 6), rng.randint(1, 9)
        if level >= 2:
            c = -c
        if level == 3:
            a = -a
            c = c if rng.random() < 0.5 else -c
        return {"level": level, "a": a, "b": b, "c": c}

    def answer(self, p: Params) -> Value:
        return poly([(p["a"] * p["b"], "x"), (p["a"] * p["c"], "")])

    def _question(self, p: Params) -> str:
        return f"{p['a']}({poly([(p['b'], 'x'), (p['c'], '')], texed=True)})"

    def statement(self, p: Params) -> str:
        return f"Expand ${self._question(p)}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        return (f"Multiply each term inside the bracket by ${p['a']}$.",
                f"${p['a']} \\times {poly([(p['b'], 'x')], texed=True)}$ and ${p['a']} \\times {texp(p['c'])}$; "
                "watch the signs.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, c = p["a"], p["b"], p["c"]
        return (f"${self._question(p)} = {a} \\times {poly([(b, 'x')], texed=True)} + {texp(a)} \\times {texp(c)}$.",
                f"$= {poly([(a * b, 'x'), (a * c, '')], texed=True)}$.")

    def features(self, p: Params) -> Features:
        return Features(steps=2, variables=1, **number_features([p["a"], p["b"], p["c"]])
                        | {"answer_negative": float(p["a"] * p["c"] < 0)})


@register
class SubstituteLinear(Template):
    id = "eval-linear"
    skill = "substitution"
    kind = AnswerType.NUMBER
    title = "Substitute a value into a linear expression"
    base = -1.0
    rules = (
        Rule("concatenate", "$3x$ means $3 \\times x$: when $x = 4$ it is $12$, not $34$.",
             lambda p: F(int(f"{p['a']}{p['v']}") + p["b"]) if p["a"] > 0 and 1 <= p["v"] <= 9 else None),
        Rule("dropped-sign", "Keep the sign when you substitute a negative number; brackets help: $3 \\times (-4)$.",
             lambda p: F(p["a"] * abs(p["v"]) + p["b"]) if p["v"] < 0 else None),
        Rule("add-instead", "A number next to a letter means multiply: $ax$ is $a \\times x$, not $a + x$.",
             lambda p: F(p["a"] + p["v"] + p["b"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, b = rng.randint(2, 9), rng.choice([n for n in range(-12, 13) if n])
        v = rng.randint(1, 9) if level == 1 else -rng.randint(1, 9)
        if level == 3:
            a = -a
        return {"level": level, "a": a, "b": b, "v": v}

    def answer(self, p: Params) -> Value:
        return F(p["a"] * p["v"] + p["b"])

    def statement(self, p: Params) -> str:
        return f"Find the value of ${poly([(p['a'], 'x'), (p['b'], '')], texed=True)}$ when $x = {p['v']}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        return (f"Replace $x$ with ${texp(p['v'])}$: ${p['a']}x$ means ${p['a']} \\times x$.",
                f"${p['a']} \\times {texp(p['v'])} = {p['a'] * p['v']}$; now add ${texp(p['b'])}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b, v = p["a"], p["b"], p["v"]
        return (f"${a} \\times {texp(v)} {'+' if b > 0 else '-'} {abs(b)} = {a * v} {'+' if b > 0 else '-'} {abs(b)}$.",
                f"$= {a * v + b}$.")

    def features(self, p: Params) -> Features:
        return Features(steps=2, variables=1, **number_features([p["a"], p["b"], p["v"]], self.answer(p)))


@register
class SubstituteSquare(Template):
    id = "eval-square"
    skill = "substitution"
    kind = AnswerType.NUMBER
    title = "Substitute a value into an expression with a square"
    base = -0.4
    rules = (
        Rule("double-not-square", "$x^2$ means $x \\times x$, not $2 \\times x$.",
             lambda p: F(p["a"] * 2 * p["v"] + p["c"])),
        Rule("square-the-product", "Only $x$ is squared in $ax^2$: square $x$ first, then multiply by $a$.",
             lambda p: F((p["a"] * p["v"]) ** 2 + p["c"]) if abs(p["a"]) != 1 else None),
        Rule("negative-square", "The square of a negative number is positive: $(-4)^2 = 16$.",
             lambda p: F(-p["a"] * p["v"] ** 2 + p["c"]) if p["v"] < 0 else None),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        a, c = rng.randint(2, 5), rng.choice([n for n in range(-10, 11) if n])
        v = rng.randint(1, 6) if level == 1 else -rng.randint(1, 6)
        if level == 3:
            a = rng.choice([-1, -2, -3, 1])
        return {"level": level, "a": a, "c": c, "v": v}

    def answer(self, p: Params) -> Value:
        return F(p["a"] * p["v"] ** 2 + p["c"])

    def statement(self, p: Params) -> str:
        return f"Find the value of ${poly([(p['a'], 'x^2'), (p['c'], '')], texed=True)}$ when $x = {p['v']}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        v = p["v"]
        return ("Work out the square first, then multiply, then add.",
                f"${texp(v)}^2 = {texp(v)} \\times {texp(v)} = {v * v}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, c, v = p["a"], p["c"], p["v"]
        return (f"${texp(v)}^2 = {v * v}$.", f"${a} \\times {v * v} = {a * v * v}$.",
                f"${a * v * v} {'+' if c > 0 else '-'} {abs(c)} = {a * v * v + c}$.")

    def features(self, p: Params) -> Features:
        return Features(steps=3, variables=1, **number_features([p["a"], p["c"], p["v"]], self.answer(p)))
