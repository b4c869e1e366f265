from __future__ import annotations

import json
from collections import Counter

import networkx as nx
import pytest

from metatutor.content.authored import items_from_dicts, resolve_item
from metatutor.content.catalog import is_generated
from metatutor.content.course import (
    PREREQUISITES,
    SKILLS,
    course_body,
    course_items,
    course_templates,
    item_meta,
    learner_view,
)
from metatutor.content.grading import grade


def test_skills_form_a_prerequisite_dag() -> None:
    assert 15 <= len(SKILLS) <= 20
    g = nx.DiGraph(list(PREREQUISITES))
    assert nx.is_directed_acyclic_graph(g) and set(g.nodes) == set(SKILLS)  # every skill is connected
    assert [s for s in SKILLS if g.in_degree(s) == 0] == ["integer-add-sub"]


def test_every_skill_has_templates_over_a_range_of_difficulty() -> None:
    counts = Counter(t.skill for t in course_templates())
    assert set(counts) == set(SKILLS) and min(counts.values()) >= 2
    for t in course_templates():
        assert t.rules, t.id  # every template lists its misconceptions
    items = course_items(30)
    for skill in SKILLS:
        b = [i.difficulty for i in items if i.skill == skill]
        assert max(b) - min(b) > 0.8, skill  # type: ignore[type-var, operator]


def test_items_are_distinct_and_reproducible() -> None:
    a, b = course_items(10, seed=3), course_items(10, seed=3)
    assert [i.id for i in a] == [i.id for i in b] and len({i.id for i in a}) == len(a) == 10 * len(course_templates())
    assert [i.id for i in course_items(10, seed=4)] != [i.id for i in a]


def test_course_body_fits_the_service_schema_without_keys() -> None:
    schemas = pytest.importorskip("metatutor.service.schemas")
    authored = items_from_dicts([{"id": "half-of-ten", "skills": ["fraction-equivalence"],
                                  "statement": "What is half of $10$?", "answer_type": "number",
                                  "parts": [{"kind": "number", "answer": "5"}],
                                  "misconceptions": [{"id": "doubled", "feedback": "Half means divide by 2.",
                                                      "answer": ["20"]}]}])
    body = course_body(per_template=3, authored=authored)
    course = schemas.CourseIn.model_validate(json.loads(json.dumps(body)))
    assert len(course.skills) == len(SKILLS) and len(course.items) == 3 * len(course_templates()) + 1
    for entry in body["items"]:
        meta = entry["meta"]
        if is_generated(entry["id"]):
            assert "key" not in meta and all("answer" not in p for p in meta["parts"])
            assert "misconceptions" not in meta
        else:
            assert meta["key"]["answers"] == ["5"]
        view = learner_view(meta)
        assert "key" not in view and "solution" not in view
        assert "solution" in learner_view(meta, answered=True)
        item = resolve_item(entry["id"], meta)  # the server's copy, key included
        assert grade(item, [p.answer for p in item.parts]).correct
    assert learner_view(item_meta(authored[0]), hints=0)["hints"] == []
