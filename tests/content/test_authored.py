from __future__ import annotations

import json
from pathlib import Path

import pytest

from metatutor.content.authored import load_items
from metatutor.content.grading import grade
from metatutor.errors import InvalidContentError, MetatutorError

GOOD = [
    {"id": "half-of-ten", "skills": ["fractions"], "statement": r"What is $\frac{1}{2}$ of $10$?",
     "answer_type": "number", "parts": [{"kind": "number", "answer": "5"}], "hints": ["Divide by 2."],
     "solution": [r"$10 \div 2 = 5$."],
     "misconceptions": [{"id": "doubled", "feedback": "Half means divide by 2.", "answer": ["20"]}]},
    {"id": "simplify-6-8", "skills": ["fractions"], "statement": r"Simplify $\frac{6}{8}$.",
     "answer_type": "fraction", "parts": [{"kind": "fraction", "answer": "3/4", "form": "lowest"}]},
    {"id": "pick", "skills": ["fractions"], "statement": "Which is bigger?", "answer_type": "choice",
     "parts": [{"kind": "choice", "answer": "B", "choices": ["0.3", "0.5"]}]},
]


def test_json_items_load_and_grade(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"items": GOOD}))
    items = load_items(path)
    assert [i.id for i in items] == ["half-of-ten", "simplify-6-8", "pick"]
    assert grade(items[0], "5").correct and grade(items[0], "20").misconception.id == "doubled"  # type: ignore[union-attr]
    assert grade(items[1], "6/8").misconception.id == "not-lowest-terms"  # type: ignore[union-attr]
    assert grade(items[2], "b").correct


def test_csv_items_load_and_grade(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        "id,skills,statement,answer_type,answer,form,hint_1,hint_2,solution_1,misconception_1,misconception_1_answer,"
        "misconception_1_feedback,kinds,labels\n"
        "add-3-4,fractions;addition,Work out $\\frac{1}{2}+\\frac{1}{4}$.,fraction,3/4,lowest,Use quarters.,"
        "$\\frac{1}{2}=\\frac{2}{4}$.,$\\frac{2}{4}+\\frac{1}{4}=\\frac{3}{4}$,add-denominators,2/6,"
        "Keep the denominator.,,\n"
        "share,ratios,Share 10 in 2:3.,blanks,4;6,,,,,reversed,6;4,Order matters.,number;number,A;B\n")
    add, share = load_items(path)
    assert add.skills == ("fractions", "addition") and len(add.hints) == 2 and add.solution
    assert grade(add, "3/4").correct and grade(add, "1/3").misconception.id == "add-denominators"  # type: ignore[union-attr]
    assert grade(share, ["4", "6"]).correct and grade(share, "6;4").misconception.id == "reversed"  # type: ignore[union-attr]
    assert [p.label for p in share.parts] == ["A", "B"]


def test_bad_files_name_the_item_and_the_field(tmp_path: Path) -> None:
    bad = [dict(GOOD[0], id="no-answer", parts=[{"kind": "number"}]),
           dict(GOOD[0], id="same-as-key", misconceptions=[{"id": "m", "feedback": "f", "answer": ["10/2"]}]),
           dict(GOOD[0], id="bad-type", answer_type="essay"),
           dict(GOOD[1], id="not-lowest-key", parts=[{"kind": "fraction", "answer": "6/8", "form": "lowest"}]),
           dict(GOOD[0], id="unreadable-key", parts=[{"kind": "number", "answer": "five"}]),
           dict(GOOD[0], id="frac-add-unlike:000001"),
           dict(GOOD[0], id="half-of-ten"), GOOD[0],
           dict(GOOD[2], id="bad-label", parts=[{"kind": "choice", "answer": "E", "choices": ["1", "2"]}])]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(InvalidContentError) as err:
        load_items(path)
    assert isinstance(err.value, MetatutorError) and err.value.source == str(path)
    text = str(err.value)
    for needle in ("item 'no-answer': parts[0]: field 'answer' is missing",
                   "item 'same-as-key': misconceptions[0].answer grades the same as the correct answer",
                   "field 'answer_type' must be one of", "item 'not-lowest-key': field 'parts'",
                   "item 'unreadable-key': parts[0].answer cannot be read",
                   "item 'frac-add-unlike:000001': field 'id' has the shape of a generated item's id",
                   "field 'id' repeats", "item 'bad-label': parts[0].answer must be a choice label"):
        assert needle in text, needle
    assert len(err.value.problems) >= 8


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{not json")
    (tmp_path / "x.txt").write_text("")
    (tmp_path / "x.csv").write_text("id,skills\nq,s\n")
    for name, needle in (("x.json", "not valid JSON"), ("x.txt", "unknown item file type"),
                         ("x.csv", "missing columns: statement, answer_type, answer"), ("none.json", "no such file")):
        with pytest.raises(InvalidContentError, match=needle):
            load_items(tmp_path / name)
