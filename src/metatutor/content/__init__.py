"""Learning content: items with statements, answer keys, hints, worked solutions and diagnosable
misconceptions; seeded templates that generate them; server-side grading of raw answers; the built-in
middle-school maths course; authored items from JSON/CSV; simulated classmates; a difficulty model.

What the service needs (`import metatutor` does not import this package; grading imports sympy):
    >>> from metatutor.content import course_body, generate, grade, resolve_item
    >>> item = generate("frac-add-unlike:00002a")       # the id alone rebuilds an item
    >>> result = grade(item, "\\\\frac{7}{10}")           # raw answer as typed or as MathLive's LaTeX
    >>> result.verdict.value in ("correct", "incorrect", "unreadable")
    True

* `course_body(per_template)`: the built-in course as the body of `POST /api/course`; item meta holds no
  key (see `metatutor.content.course` for how keys stay on the server, and `learner_view`).
* `resolve_item(id, meta)`: the full item (key included) for an id from the items table.
* `grade(item, raw, hints_used=k)`: a `GradeResult` (verdict, misconception, normalized answer, message);
  `.evidence()` is what a learner model gets.
* `load_items(path)`: authored items from `.json` / `.csv`; raises `InvalidContentError`.

Modules: `items` (value objects), `answers` (the bounded parser), `algebra` (equivalence, written forms),
`grading`, `templates` (base, registry, `generate`), `maths/*` (the course's templates), `course`,
`authored`, `features`, `forms` (equivalent typed forms), `simulate` (classmates), `difficulty`.
"""

from metatutor.content.authored import load_items, resolve_item
from metatutor.content.catalog import generate, is_generated, templates
from metatutor.content.course import SKILLS, course_body, course_items, learner_view, prerequisites
from metatutor.content.grading import GradeResult, Verdict, grade
from metatutor.content.items import AnswerType, Item, Misconception, Part

__all__ = ["SKILLS", "AnswerType", "GradeResult", "Item", "Misconception", "Part", "Verdict", "course_body",
           "course_items", "generate", "grade", "is_generated", "learner_view", "load_items", "prerequisites",
           "resolve_item", "templates"]
