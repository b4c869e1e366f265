"""Reading a typed answer, or the LaTeX MathLive emits, into a small expression tree, within fixed limits.

Nothing here evaluates input as code: a tokenizer and a recursive-descent parser build the tree, and
every size that could make later work expensive is bounded before any work is done:

* the answer is at most `MAX_BYTES` bytes and `MAX_TOKENS` tokens;
* brackets, powers and signs nest at most `MAX_DEPTH` deep;
* a number has at most `MAX_DIGITS` digits; an exponent is a whole number of size at most `MAX_EXPONENT`
  (so `10^10^10` and `9**9**9**9` are refused, not computed);
* the tree's polynomial degree is at most `MAX_DEGREE`, and every exact number its evaluation could
  produce has at most `MAX_HEIGHT` digits (`height`, a bound computed from the tree alone).

Accepted: `3/4`, `-3/4`, `0.75`, `1 1/2` (a mixed number), `x=4`, `2x+3`, `2*x + 3`, `2(x+1)`, `x^2`,
`x**2`, `x²`, unicode `−` `×` `÷` `·` `≤` `≥`, and LaTeX: `\\frac{3}{4}` (also `\\frac34`, `\\dfrac`),
`1\\frac{1}{2}`, `\\cdot`, `\\times`, `\\div`, `\\left(`…`\\right)`, `{…}`, `^{…}`, `\\le`, `\\ge`, `\\lt`,
`\\gt`, `\\%`, and LaTeX spacing. Functions, roots, factorials and other commands are refused.

Glossary of the tree: `Num` (an exact rational, and how it was written), `Var`, `Add`, `Neg`, `Mul`,
`Div`, `Pow` (a whole-number exponent), `Rel` (one `=`, `<`, `>`, `<=` or `>=` at the top).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

MAX_BYTES = 1024
MAX_TOKENS = 400
MAX_DEPTH = 40
MAX_DIGITS = 30
MAX_EXPONENT = 100
MAX_DEGREE = 200
MAX_HEIGHT = 1000

RELATIONS = ("=", "<", ">", "<=", ">=")
FLIP = {"=": "=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


class UnreadableAnswer(ValueError):
    """The answer cannot be read (or is too large to check); `reason` says why, for logs."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Num:
    value: Fraction
    written: str = "int"  # "int", "decimal", "mixed" or "mixed-unreduced" (`1 2/4`)


@dataclass(frozen=True, slots=True)
class Var:
    name: str


@dataclass(frozen=True, slots=True)
class Add:
    terms: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Neg:
    arg: Node


@dataclass(frozen=True, slots=True)
class Mul:
    factors: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Div:
    num: Node
    den: Node


@dataclass(frozen=True, slots=True)
class Pow:
    base: Node
    exp: int


@dataclass(frozen=True, slots=True)
class Rel:
    op: str
    lhs: Node
    rhs: Node


Node = Num | Var | Add | Neg | Mul | Div | Pow
Tree = Node | Rel

_UNICODE = {"−": "-", "–": "-", "‐": "-", "﹣": "-", "－": "-", "×": "*", "·": "*", "⋅": "*", "∙": "*", "÷": "/",
            "≤": "<=", "⩽": "<=", "≥": ">=", "⩾": ">=", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "²": "^2",
            "³": "^3", "（": "(", "）": ")", "＝": "="}
_COMMANDS = {"frac": "FRAC", "dfrac": "FRAC", "tfrac": "FRAC", "cfrac": "FRAC", "cdot": "*", "times": "*",
             "ast": "*", "div": "/", "le": "<=", "leq": "<=", "leqslant": "<=", "ge": ">=", "geq": ">=",
             "geqslant": ">=", "lt": "<", "gt": ">", "left": "", "right": "", "mleft": "", "mright": "",
             "bigl": "", "bigr": "", "Bigl": "", "Bigr": "", "big": "", "Big": "", "quad": " ", "qquad": " "}


_GROUPED_DIGITS = re.compile(r"(?<=\d)\\,(?=\d{3}(?!\d))")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # NUM, VAR, OP (+ - * / ^), LP, RP, REL, FRAC, PCT
    text: str
    spaced: bool  # whitespace before it


def tokenize(text: str) -> list[Token]:
    """Tokens of an answer; raises `UnreadableAnswer` on anything outside the accepted syntax."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise UnreadableAnswer(f"longer than {MAX_BYTES} bytes")
    for a, b in _UNICODE.items():
        text = text.replace(a, b)
    text = _GROUPED_DIGITS.sub("", text.replace("**", "^"))  # `1\,000`: a thin space grouping digits
    out: list[Token] = []
    i, n, spaced, frac_args = 0, len(text), False, 0
    while i < n:
        c = text[i]
        if len(out) > MAX_TOKENS:
            raise UnreadableAnswer(f"more than {MAX_TOKENS} symbols")
        if c.isspace():
            spaced, i = True, i + 1
            continue
        if c == "\\":
            j = i + 1
            while j < n and text[j].isalpha():
                j += 1
            name = text[i + 1:j]
            if not name:  # \, \; \! \: \  \{ \} \%
                if j >= n:
                    raise UnreadableAnswer("a lone backslash")
                sym = text[j]
                j += 1
                if sym in ",;:! ":
                    spaced = True
                elif sym in "{}":
                    out.append(Token("LP" if sym == "{" else "RP", sym, spaced))
                    spaced = False
                elif sym == "%":
                    out.append(Token("PCT", "%", spaced))
                    spaced = False
                else:
                    raise UnreadableAnswer(f"unknown symbol \\{sym}")
                i = j
                continue
            if name not in _COMMANDS:
                raise UnreadableAnswer(f"unsupported command \\{name}")
            mapped = _COMMANDS[name]
            if mapped == "FRAC":
                out.append(Token("FRAC", "\\frac", spaced))
                frac_args = 2
            elif mapped in ("*", "/"):
                out.append(Token("OP", mapped, spaced))
            elif mapped in RELATIONS:
                out.append(Token("REL", mapped, spaced))
            elif mapped == " ":
                spaced = True
                i = j
                continue
            else:  # \left, \right: the delimiter follows; `\left.` is an invisible one
                if j < n and text[j] == ".":
                    j += 1
                i = j
                continue
            i, spaced = j, False
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            j = i + 1 if frac_args else i
            if not frac_args:  # `\frac34` takes one digit per argument
                while j < n and (text[j].isdigit() or text[j] == "."):
                    j += 1
            lexeme = text[i:j]
            if lexeme.count(".") > 1 or lexeme.endswith("."):
                raise UnreadableAnswer(f"malformed number {lexeme!r}")
            if sum(ch.isdigit() for ch in lexeme) > MAX_DIGITS:
                raise UnreadableAnswer(f"a number with more than {MAX_DIGITS} digits")
            out.append(Token("NUM", lexeme, spaced))
        elif c.isascii() and c.isalpha():
            j = i + 1
            out.append(Token("VAR", c, spaced))
        elif c in "+-*/^":
            j = i + 1
            out.append(Token("OP", c, spaced))
        elif c in "([{":
            j = i + 1
            out.append(Token("LP", c, spaced))
        elif c in ")]}":
            j = i + 1
            out.append(Token("RP", c, spaced))
        elif c in "<>=":
            j = i + 2 if text[i:i + 2] in ("<=", ">=") else i + 1
            if text[i:i + 2] in ("=<", "=>", "==", "<>", "!="):
                raise UnreadableAnswer(f"unsupported relation {text[i:i + 2]!r}")
            out.append(Token("REL", text[i:j], spaced))
        elif c == "%":
            j = i + 1
            out.append(Token("PCT", "%", spaced))
        else:
            raise UnreadableAnswer(f"unexpected character {c!r}")
        if frac_args and out[-1].kind in ("NUM", "VAR"):
            frac_args -= 1
        elif frac_args and out[-1].kind != "FRAC":
            frac_args = 0  # braced arguments: ordinary lexing
        i, spaced = j, False
    if len(out) > MAX_TOKENS:
        raise UnreadableAnswer(f"more than {MAX_TOKENS} symbols")
    return out


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.t, self.i, self.depth = tokens, 0, 0

    def peek(self, k: int = 0) -> Token | None:
        j = self.i + k
        return self.t[j] if j < len(self.t) else None

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise UnreadableAnswer("the answer ends too early")
        self.i += 1
        return tok

    def expect(self, kind: str) -> Token:
        tok = self.take()
        if tok.kind != kind:
            raise UnreadableAnswer(f"expected {'a closing bracket' if kind == 'RP' else kind}, got {tok.text!r}")
        return tok

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise UnreadableAnswer(f"nested more than {MAX_DEPTH} deep")

    def relation(self) -> Tree:
        lhs = self.expr()
        tok = self.peek()
        if tok is not None and tok.kind == "REL":
            self.take()
            rhs = self.expr()
            nxt = self.peek()
            if nxt is not None and nxt.kind == "REL":
                raise UnreadableAnswer("more than one relation")
            return Rel(tok.text, lhs, rhs)
        return lhs

    def expr(self) -> Node:
        terms = [self.unary()]
        while (tok := self.peek()) is not None and tok.kind == "OP" and tok.text in "+-":
            self.take()
            term = self.unary()
            terms.append(Neg(term) if tok.text == "-" else term)
        return terms[0] if len(terms) == 1 else Add(tuple(terms))

    def unary(self) -> Node:
        tok = self.peek()
        if tok is not None and tok.kind == "OP" and tok.text in "+-":
            self.take()
            self.nest()
            arg = self.unary()
            self.depth -= 1
            return Neg(arg) if tok.text == "-" else arg
        return self.term()

    def term(self) -> Node:
        node = self.power()
        while (tok := self.peek()) is not None:
            if tok.kind == "OP" and tok.text in "*/":
                self.take()
                rhs = self.unary_factor()
                node = _mul(node, rhs) if tok.text == "*" else Div(node, rhs)
            elif tok.kind in ("VAR", "LP", "FRAC"):
                node = _mul(node, self.power())  # implicit multiplication: 2x, 2(x+1), x(x-1)
            elif tok.kind == "NUM":
                raise UnreadableAnswer("two numbers side by side")
            else:
                break
        return node

    def unary_factor(self) -> Node:
        """A factor after * or /, which may carry a sign: `2*-3`, `6/-2`."""
        tok = self.peek()
        if tok is not None and tok.kind == "OP" and tok.text in "+-":
            self.take()
            self.nest()
            arg = self.unary_factor()
            self.depth -= 1
            return Neg(arg) if tok.text == "-" else arg
        return self.power()

    def power(self) -> Node:
        base = self.primary()
        tok = self.peek()
        if tok is not None and tok.kind == "OP" and tok.text == "^":
            self.take()
            self.nest()
            exponent = self.unary_factor()  # right-associative: 2^3^2 = 2^(3^2)
            self.depth -= 1
            return Pow(base, _whole_exponent(exponent))
        return base

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "NUM":
            num = Num(Fraction(tok.text), "decimal" if "." in tok.text else "int")
            return self.mixed(num) or num
        if tok.kind == "VAR":
            return Var(tok.text)
        if tok.kind == "LP":
            self.nest()
            inner = self.expr()
            self.depth -= 1
            self.expect("RP")
            return inner
        if tok.kind == "FRAC":
            self.nest()
            top, bottom = self.group(), self.group()
            self.depth -= 1
            return Div(top, bottom)
        raise UnreadableAnswer(f"unexpected {tok.text!r}")

    def group(self) -> Node:
        """An argument of \\frac: `{...}` or one digit or letter."""
        tok = self.take()
        if tok.kind == "LP" and tok.text == "{":
            inner = self.expr()
            self.expect("RP")
            return inner
        if tok.kind == "NUM":
            return Num(Fraction(tok.text))
        if tok.kind == "VAR":
            return Var(tok.text)
        raise UnreadableAnswer("\\frac needs two arguments")

    def mixed(self, whole: Num) -> Node | None:
        """`1 1/2` or `1\\frac{1}{2}` right after a whole number: a mixed number, when proper."""
        if whole.written != "int":
            return None
        a, b, c = self.peek(), self.peek(1), self.peek(2)
        parts: tuple[str, str] | None = None
        width = 0
        if a is not None and b is not None and c is not None and a.kind == "NUM" and a.spaced \
                and b.kind == "OP" and b.text == "/" and c.kind == "NUM":
            parts, width = (a.text, c.text), 3
        elif a is not None and a.kind == "FRAC":
            seq = self.t[self.i + 1:self.i + 7]
            kinds = [s.kind + s.text for s in seq]
            if len(seq) >= 2 and seq[0].kind == "NUM" and seq[1].kind == "NUM":
                parts, width = (seq[0].text, seq[1].text), 3
            elif len(seq) == 6 and kinds[0] == "LP{" and seq[1].kind == "NUM" and kinds[2] == "RP}" \
                    and kinds[3] == "LP{" and seq[4].kind == "NUM" and kinds[5] == "RP}":
                parts, width = (seq[1].text, seq[4].text), 7
        if parts is None or "." in parts[0] + parts[1]:
            return None
        nxt = self.peek(width)
        if nxt is not None and nxt.kind == "OP" and nxt.text == "^":
            return None
        num, den = int(parts[0]), int(parts[1])
        if not 0 < num < den:
            return None
        self.i += width
        return Num(whole.value + Fraction(num, den), "mixed" if math.gcd(num, den) == 1 else "mixed-unreduced")


def _mul(a: Node, b: Node) -> Mul:
    return Mul((*a.factors, b)) if isinstance(a, Mul) else Mul((a, b))


def _whole_exponent(node: Node) -> int:
    if free_vars(node):
        raise UnreadableAnswer("an exponent must be a number")
    value = evaluate(node)
    if value.denominator != 1:
        raise UnreadableAnswer("only whole-number exponents are supported")
    if abs(value) > MAX_EXPONENT:
        raise UnreadableAnswer(f"an exponent larger than {MAX_EXPONENT}")
    return int(value)


def parse(text: str, *, percent: bool = False) -> Tree:
    """The tree of an answer. With `percent`, one trailing `%` is allowed (and ignored).

    Raises `UnreadableAnswer` for anything it cannot read or that is larger than the limits.

    Example:
        >>> parse("2(x+1)")
        Mul(factors=(Num(value=Fraction(2, 1), written='int'), Add(terms=(Var(name='x'), Num(value=Fraction(1, 1), written='int')))))
    """
    tokens = tokenize(text)
    if percent and tokens and tokens[-1].kind == "PCT":
        tokens = tokens[:-1]
    if any(t.kind == "PCT" for t in tokens):
        raise UnreadableAnswer("a % sign where none is expected")
    if not tokens:
        raise UnreadableAnswer("empty")
    parser = _Parser(tokens)
    tree = parser.relation()
    if parser.peek() is not None:
        raise UnreadableAnswer(f"unexpected {parser.peek().text!r}")  # type: ignore[union-attr]
    sides = (tree.lhs, tree.rhs) if isinstance(tree, Rel) else (tree,)
    for side in sides:
        if degree(side) > MAX_DEGREE:
            raise UnreadableAnswer(f"degree above {MAX_DEGREE}")
        if height(side) > MAX_HEIGHT:
            raise UnreadableAnswer(f"numbers beyond {MAX_HEIGHT} digits")
    return tree


def free_vars(node: Tree) -> frozenset[str]:
    if isinstance(node, Var):
        return frozenset({node.name})
    if isinstance(node, Num):
        return frozenset()
    return frozenset().union(*(free_vars(c) for c in children(node)))


def children(node: Tree) -> tuple[Tree, ...]:
    if isinstance(node, Add):
        return node.terms
    if isinstance(node, Mul):
        return node.factors
    if isinstance(node, Neg):
        return (node.arg,)
    if isinstance(node, Div):
        return (node.num, node.den)
    if isinstance(node, Pow):
        return (node.base,)
    if isinstance(node, Rel):
        return (node.lhs, node.rhs)
    return ()


def degree(node: Node) -> int:
    """An upper bound on the degree of the numerator plus the denominator once written as one fraction."""
    num, den = _degrees(node)
    return num + den


def _degrees(node: Node) -> tuple[int, int]:
    if isinstance(node, Var):
        return 1, 0
    if isinstance(node, Num):
        return 0, 0
    if isinstance(node, Add):
        parts = [_degrees(t) for t in node.terms]
        den = sum(d for _, d in parts)
        return max(n + den - d for n, d in parts), den
    if isinstance(node, Mul):
        parts = [_degrees(f) for f in node.factors]
        return sum(n for n, _ in parts), sum(d for _, d in parts)
    if isinstance(node, Div):
        (an, ad), (bn, bd) = _degrees(node.num), _degrees(node.den)
        return an + bd, ad + bn
    if isinstance(node, Pow):
        n, d = _degrees(node.base)
        e = abs(node.exp)
        return (n * e, d * e) if node.exp >= 0 else (d * e, n * e)
    return _degrees(node.arg)


def height(node: Node) -> float:
    """An upper bound on the digits of any exact number that evaluating or expanding `node` produces
    (variables at most 9 in size), from the sizes of numerators and denominators."""
    return max(_heights(node)) + 1


def _heights(node: Node) -> tuple[float, float]:
    """log10 bounds of the numerator and the denominator (variables at most 9 in size)."""
    if isinstance(node, Num):
        v = node.value
        return math.log10(max(abs(v.numerator), 1)), math.log10(v.denominator)
    if isinstance(node, Var):
        return 1.0, 0.0
    if isinstance(node, Add):
        parts = [_heights(t) for t in node.terms]
        den = sum(d for _, d in parts)
        return max(n for n, _ in parts) + den + math.log10(len(parts)), den
    if isinstance(node, Mul):
        parts = [_heights(f) for f in node.factors]
        return sum(n for n, _ in parts), sum(d for _, d in parts)
    if isinstance(node, Div):
        (an, ad), (bn, bd) = _heights(node.num), _heights(node.den)
        return an + bd, ad + bn
    if isinstance(node, Pow):
        n, d = _heights(node.base)
        e = max(abs(node.exp), 1)
        return (n * e, d * e) if node.exp >= 0 else (d * e, n * e)
    return _heights(node.arg)


def terms_bound(node: Node) -> int:
    """An upper bound on the terms of the expanded polynomial (capped at 10^6)."""
    cap = 1_000_000
    if isinstance(node, Num | Var):
        return 1
    if isinstance(node, Add):
        return min(cap, sum(terms_bound(t) for t in node.terms))
    if isinstance(node, Mul | Div):
        out = 1
        for f in (node.factors if isinstance(node, Mul) else (node.num, node.den)):
            out = min(cap, out * terms_bound(f))
        return out
    if isinstance(node, Pow):
        base = terms_bound(node.base)
        return 1 if base == 1 else min(cap, base ** min(abs(node.exp), 20))
    return terms_bound(node.arg)


def evaluate(node: Node, point: dict[str, Fraction] | None = None) -> Fraction:
    """The exact value of `node` (variables from `point`); raises `UnreadableAnswer` on division by zero
    or a variable without a value. Bounded by the limits `parse` enforces."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Var):
        if point is None or node.name not in point:
            raise UnreadableAnswer(f"expected a number, found {node.name!r}")
        return point[node.name]
    if isinstance(node, Add):
        return sum((evaluate(t, point) for t in node.terms), Fraction(0))
    if isinstance(node, Neg):
        return -evaluate(node.arg, point)
    if isinstance(node, Mul):
        out = Fraction(1)
        for f in node.factors:
            out *= evaluate(f, point)
        return out
    if isinstance(node, Div):
        den = evaluate(node.den, point)
        if den == 0:
            raise UnreadableAnswer("division by zero")
        return evaluate(node.num, point) / den
    if height(node.base) * abs(node.exp) > MAX_HEIGHT:
        raise UnreadableAnswer(f"numbers beyond {MAX_HEIGHT} digits")
    base = evaluate(node.base, point)
    if base == 0 and node.exp < 0:
        raise UnreadableAnswer("division by zero")
    return base**node.exp


def evaluate_mod(node: Node, point: dict[str, int], prime: int) -> int | None:
    """`node` evaluated modulo `prime` at an integer point; None where a denominator vanishes there.
    Every operation is on numbers below `prime`, so the cost is linear in the tree's size."""
    if isinstance(node, Num):
        den = node.value.denominator % prime
        return None if den == 0 else node.value.numerator * pow(den, -1, prime) % prime
    if isinstance(node, Var):
        return point[node.name] % prime
    if isinstance(node, Neg):
        v = evaluate_mod(node.arg, point, prime)
        return None if v is None else -v % prime
    if isinstance(node, Add | Mul):
        acc = 0 if isinstance(node, Add) else 1
        for c in (node.terms if isinstance(node, Add) else node.factors):
            v = evaluate_mod(c, point, prime)
            if v is None:
                return None
            acc = (acc + v) % prime if isinstance(node, Add) else acc * v % prime
        return acc
    if isinstance(node, Div):
        top, bottom = evaluate_mod(node.num, point, prime), evaluate_mod(node.den, point, prime)
        if top is None or bottom is None or bottom == 0:
            return None
        return top * pow(bottom, -1, prime) % prime
    base = evaluate_mod(node.base, point, prime)
    if base is None or (base == 0 and node.exp < 0):
        return None
    return pow(base, node.exp, prime)


def to_text(node: Tree) -> str:
    """The tree in the typed syntax, fully bracketed where needed (a plain, cheap printer)."""
    if isinstance(node, Rel):
        return f"{to_text(node.lhs)} {node.op} {to_text(node.rhs)}"
    if isinstance(node, Num):
        v = node.value
        return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Add):
        out = to_text(node.terms[0])
        for t in node.terms[1:]:
            out += f" - {_wrap(t.arg, Add)}" if isinstance(t, Neg) else f" + {to_text(t)}"
        return out
    if isinstance(node, Neg):
        return f"-{_wrap(node.arg, Add)}"
    if isinstance(node, Mul):
        return "*".join(_wrap(f, Add, Neg) for f in node.factors)
    if isinstance(node, Div):
        return f"{_wrap(node.num, Add, Neg, Mul, Div)}/{_wrap(node.den, Add, Neg, Mul, Div)}"
    return f"{_wrap(node.base, Add, Neg, Mul, Div, Pow)}^{node.exp if node.exp >= 0 else f'({node.exp})'}"


def _wrap(node: Node, *kinds: type) -> str:
    text = to_text(node)
    return f"({text})" if isinstance(node, kinds) or (isinstance(node, Num) and node.value.denominator != 1) else text

