"""Decimals and percentages."""

from __future__ import annotations

import random

from metatutor.content.features import Features, carries, number_features
from metatutor.content.items import AnswerType
from metatutor.content.maths.notation import F, dec
from metatutor.content.templates import Params, Resample, Rule, Template, Value, register


def fixed(n: int, places: int) -> str:
    """The whole number n / 10^places written with exactly `places` decimals: fixed(270, 2) = '2.70'."""
    if places == 0:
        return str(n)
    digits = str(abs(n)).rjust(places + 1, "0")
    return ("-" if n < 0 else "") + digits[:-places] + "." + digits[-places:]


def _no_carry_sum(a: int, b: int) -> int:
    """Column addition that drops every carry."""
    out, place = 0, 1
    while a or b:
        out += (a % 10 + b % 10) % 10 * place
        a, b, place = a // 10, b // 10, place * 10
    return out


@register
class AddDecimals(Template):
    id = "dec-add"
    skill = "decimals"
    kind = AnswerType.NUMBER
    title = "Add decimals with different numbers of decimal places"
    base = -1.0
    rules = (
        Rule("misaligned-digits", "Line up the decimal points, not the last digits: fill the shorter number with "
             "zeros so both have the same number of decimal places.",
             lambda p: F(p["A"] + p["B"], 10 ** max(p["da"], p["db"])) if p["da"] != p["db"] else None),
        Rule("no-carry", "When a column adds up to 10 or more, write the units digit and carry the ten into the "
             "next column on the left.",
             lambda p: F(_no_carry_sum(*_aligned(p)), 10 ** max(p["da"], p["db"])) if carries(*_aligned(p)) else None),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        da, db = (rng.choice([(1, 1), (2, 2)]), rng.choice([(1, 2), (2, 1)]), rng.choice([(1, 2), (2, 1), (2, 3)]))[level - 1]
        top = (10, 20, 100)[level - 1]
        a, b = rng.randint(1, top * 10**da - 1), rng.randint(1, top * 10**db - 1)
        p = {"level": level, "A": a, "B": b, "da": da, "db": db}
        if a % 10 == 0 or b % 10 == 0 or (level == 1 and carries(*_aligned(p))) or (level == 3 and not carries(*_aligned(p))):
            raise Resample
        return p

    def answer(self, p: Params) -> Value:
        return F(p["A"], 10 ** p["da"]) + F(p["B"], 10 ** p["db"])

    def _x(self, p: Params) -> tuple[str, str]:
        return fixed(p["A"], p["da"]), fixed(p["B"], p["db"])

    def statement(self, p: Params) -> str:
        x, y = self._x(p)
        return f"Work out ${x} + {y}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        m = max(p["da"], p["db"])
        a, b = _aligned(p)
        return ("Write the numbers in columns with the decimal points lined up.",
                f"With {m} decimal places each: ${fixed(a, m)} + {fixed(b, m)}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        m = max(p["da"], p["db"])
        a, b = _aligned(p)
        x, y = self._x(p)
        line = ("Both numbers have the same number of decimal places, so the decimal points line up."
                if p["da"] == p["db"] else f"Line up the decimal points: ${x} = {fixed(a, m)}$ and ${y} = {fixed(b, m)}$.")
        total = fixed(a + b, m)
        exact = dec(F(a + b, 10**m))
        return (line, f"Add column by column: ${fixed(a, m)} + {fixed(b, m)} = {total}$"
                + (f", which is ${exact}$." if exact != total else "."))

    def features(self, p: Params) -> Features:
        ans = F(p["A"], 10 ** p["da"]) + F(p["B"], 10 ** p["db"])
        f = number_features([F(p["A"], 10 ** p["da"]), F(p["B"], 10 ** p["db"])], ans)
        f["magnitude"] = number_features([max(*_aligned(p))])["magnitude"]
        return Features(steps=2, unlike_denominators=int(p["da"] != p["db"]), regrouping=carries(*_aligned(p)), **f)


def _aligned(p: Params) -> tuple[int, int]:
    m = max(p["da"], p["db"])
    return p["A"] * 10 ** (m - p["da"]), p["B"] * 10 ** (m - p["db"])


@register
class MultiplyDecimals(Template):
    id = "dec-mul"
    skill = "decimals"
    kind = AnswerType.NUMBER
    title = "Multiply decimals"
    base = -0.6
    rules = (
        Rule("decimal-places", "Count the decimal places in both numbers and add them: the answer has that many "
             "decimal places.", lambda p: F(p["A"] * p["B"], 10 ** max(p["da"], p["db"]))
             if min(p["da"], p["db"]) >= 1 else None),
        Rule("ignore-decimal", "You multiplied the digits but did not put the decimal point back. The answer has as "
             "many decimal places as the two numbers together.", lambda p: F(p["A"] * p["B"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        da, db = ((1, 0), (1, 1), (2, 1))[level - 1]
        a = rng.randint(2, 99 if level == 1 else 30)
        b = rng.randint(2, 9)
        if a % 10 == 0:
            raise Resample
        return {"level": level, "A": a, "B": b, "da": da, "db": db}

    def answer(self, p: Params) -> Value:
        return F(p["A"] * p["B"], 10 ** (p["da"] + p["db"]))

    def statement(self, p: Params) -> str:
        return f"Work out ${fixed(p['A'], p['da'])} \\times {fixed(p['B'], p['db'])}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        places = p["da"] + p["db"]
        return (f"Multiply without the decimal points first: ${p['A']} \\times {p['B']}$.",
                f"The two numbers have {places} decimal place{'s' if places > 1 else ''} between them, so the answer "
                f"has {places} too.")

    def solution(self, p: Params) -> tuple[str, ...]:
        places = p["da"] + p["db"]
        ab = p["A"] * p["B"]
        written, exact = fixed(ab, places), dec(F(ab, 10**places))
        return (f"${p['A']} \\times {p['B']} = {ab}$.",
                f"The question has ${p['da']} + {p['db']} = {places}$ decimal place{'s' if places > 1 else ''}, so "
                f"${fixed(p['A'], p['da'])} \\times {fixed(p['B'], p['db'])} = {written}"
                + (f" = {exact}$." if exact != written else "$."))

    def features(self, p: Params) -> Features:
        x, y = F(p["A"], 10 ** p["da"]), F(p["B"], 10 ** p["db"])
        f = number_features([x, y], x * y) | {"magnitude": number_features([p["A"], p["B"]])["magnitude"]}
        return Features(steps=2, regrouping=int(p["A"] > 9), unlike_denominators=int(p["da"] != p["db"]), **f)


@register
class CompareDecimals(Template):
    id = "dec-compare"
    skill = "decimals"
    kind = AnswerType.CHOICE
    title = "Find the largest of four decimals"
    base = -0.9
    rules = (
        Rule("longer-is-larger", "A decimal with more digits is not necessarily larger: compare the tenths first, "
             "then the hundredths, then the thousandths.", lambda p: fixed(p["l"], 3)),
        Rule("shorter-is-larger", "A decimal with fewer digits is not necessarily larger: compare the tenths first, "
             "then the hundredths. Writing the numbers with the same number of decimal places helps.",
             lambda p: fixed(p["s"], 1)),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        m = rng.randint(21, 98)
        tenths = m // 10
        if m % 10 == 0:
            raise Resample
        spread = (9, 3, 1)[level - 1]  # how far the tenths of the others may be from the largest's
        s = rng.randint(max(1, tenths - spread), tenths)
        l_tenths = rng.randint(max(0, tenths - spread), tenths)
        ell = l_tenths * 100 + rng.randint(1, 99)
        g = rng.randint(max(1, (tenths - spread) * 10), m - 1)
        values = [F(s, 10), F(m, 100), F(ell, 1000), F(g, 100)]
        if (ell % 10 == 0 or g % 10 == 0 or ell <= m or len(set(values)) < 4 or max(values) != F(m, 100)):
            raise Resample
        return {"level": level, "s": s, "m": m, "l": ell, "g": g}

    def answer(self, p: Params) -> Value:
        return fixed(p["m"], 2)

    def fillers(self, p: Params) -> tuple[str, ...]:
        return (fixed(p["g"], 2),)

    def statement(self, p: Params) -> str:
        return "Which of these numbers is the largest?"

    def hints(self, p: Params) -> tuple[str, ...]:
        return ("Compare the tenths digits first; only if they are equal, compare the hundredths.",
                "Write every number with three decimal places, e.g. "
                f"${fixed(p['s'], 1)} = {fixed(p['s'] * 100, 3)}$, then compare them as whole numbers of thousandths.")

    def solution(self, p: Params) -> tuple[str, ...]:
        vals = sorted([p["s"] * 100, p["m"] * 10, p["l"], p["g"] * 10], reverse=True)
        return ("With three decimal places: " + ", ".join(f"${fixed(v, 3)}$" for v in vals) + ".",
                f"The largest is ${fixed(p['m'] * 10, 3)} = {fixed(p['m'], 2)}$.")

    def features(self, p: Params) -> Features:
        # the closer the tenths digits (higher level), the more digit positions must be compared
        return Features(steps=1 + p["level"], choices=4, unlike_denominators=1, non_integers=1)


@register
class PercentOf(Template):
    id = "pct-of"
    skill = "percentages"
    kind = AnswerType.NUMBER
    title = "Find a percentage of an amount"
    base = -0.8
    rules = (
        Rule("divide-by-percent", "You divided by the percentage. $p\\%$ means $p$ out of every $100$: divide the "
             "amount by $100$, then multiply by $p$.", lambda p: F(p["n"], p["p"]) if p["p"] >= 10 else None),
        Rule("percent-to-decimal", "A percentage under 10 has a zero after the decimal point: "
             "$5\\% = 0.05$, not $0.5$.", lambda p: F(p["p"] * p["n"], 10) if p["p"] < 10 else None),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        pct = rng.choice(((10, 20, 25, 50), (5, 15, 30, 40, 60, 75), (2, 4, 8, 12, 35, 45, 120, 150))[level - 1])
        n = rng.randint(1, 10) * (20 if level < 3 else 10)
        return {"level": level, "p": pct, "n": n}

    def answer(self, p: Params) -> Value:
        return F(p["p"] * p["n"], 100)

    def statement(self, p: Params) -> str:
        return f"Work out ${p['p']}\\%$ of ${p['n']}$."

    def hints(self, p: Params) -> tuple[str, ...]:
        return (f"${p['p']}\\%$ means ${p['p']}$ out of every $100$, that is $\\frac{{{p['p']}}}{{100}}$.",
                f"Find $1\\%$ of ${p['n']}$ first: ${p['n']} \\div 100 = {dec(F(p['n'], 100))}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        one = F(p["n"], 100)
        return (f"$1\\%$ of ${p['n']}$ is ${p['n']} \\div 100 = {dec(one)}$.",
                f"So ${p['p']}\\%$ of ${p['n']}$ is ${p['p']} \\times {dec(one)} = {dec(one * p['p'])}$.")

    def features(self, p: Params) -> Features:
        ans = F(p["p"] * p["n"], 100)
        return Features(steps=2, **number_features([p["p"], p["n"]], ans)
                        | {"non_integers": float(p["p"] % 5 != 0 or p["p"] > 100)})


@register
class PercentChange(Template):
    id = "pct-change"
    skill = "percentages"
    kind = AnswerType.NUMBER
    title = "Increase or decrease an amount by a percentage"
    base = -0.3
    rules = (
        Rule("change-only", "You found the change. Now add it to the original amount for an increase, or take it "
             "away for a decrease.", lambda p: F(p["p"] * p["n"], 100)),
        Rule("add-percent-as-number", "You added (or took away) the number of the percentage itself. Work out the "
             "percentage of the amount first, then add or take it away.",
             lambda p: F(p["n"] + p["p"]) if p["v"] == 0 else F(p["n"] - p["p"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        pct = rng.choice(((10, 25, 50), (5, 15, 20, 30), (2, 4, 12, 35, 45))[level - 1])
        return {"level": level, "v": rng.randint(0, 1), "p": pct, "n": rng.randint(2, 15) * 20}

    def answer(self, p: Params) -> Value:
        sign = 1 if p["v"] == 0 else -1
        return F(p["n"] * (100 + sign * p["p"]), 100)

    def statement(self, p: Params) -> str:
        return f"{'Increase' if p['v'] == 0 else 'Decrease'} ${p['n']}$ by ${p['p']}\\%$."

    def hints(self, p: Params) -> tuple[str, ...]:
        return (f"First find ${p['p']}\\%$ of ${p['n']}$.",
                f"${p['p']}\\%$ of ${p['n']}$ is ${dec(F(p['p'] * p['n'], 100))}$; now "
                f"{'add it to' if p['v'] == 0 else 'take it away from'} ${p['n']}$.")

    def solution(self, p: Params) -> tuple[str, ...]:
        change = F(p["p"] * p["n"], 100)
        op = "+" if p["v"] == 0 else "-"
        return (f"${p['p']}\\%$ of ${p['n']}$ is ${p['n']} \\div 100 \\times {p['p']} = {dec(change)}$.",
                f"${p['n']} {op} {dec(change)} = {dec(self.number(p))}$.")

    def features(self, p: Params) -> Features:
        return Features(steps=3, **number_features([p["p"], p["n"]], self.answer(p))
                        | {"answer_negative": 0.0, "non_integers": float(p["p"] % 5 != 0)})


@register
class WhatPercent(Template):
    id = "pct-what-percent"
    skill = "percentages"
    kind = AnswerType.NUMBER
    unit = "%"
    title = "Write one amount as a percentage of another"
    base = -0.5
    rules = (
        Rule("fraction-not-percent", "You found the fraction (as a decimal). Multiply it by $100$ to get a "
             "percentage.", lambda p: F(p["a"], p["b"])),
        Rule("inverted", "You divided the wrong way round. The percentage of $B$ that $A$ is uses $A \\div B$.",
             lambda p: F(100 * p["b"], p["a"])),
    )

    def sample(self, rng: random.Random) -> Params:
        level = rng.randint(1, 3)
        b = rng.choice(((10, 20, 50, 100), (25, 40, 80, 200), (8, 16, 125, 250, 400))[level - 1])
        a = rng.randint(1, b - 1 if level < 3 else 2 * b)
        if (100 * a) % b or a == b:
            raise Resample
        return {"level": level, "a": a, "b": b}

    def answer(self, p: Params) -> Value:
        return F(100 * p["a"], p["b"])

    def statement(self, p: Params) -> str:
        return f"What percentage of ${p['b']}$ is ${p['a']}$?"

    def hints(self, p: Params) -> tuple[str, ...]:
        return (f"Write it as a fraction first: $\\frac{{{p['a']}}}{{{p['b']}}}$.",
                "Multiply the fraction by $100$ to turn it into a percentage.")

    def solution(self, p: Params) -> tuple[str, ...]:
        a, b = p["a"], p["b"]
        return (f"As a fraction: $\\frac{{{a}}}{{{b}}} = {dec(F(a, b))}$.",
                f"As a percentage: ${dec(F(a, b))} \\times 100 = {dec(F(100 * a, b))}\\%$.")

    def features(self, p: Params) -> Features:
        return Features(steps=2, **number_features([p["a"], p["b"]], self.answer(p))
                        | {"non_integers": float(F(p["a"], p["b"]) > 1)})
