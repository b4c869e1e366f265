"""Writing numbers and expressions in LaTeX (for statements) and in the typed syntax (for keys)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from metatutor.content.templates import decimal_text

F = Fraction
TEX_OP = {"<": "<", ">": ">", "<=": r"\le", ">=": r"\ge", "=": "="}
FLIP_OP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "="}
WORD_OP = {"<": "less than", ">": "greater than", "<=": "less than or equal to", ">=": "greater than or equal to"}


def tex(v: Fraction | int) -> str:
    """`5`, `-5`, `\\frac{3}{4}`, `-\\frac{3}{4}`."""
    v = F(v)
    if v.denominator == 1:
        return str(v.numerator)
    sign = "-" if v < 0 else ""
    return f"{sign}\\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"


def texp(v: Fraction | int) -> str:
    """`tex(v)`, in brackets when negative (an operand after an operator)."""
    return f"({tex(v)})" if v < 0 else tex(v)


def frac(num: int, den: int) -> str:
    """A fraction exactly as written, not reduced: `\\frac{6}{8}`."""
    sign = "-" if (num < 0) != (den < 0) and num != 0 else ""
    return f"{sign}\\frac{{{abs(num)}}}{{{abs(den)}}}"


def dec(v: Fraction | int) -> str:
    return decimal_text(F(v))


def decp(v: Fraction | int) -> str:
    return f"({dec(v)})" if v < 0 else dec(v)


def plain(v: Fraction | int) -> str:
    """The typed form: `5`, `-3/4`."""
    v = F(v)
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def _coef(c: Fraction, mono: str, texed: bool) -> str:
    size = abs(c)
    if mono and size == 1:
        return ""
    if size.denominator == 1:
        return str(size.numerator)
    return f"\\frac{{{size.numerator}}}{{{size.denominator}}}" if texed else f"{size.numerator}/{size.denominator}"


def poly(terms: Sequence[tuple[Fraction | int, str]], *, texed: bool = False, keep_zero: bool = False) -> str:
    """`[(3, "x"), (-2, "")]` -> `3x - 2`; monomials like `x`, `x^2`, `xy`; zero terms dropped unless `keep_zero`."""
    out: list[str] = []
    for c, mono in terms:
        c = F(c)
        if c == 0 and not keep_zero:
            continue
        body = _coef(c, mono, texed) + mono
        if texed and mono.startswith("x^") and len(mono) > 3:
            body = _coef(c, mono, texed) + f"x^{{{mono[2:]}}}"
        if not out:
            out.append(("-" if c < 0 else "") + body)
        else:
            out.append((" - " if c < 0 else " + ") + body)
    return "".join(out) or "0"


def linear(a: Fraction | int, b: Fraction | int, *, var: str = "x", texed: bool = False) -> str:
    """`a·x + b`."""
    return poly([(a, var), (b, "")], texed=texed)


def relation(var: str, op: str, value: Fraction | int, *, texed: bool = False) -> str:
    """`x < -2` (typed) or `x < -2` / `x \\ge \\frac{5}{2}` (LaTeX)."""
    return f"{var} {TEX_OP[op]} {tex(value)}" if texed else f"{var} {op} {plain(value)}"
