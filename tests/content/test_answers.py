from __future__ import annotations

from fractions import Fraction

import pytest

from metatutor.content.algebra import equivalent, lowest_terms, relation_equivalent, simplified, solved
from metatutor.content.answers import (
    MAX_DEPTH,
    Div,
    Mul,
    Num,
    Pow,
    Rel,
    UnreadableAnswer,
    Var,
    degree,
    evaluate,
    height,
    parse,
)


@pytest.mark.parametrize(("text", "value"), [
    ("3/4", Fraction(3, 4)), ("-3/4", Fraction(-3, 4)), ("0.75", Fraction(3, 4)), (".75", Fraction(3, 4)),
    ("1 1/2", Fraction(3, 2)), ("-1 1/2", Fraction(-3, 2)), ("−3/4", Fraction(-3, 4)), (r"\frac{3}{4}", Fraction(3, 4)),
    (r"\frac34", Fraction(3, 4)), (r"\dfrac{-3}{4}", Fraction(-3, 4)), (r"1\frac{1}{2}", Fraction(3, 2)),
    (r"-\frac{3}{4}", Fraction(-3, 4)), (r"\left(\frac{1}{2}\right)", Fraction(1, 2)), ("2^3", Fraction(8)),
    ("2**3", Fraction(8)), ("-3^2", Fraction(-9)), ("(-3)^2", Fraction(9)), ("2^-2", Fraction(1, 4)),
    ("2*-3", Fraction(-6)), ("6/-2", Fraction(-3)), ("2×3", Fraction(6)), ("6÷4", Fraction(3, 2)),
    (r"2\cdot 3", Fraction(6)), (r"2\times3", Fraction(6)), (r"6\div 3", Fraction(2)), ("2²", Fraction(4)),
    ("{2+1}^{2}", Fraction(9)), (r"1\,000 - 999", Fraction(1)), ("0.1+0.2", Fraction(3, 10)),
])
def test_numbers_in_the_forms_learners_type(text: str, value: Fraction) -> None:
    tree = parse(text)
    assert not isinstance(tree, Rel) and evaluate(tree) == value


def test_expressions_in_the_forms_learners_type() -> None:
    two_x_plus_3 = parse("2x+3")
    for text in ("2*x + 3", "3 + 2x", r"2\cdot x+3", "x+x+3", r"\left(2x\right)+3", "2(x+1)+1", "(x+1)*2+1",
                 "x*2+3", "4x/2+3", r"\frac{4x}{2}+3", ["y", "2x+3"][1]):
        tree = parse(text)
        assert not isinstance(tree, Rel) and equivalent(tree, two_x_plus_3), text  # type: ignore[arg-type]
    assert not equivalent(parse("2x+4"), two_x_plus_3)  # type: ignore[arg-type]
    assert parse("x^2") == parse("x**2") == Pow(Var("x"), 2)
    assert parse("2(x+1)") == parse("2*(x+1)")
    assert parse("x(x-1)") == Mul((Var("x"), parse("x-1")))  # type: ignore[arg-type]


def test_relations() -> None:
    a, b = parse("x < -2"), parse("-2 > x")
    assert isinstance(a, Rel) and isinstance(b, Rel) and relation_equivalent(a, b)
    assert relation_equivalent(a, parse("-x > 2"))  # type: ignore[arg-type]
    assert relation_equivalent(parse(r"x \le 3"), parse("2x <= 6"))  # type: ignore[arg-type]
    assert not relation_equivalent(a, parse("x > -2"))  # type: ignore[arg-type]
    assert not relation_equivalent(a, parse("x <= -2"))  # type: ignore[arg-type]
    assert relation_equivalent(parse("x = 4"), parse("2x = 8"))  # type: ignore[arg-type]
    assert solved(a) and solved(b) and not solved(parse("-x > 2"))  # type: ignore[arg-type]


def test_written_forms() -> None:
    assert lowest_terms(parse("3/4")) and lowest_terms(parse(r"\frac{-3}{4}")) and lowest_terms(parse("1 1/2"))  # type: ignore[arg-type]
    assert lowest_terms(parse("6/8")) is False and lowest_terms(parse("1 2/4")) is False  # type: ignore[arg-type]
    assert lowest_terms(parse("0.75")) is None and lowest_terms(parse("1/2+1/4")) is None  # type: ignore[arg-type]
    assert simplified(parse("6x^7")) and simplified(parse("3 + 2x")) and simplified(parse("x/2 + 1"))  # type: ignore[arg-type]
    for text in ("2(x+1)", "x + x", "x^3*x^4", "2*3x", "3x+2-1", "0x+1"):
        assert not simplified(parse(text)), text  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [
    "9**9**9**9", "10^10^10", "2^(10^10)", "x^99999", "x^0.5", "x^(1/2)", "x^y", "((x+1)^100)^100", "1" * 40,
    "(" * (MAX_DEPTH + 5) + "x" + ")" * (MAX_DEPTH + 5), "-" * (MAX_DEPTH + 5) + "1", "x" * 1025, "1/", "x==2",
    "x<y<3", "100000!", r"\sqrt{2}", r"\mathrm{x}", "", "   ", "2..5", "3 4", "\x00", "é", r"\frac{1}",
    "50%", "(2^100)^100",
])
def test_refused_quickly(text: str) -> None:
    with pytest.raises(UnreadableAnswer):
        parse(text)


def test_percent_only_where_allowed() -> None:
    assert evaluate(parse("25%", percent=True)) == 25  # type: ignore[arg-type]
    assert evaluate(parse(r"25\%", percent=True)) == 25  # type: ignore[arg-type]


def test_size_bounds() -> None:
    assert degree(parse("(x+1)^3*(x-1)")) == 4  # type: ignore[arg-type]
    assert degree(parse("1/(x+1) + 1/(x+2)")) == 3  # type: ignore[arg-type]
    assert height(parse("10^50")) >= 51  # type: ignore[arg-type]
    assert isinstance(parse("\\frac{x}{2}"), Div) and parse("7") == Num(Fraction(7))


def test_large_expressions_compare_by_random_points() -> None:
    """Degree 60 is past exact expansion; the modular check still tells equal from unequal."""
    a = parse("*".join(f"(x-{k})" for k in range(60)))
    b = parse("*".join(f"(x-{k})" for k in reversed(range(60))))
    c = parse("*".join(f"(x-{k})" for k in range(60)) + "+1")
    assert equivalent(a, b) and not equivalent(a, c)  # type: ignore[arg-type]
    assert equivalent(parse("1/(x+1) + 1/(x-1)"), parse("2x/(x^2-1)"))  # type: ignore[arg-type]


def test_plain_printer_round_trips() -> None:
    from metatutor.content.answers import to_text

    for text in ("2(x+1)", "-(x+1)^2", "x/(y+1)", "(1/3)^2", "x^-2", "a-b-(c+d)", "2*-3", r"\frac{x+1}{2y}",
                 "x < -3/2"):
        tree = parse(text)
        assert parse(to_text(tree)) == tree, text
