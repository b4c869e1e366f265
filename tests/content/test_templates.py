"""Property tests over generated items of every template: the key is accepted in every equivalent form,
each listed misconception is diagnosed as itself, random wrong answers are rejected, and the id alone
rebuilds the item."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metatutor.content.catalog import generate, templates
from metatutor.content.forms import equivalent_forms, wrong_answer
from metatutor.content.grading import Verdict, grade
from metatutor.content.items import Item
from metatutor.content.templates import SEED_SPACE, Template

TEMPLATES = list(templates())
IDS = [t.id for t in TEMPLATES]
seeds = st.integers(0, SEED_SPACE - 1)


def check_item(template: Template, seed: int, rng: random.Random) -> None:
    item = template.make(seed)
    assert generate(item.id) == item  # the id alone rebuilds it
    assert Item.from_dict(json.loads(json.dumps(item.to_dict()))) == item  # JSON-safe round trip
    keys = [p.answer for p in item.parts]
    canonical = grade(item, keys)
    assert canonical.correct, (item.id, keys, canonical)
    for k, part in enumerate(item.parts):
        for form in equivalent_forms(part, part.answer, rng):
            result = grade(item, [*keys[:k], form, *keys[k + 1:]])
            assert result.correct, (item.id, form, result)
    listed = {m.id for m in item.misconceptions}
    assert len(listed) == len(item.misconceptions)
    for m in item.misconceptions:
        plain = [a if a is not None else p.answer for a, p in zip(m.answer, item.parts, strict=True)]
        typed = [rng.choice(equivalent_forms(p, a, rng, strict=False)) for p, a in zip(item.parts, plain, strict=True)]
        for raw in (plain, typed):
            result = grade(item, raw)
            assert result.verdict == Verdict.INCORRECT and result.misconception is not None, (item.id, m, raw, result)
            assert result.misconception.id == m.id and result.message == m.feedback, (item.id, m, raw, result)
    for _ in range(2):
        k = rng.randrange(len(item.parts))
        raw = [*keys[:k], wrong_answer(item.parts[k], keys[k], rng), *keys[k + 1:]]
        result = grade(item, raw)
        assert result.verdict == Verdict.INCORRECT, (item.id, raw, result)
        assert result.misconception is None or result.misconception.id in listed
    assert grade(item, ["?"] * len(item.parts)).verdict == Verdict.UNREADABLE


@pytest.mark.slow
@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=seeds, rng=st.randoms(use_true_random=False))
def test_generated_items_grade_as_they_should(template: Template, seed: int, rng: random.Random) -> None:
    check_item(template, seed, rng)


@pytest.mark.slow
@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=seeds, rng=st.randoms(use_true_random=False))
def test_generated_items_grade_as_they_should_1000(template: Template, seed: int, rng: random.Random) -> None:
    check_item(template, seed, rng)


def test_generation_is_the_same_in_another_process() -> None:
    ids = ["frac-add-unlike:3f2a9c", "ineq-negative:00ff10", "ratio-share:abcdef", "dec-compare:123456"]
    code = ("import json; from metatutor.content import generate; "
            f"print(json.dumps([generate(i).to_dict() for i in {ids!r}], sort_keys=True))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert json.loads(out) == json.loads(json.dumps([generate(i).to_dict() for i in ids], sort_keys=True))


def test_difficulty_follows_from_the_parameters() -> None:
    """Within every template the predicted difficulty varies with the parameters (a range of difficulty)."""
    for t in TEMPLATES:
        b = {t.make(s).difficulty for s in range(40)}
        assert max(b) - min(b) > 0.3, t.id  # type: ignore[operator]


def test_unknown_or_malformed_ids_are_named() -> None:
    from metatutor.errors import InvalidContentError, MetatutorError

    for bad in ("nope:000001", "frac-add-unlike:xyz", "frac-add-unlike"):
        with pytest.raises(InvalidContentError) as err:
            generate(bad)
        assert isinstance(err.value, MetatutorError) and ("nope" in str(err.value) or bad in str(err.value))


def _squeeze(text: str) -> str:
    return text.replace(" ", "").replace("{", "").replace("}", "").replace("\\le", "<=").replace("\\ge", ">=")


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_worked_solution_reaches_the_answer(template: Template) -> None:
    """The last steps of every worked solution state the key (as LaTeX, a decimal, or the option's text)."""
    from metatutor.content.answers import Rel, evaluate, parse
    from metatutor.content.items import LABELS, AnswerType
    from metatutor.content.maths.notation import tex
    from metatutor.content.templates import decimal_text, terminates

    for seed in range(30):
        item = template.make(seed)
        end = " ".join(item.solution[-2:])
        for part in item.parts:
            if part.kind == AnswerType.CHOICE:
                wanted = [part.choices[LABELS.index(part.answer)]]
            elif part.kind == AnswerType.EXPRESSION:
                tree = parse(part.answer)
                wanted = [part.answer] + ([tex(evaluate(tree.rhs))] if isinstance(tree, Rel) else [])
            else:
                v = evaluate(parse(part.answer))  # type: ignore[arg-type]
                wanted = [tex(v), str(v)] + ([decimal_text(v)] if terminates(v) else [])
            assert any(_squeeze(w) in _squeeze(end) for w in wanted), (item.id, part.answer, item.solution)
