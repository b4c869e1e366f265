"""The built-in course: middle-school maths in 16 skills with a prerequisite graph, every skill with two
or three templates, and its items in the shape the service imports (`POST /api/course`).

The answer key stays on the server: a generated item's `meta` holds what can be shown (statement,
answer boxes, choices, hints, solution, predicted difficulty) but no answers; the server rebuilds the
key from the item id (`resolve_item(id, meta)`). An authored item cannot be rebuilt from its id, so its
meta carries the key under `"key"`; the service must drop it (and the solution, until the item is
answered) before sending an item to a learner: `learner_view(meta)` does both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from metatutor.content.catalog import templates
from metatutor.content.items import Item
from metatutor.content.templates import SEED_SPACE, Template

SKILLS: dict[str, str] = {
    "integer-add-sub": "Adding and subtracting integers",
    "integer-mul-div": "Multiplying and dividing integers",
    "order-of-operations": "Order of operations",
    "fraction-equivalence": "Equivalent fractions",
    "fraction-add-sub": "Adding and subtracting fractions",
    "fraction-mul-div": "Multiplying and dividing fractions",
    "decimals": "Decimals",
    "percentages": "Percentages",
    "ratios": "Ratio and proportion",
    "exponents": "Exponents",
    "expressions": "Simplifying expressions",
    "substitution": "Substituting into expressions",
    "linear-one-step": "One-step linear equations",
    "linear-two-step": "Two-step linear equations",
    "linear-both-sides": "Equations with the unknown on both sides",
    "inequalities": "Linear inequalities",
}

PREREQUISITES: tuple[tuple[str, str], ...] = (
    ("integer-add-sub", "integer-mul-div"),
    ("integer-add-sub", "order-of-operations"),
    ("integer-mul-div", "order-of-operations"),
    ("integer-mul-div", "fraction-equivalence"),
    ("fraction-equivalence", "fraction-add-sub"),
    ("fraction-equivalence", "fraction-mul-div"),
    ("integer-add-sub", "decimals"),
    ("fraction-equivalence", "decimals"),
    ("decimals", "percentages"),
    ("fraction-mul-div", "percentages"),
    ("fraction-equivalence", "ratios"),
    ("integer-mul-div", "exponents"),
    ("order-of-operations", "expressions"),
    ("order-of-operations", "substitution"),
    ("exponents", "substitution"),
    ("integer-add-sub", "linear-one-step"),
    ("integer-mul-div", "linear-one-step"),
    ("linear-one-step", "linear-two-step"),
    ("expressions", "linear-two-step"),
    ("linear-two-step", "linear-both-sides"),
    ("linear-two-step", "inequalities"),
)


def prerequisites() -> list[list[str]]:
    """(prerequisite, skill) pairs of the built-in course."""
    return [list(e) for e in PREREQUISITES]


def course_templates() -> list[Template]:
    """The built-in course's templates, skill by skill in the order of `SKILLS`."""
    order = {s: k for k, s in enumerate(SKILLS)}
    return sorted((t for t in templates() if t.skill in SKILLS), key=lambda t: (order[t.skill], t.id))


def seeds(template_id: str, n: int, *, seed: int = 0) -> Iterable[int]:
    """An endless-enough stream of item seeds for a template: hashes of (template, course seed, k)."""
    for k in range(n):
        digest = hashlib.sha256(f"{template_id}/{seed}/{k}".encode()).hexdigest()
        yield int(digest[:6], 16) % SEED_SPACE


def course_items(per_template: int = 20, *, seed: int = 0, template_ids: Sequence[str] | None = None) -> list[Item]:
    """`per_template` generated items of every template (of those named), distinct in their parameters."""
    out: list[Item] = []
    for t in course_templates():
        if template_ids is not None and t.id not in template_ids:
            continue
        seen: set[tuple[tuple[str, int], ...]] = set()
        for s in seeds(t.id, 20 * per_template + 50, seed=seed):
            item = t.make(s)
            key = tuple(sorted(item.params.items()))
            if key in seen:
                continue
            seen.add(key)
            out.append(item)
            if len(seen) == per_template:
                break
    return out


def item_meta(item: Item) -> dict[str, Any]:
    """What the service stores in `items.meta`: the public content, the solution, and for an authored item
    (which its id cannot rebuild) the key under `"key"`."""
    meta = item.public()
    meta["solution"] = list(item.solution)
    meta["kind"] = "generated" if item.template else "authored"
    if not item.template:
        meta["key"] = {"answers": [p.answer for p in item.parts],
                       "misconceptions": [m.to_dict() for m in item.misconceptions]}
    return meta


def learner_view(meta: dict[str, Any], *, answered: bool = False, hints: int | None = None) -> dict[str, Any]:
    """The part of an item's meta a learner may see: never the key; the solution only once `answered`;
    the first `hints` hints (all when None)."""
    out = {k: v for k, v in meta.items() if k != "key" and (answered or k != "solution")}
    if hints is not None:
        out["hints"] = list(meta.get("hints", []))[:max(hints, 0)]
    return out


def course_body(per_template: int = 20, *, seed: int = 0, authored: Sequence[Item] = ()) -> dict[str, Any]:
    """The built-in course as the body of `POST /api/course` (`CourseIn`): skills, prerequisites and items
    (`per_template` generated items per template, then any `authored` ones) with their meta.

    Example:
        >>> body = course_body(per_template=2)
        >>> len(body["skills"]), body["items"][0]["id"].split(":")[0]
        (16, 'int-add')
    """
    items = course_items(per_template, seed=seed) + list(authored)
    return {"skills": list(SKILLS), "prerequisites": prerequisites(),
            "items": [{"id": i.id, "skills": list(i.skills), "meta": item_meta(i)} for i in items]}
