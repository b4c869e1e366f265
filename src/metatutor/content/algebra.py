"""Equivalence and written form of parsed answers, bounded in time.

Two expressions are equivalent when their difference is zero as a rational function:
* small polynomials (degree at most `EXACT_DEGREE`, at most `EXACT_TERMS` terms once expanded) are
  compared exactly with sympy (`expand`);
* larger ones, and rational functions (a variable in a denominator), are evaluated at random points modulo the prime 2^61 - 1 (Schwartz–Zippel: a non-zero
  rational function of degree d vanishes at a random point with probability at most d / p, so
  `POINTS` points leave an error probability below 10^-30). The points come from the operating
  system's random source, so nobody can craft an answer for known points.

Equations and inequalities compare by solution set: `a op b` becomes `a - b op 0` and two relations
are equivalent when one difference is a constant multiple k of the other (k > 0 keeps the sign of an
inequality, k < 0 flips it).
"""

from __future__ import annotations

import random
from fractions import Fraction
from functools import lru_cache
from math import gcd
from typing import Any

import sympy

from metatutor.content.answers import (
    FLIP,
    Add,
    Div,
    Mul,
    Neg,
    Node,
    Num,
    Pow,
    Rel,
    Tree,
    UnreadableAnswer,
    Var,
    degree,
    evaluate,
    evaluate_mod,
    free_vars,
    terms_bound,
    to_text,
)

PRIME = 2**61 - 1
POINTS = 3
EXACT_DEGREE = 16
EXACT_TERMS = 400
_system = random.SystemRandom()


def to_sympy(node: Node) -> Any:
    """The sympy expression of a bounded tree (built node by node; nothing is parsed or evaluated as code)."""
    if isinstance(node, Num):
        return sympy.Rational(node.value.numerator, node.value.denominator)
    if isinstance(node, Var):
        return sympy.Symbol(node.name)
    if isinstance(node, Add):
        return sympy.Add(*(to_sympy(t) for t in node.terms))
    if isinstance(node, Neg):
        return -to_sympy(node.arg)
    if isinstance(node, Mul):
        return sympy.Mul(*(to_sympy(f) for f in node.factors))
    if isinstance(node, Div):
        return to_sympy(node.num) * sympy.Pow(to_sympy(node.den), -1)
    return sympy.Pow(to_sympy(node.base), sympy.Integer(node.exp))


@lru_cache(maxsize=1024)
def _expanded(node: Node) -> Any:
    """The expanded sympy polynomial of a small tree (cached: a key is compared with many answers)."""
    return sympy.expand(to_sympy(node))


def _small(*nodes: Node) -> bool:
    return all(degree(n) <= EXACT_DEGREE and terms_bound(n) <= EXACT_TERMS for n in nodes)


def _has_variable_denominator(node: Node) -> bool:
    if isinstance(node, Div):
        return bool(free_vars(node.den)) or _has_variable_denominator(node.num)
    if isinstance(node, Pow):
        return (node.exp < 0 and bool(free_vars(node.base))) or _has_variable_denominator(node.base)
    if isinstance(node, Add | Mul):
        return any(_has_variable_denominator(c) for c in (node.terms if isinstance(node, Add) else node.factors))
    if isinstance(node, Neg):
        return _has_variable_denominator(node.arg)
    return False


def equivalent(a: Node, b: Node) -> bool:
    """Whether two expressions are equal as rational functions (numbers: exactly equal)."""
    names = sorted(free_vars(a) | free_vars(b))
    if not names:
        try:
            return evaluate(a) == evaluate(b)
        except UnreadableAnswer:
            return False
    if _small(a, b) and not (_has_variable_denominator(a) or _has_variable_denominator(b)):
        return bool(sympy.expand(_expanded(a) - _expanded(b)) == 0)
    agreed = 0
    for _ in range(20 * POINTS):
        point = {n: _system.randrange(PRIME) for n in names}
        va, vb = evaluate_mod(a, point, PRIME), evaluate_mod(b, point, PRIME)
        if va is None or vb is None:
            continue  # a denominator vanishes here: try another point
        if va != vb:
            return False
        agreed += 1
        if agreed == POINTS:
            return True
    raise UnreadableAnswer("could not find points where the answer is defined")


def _difference(rel: Rel) -> tuple[Node, str]:
    """`lhs - rhs` and the operator, with > and >= turned into < and <=."""
    if rel.op in (">", ">="):
        return Add((rel.rhs, Neg(rel.lhs))), FLIP[rel.op]
    return Add((rel.lhs, Neg(rel.rhs))), rel.op


def relation_equivalent(a: Rel, b: Rel) -> bool:
    """Whether two equations or inequalities have the same solutions (one difference is a constant
    multiple of the other, with the right sign for an inequality)."""
    da, opa = _difference(a)
    db, opb = _difference(b)
    if opa != opb:
        return False
    names = sorted(free_vars(da) | free_vars(db))
    rng = random.Random(0)
    for _ in range(50):
        point = {n: Fraction(rng.randint(-9, 9)) for n in names}
        try:
            va, vb = evaluate(da, point), evaluate(db, point)
        except UnreadableAnswer:
            continue
        if vb == 0:
            if va != 0:
                return False
            continue
        k = va / vb
        if k == 0 or (opa != "=" and k < 0):
            return False
        return equivalent(da, Mul((Num(k), db)))
    return equivalent(da, Num(Fraction(0))) and equivalent(db, Num(Fraction(0)))


def normalized(tree: Tree) -> str:
    """A canonical text of a tree: the exact value of a number, sympy's expanded form of a small polynomial,
    the expression as written otherwise, `lhs op rhs` for a relation."""
    if isinstance(tree, Rel):
        return f"{normalized(tree.lhs)} {tree.op} {normalized(tree.rhs)}"
    if not free_vars(tree):
        try:
            return fraction_text(evaluate(tree))
        except UnreadableAnswer:
            return "undefined"
    if _small(tree) and not _has_variable_denominator(tree):
        return sympy.sstr(_expanded(tree))[:1000]
    return to_text(tree)[:1000]  # large: as written (printing it through sympy costs more than grading)


def fraction_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def lowest_terms(node: Node) -> bool | None:
    """For a fraction as written (`6/8`, `-3/4`, `\\frac{3}{4}`, `1 1/2`, `5`): whether it is in lowest terms;
    None when the answer is not written as one fraction (a decimal, a sum, ...)."""
    if isinstance(node, Neg):
        return lowest_terms(node.arg)
    if isinstance(node, Num):
        return {"int": True, "mixed": True, "mixed-unreduced": False}.get(node.written)
    if isinstance(node, Div):
        num, den = _signed_int(node.num), _signed_int(node.den)
        if num is None or den is None or den == 0:
            return None
        return abs(den) != 1 and gcd(num, den) == 1
    return None


def _signed_int(node: Node) -> int | None:
    if isinstance(node, Neg):
        inner = _signed_int(node.arg)
        return None if inner is None else -inner
    if isinstance(node, Num) and node.written == "int":
        return int(node.value)
    return None


def simplified(node: Node) -> bool:
    """Like terms collected and no brackets left: a sum of terms `c·x^a·y^b` (a coefficient written as
    a number or a fraction in lowest terms, each variable at most once), no two with the same variables
    and powers, no zero terms."""
    terms = node.terms if isinstance(node, Add) else (node,)
    seen: set[tuple[tuple[str, int], ...]] = set()
    for term in terms:
        key = _monomial(term)
        if key is None or key in seen:
            return False
        seen.add(key)
    return True


def _monomial(term: Node) -> tuple[tuple[str, int], ...] | None:
    while isinstance(term, Neg):
        term = term.arg
    if isinstance(term, Div):  # `3x/4`, `x/2`
        den = _signed_int(term.den)
        if den is None or den in (0, 1, -1):
            return None
        term = term.num
    factors = term.factors if isinstance(term, Mul) else (term,)
    powers: dict[str, int] = {}
    numbers = 0
    for f in factors:
        if isinstance(f, Num) or (isinstance(f, Div) and lowest_terms(f)):
            numbers += 1
            if isinstance(f, Num) and f.value == 0:
                return None
        elif isinstance(f, Var):
            if f.name in powers:
                return None
            powers[f.name] = 1
        elif isinstance(f, Pow) and isinstance(f.base, Var) and f.exp not in (0, 1):
            if f.base.name in powers:
                return None
            powers[f.base.name] = f.exp
        else:
            return None
    if numbers > 1:
        return None
    return tuple(sorted(powers.items()))


def solved(rel: Rel) -> bool:
    """A variable alone on one side, a plain number (or one fraction) on the other."""
    for var, other in ((rel.lhs, rel.rhs), (rel.rhs, rel.lhs)):
        if isinstance(var, Var) and not free_vars(other):
            number = other.arg if isinstance(other, Neg) else other
            if isinstance(number, Num) or lowest_terms(number) is not None:
                return True
    return False
