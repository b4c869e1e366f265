"""The ways a learner may type an answer: equivalent written forms of a key (plain, LaTeX as MathLive
emits it, mixed numbers, reordered terms, unicode signs) and plausible wrong answers. The simulator
draws raw answers from here, and the property tests check that the grader accepts every form."""

from __future__ import annotations

import random
from fractions import Fraction

from metatutor.content.algebra import fraction_text
from metatutor.content.answers import FLIP, Add, Div, Mul, Neg, Node, Num, Pow, Rel, Tree, Var, evaluate, parse
from metatutor.content.items import LABELS, AnswerType, Part
from metatutor.content.templates import decimal_text, terminates


def _tex_fraction(v: Fraction, rng: random.Random) -> str:
    cmd = rng.choice([r"\frac", r"\frac", r"\dfrac"])
    body = f"{cmd}{{{abs(v.numerator)}}}{{{v.denominator}}}"
    if v >= 0:
        return body
    return rng.choice([f"-{body}", f"{cmd}{{-{abs(v.numerator)}}}{{{v.denominator}}}", f"−{body}"])


def _mixed(v: Fraction, rng: random.Random) -> str | None:
    if v.denominator == 1 or abs(v) < 1:
        return None
    whole, rest = divmod(abs(v.numerator), v.denominator)
    sign = "-" if v < 0 else ""
    if rng.random() < 0.5:
        return f"{sign}{whole} {rest}/{v.denominator}"
    return f"{sign}{whole}\\frac{{{rest}}}{{{v.denominator}}}"


def number_forms(v: Fraction, rng: random.Random, *, lowest: bool, decimals: bool, unit: str = "") -> list[str]:
    """Written forms of the value v: only fractions in lowest terms when `lowest`, decimals when allowed."""
    out = [fraction_text(v), fraction_text(v).replace("-", "−"), f" {fraction_text(v)} "]
    if v.denominator != 1:
        out += [_tex_fraction(v, rng), f"{'-' if v < 0 else ''}{abs(v.numerator)} / {v.denominator}",
                f"\\left({fraction_text(v)}\\right)"]
        if v < 0:
            out += [f"-({abs(v.numerator)}/{v.denominator})", f"({v.numerator})/{v.denominator}"]
        mixed = _mixed(v, rng)
        if mixed:
            out.append(mixed)
    else:
        out += [f"x = {v.numerator}", f"x={v.numerator}".replace("-", "−")]
        if v > 0:
            out.append(f"+{v.numerator}")
    if not lowest:
        k = rng.randint(2, 5)
        out.append(f"{v.numerator * k}/{v.denominator * k}")
        out.append(f"\\frac{{{v.numerator * k}}}{{{v.denominator * k}}}")
    if decimals and terminates(v):
        d = decimal_text(v)
        out += [d, d + ("0" if "." in d else ".0"), f"x = {d}"]
        if d.startswith("0."):
            out.append(d[1:])  # .75
    if unit == "%":
        out += [f"{fraction_text(v)}%", f"{decimal_text(v) if terminates(v) else fraction_text(v)}\\%"]
    return out


def render(tree: Tree, rng: random.Random, *, latex: bool = False) -> str:
    """The tree written out in a random but equivalent style (term order, ×/·/implicit products, ^ or **)."""
    style: dict[str, str | bool] = {"mul": rng.choice(["*", "", "", r" \cdot " if latex else " * "]), "pow": rng.choice(["^", "**"])
             if not latex else "^", "latex": latex, "shuffle": rng.random() < 0.5, "space": rng.random() < 0.5}
    if isinstance(tree, Rel):
        lhs, rhs, op = tree.lhs, tree.rhs, tree.op
        if rng.random() < 0.4:
            lhs, rhs, op = rhs, lhs, FLIP[op]
        if latex:
            op = {"<=": r"\le", ">=": r"\ge"}.get(op, op)
        elif rng.random() < 0.3:
            op = {"<=": "≤", ">=": "≥"}.get(op, op)
        return f"{_render(lhs, style, rng)} {op} {_render(rhs, style, rng)}"
    return _render(tree, style, rng)


def _render(node: Node, style: dict[str, str | bool], rng: random.Random) -> str:
    sp = " " if style["space"] else ""
    if isinstance(node, Num):
        v = node.value
        if v.denominator == 1:
            return str(v.numerator)
        if terminates(v) and node.written == "decimal":
            return decimal_text(v)
        return f"\\frac{{{v.numerator}}}{{{v.denominator}}}" if style["latex"] else f"{v.numerator}/{v.denominator}"
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Neg):
        inner = _render(node.arg, style, rng)
        return f"-({inner})" if isinstance(node.arg, Add) else f"-{inner}"
    if isinstance(node, Add):
        terms = list(node.terms)
        if style["shuffle"]:
            rng.shuffle(terms)
        out = ""
        for k, t in enumerate(terms):
            neg = isinstance(t, Neg)
            body = _render(t.arg if isinstance(t, Neg) else t, style, rng)
            if isinstance(t, Neg) and isinstance(t.arg, Add):
                body = f"({body})"
            out += (("-" if neg else "") if k == 0 else f"{sp}{'-' if neg else '+'}{sp}") + body
        return out
    if isinstance(node, Mul):
        parts: list[str] = []
        for k, f in enumerate(node.factors):
            text = _render(f, style, rng)
            if isinstance(f, Add | Neg) or (isinstance(f, Div) and k > 0 and not style["latex"]):
                text = f"({text})"
            if k == 0:
                parts.append(text)
                continue
            implicit = style["mul"] == "" and (text[0].isalpha() or text[0] in "(\\")
            parts.append(("" if implicit else str(style["mul"] or "*")) + text)
        return "".join(parts)
    if isinstance(node, Div):
        num, den = _render(node.num, style, rng), _render(node.den, style, rng)
        if style["latex"]:
            return f"\\frac{{{num}}}{{{den}}}"
        num = num if isinstance(node.num, Num | Var) else f"({num})"
        den = den if isinstance(node.den, Num | Var) else f"({den})"
        return f"{num}/{den}"
    assert isinstance(node, Pow)
    base = _render(node.base, style, rng)
    if not isinstance(node.base, Var | Num) or (isinstance(node.base, Num) and node.base.value.denominator != 1):
        base = f"({base})"
    exp = str(node.exp)
    if style["latex"]:
        return f"{base}^{{{exp}}}"
    return f"{base}{style['pow']}{exp if node.exp >= 0 else f'({exp})'}"


def equivalent_forms(part: Part, answer: str, rng: random.Random, *, strict: bool = True) -> list[str]:
    """Ways to type `answer` that grade the same on `part`; with `strict`, only forms that also satisfy the
    part's `form` (so a correct key stays correct), otherwise any form of the same value."""
    if part.kind == AnswerType.CHOICE:
        label = answer.strip().upper()
        return [label, label.lower(), f"({label})", f" {label}. ", part.choices[LABELS.index(label)]]
    tree = parse(answer, percent=part.unit == "%")
    if part.kind in (AnswerType.NUMBER, AnswerType.FRACTION):
        assert not isinstance(tree, Rel)
        lowest = strict and part.kind == AnswerType.FRACTION and part.form == "lowest"
        return number_forms(evaluate(tree), rng, lowest=lowest, decimals=not lowest, unit=part.unit)
    out = [answer, render(tree, rng), render(tree, rng), render(tree, rng, latex=True), render(tree, rng, latex=True)]
    return [t.replace("-", "−") if rng.random() < 0.2 else t for t in out]


def wrong_answer(part: Part, answer: str, rng: random.Random) -> str:
    """A plausible wrong answer for one box (not guaranteed to differ from every misconception's)."""
    if part.kind == AnswerType.CHOICE:
        label = answer.strip().upper()
        return rng.choice([x for x in LABELS[:len(part.choices)] if x != label])
    tree = parse(answer, percent=part.unit == "%")
    shift = rng.choice([1, 2, 3, 5, 10, -1, -2, -3, -7])
    if isinstance(tree, Rel):
        var, other = (tree.lhs, tree.rhs) if isinstance(tree.lhs, Var) else (tree.rhs, tree.lhs)
        op = tree.op if isinstance(tree.lhs, Var) else FLIP[tree.op]
        return f"{render(var, rng)} {op} {fraction_text(evaluate(other) + shift)}"
    if part.kind == AnswerType.EXPRESSION:
        return f"{answer} {'+' if shift > 0 else '-'} {abs(shift)}" if rng.random() < 0.7 else f"{abs(shift) + 1}*({answer})"
    v = evaluate(tree)
    wrong = rng.choice([v + shift, v * 2 + shift, Fraction(rng.randint(-100, 100), rng.choice([1, 1, 2, 4]))])
    if wrong == v:
        wrong = v + 1
    return decimal_text(wrong) if part.kind == AnswerType.NUMBER and terminates(wrong) else fraction_text(wrong)
