"""Reading what schools and authors upload: a course as CSV (items with their skills, prerequisites), a
course learned from logs in any format the data layer reads, and a OneRoster 1.1 roster (users and
enrollments). Only pseudonymous ids (`sourcedId`) are kept from a roster: no names, no e-mails."""

from __future__ import annotations

import csv
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from metatutor.errors import ConfigError, MetatutorError
from metatutor.learner import SkillGraph, SkillTracker, Tracker
from metatutor.service.schemas import CourseIn, ItemIn, ResourceIn

ITEM_COLUMNS = ("item", "item_id", "id", "problem_id", "question")
SKILLS_COLUMNS = ("skills", "skill", "skill_id", "kc", "concepts")
SEPARATORS = ("~~", ";", "|")


def _rows(text: str, what: str, *, need: int = 1) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV upload; every row must have at least `need` cells and no more cells than
    the header, and every cell must be printable text: otherwise a `ConfigError` naming the lines."""
    try:
        rows = [(n, r) for n, r in enumerate(csv.reader(text.lstrip("\ufeff").splitlines()), start=1)
                if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise ConfigError(f"the {what} file is not valid CSV: {exc}") from None
    if not rows:
        raise ConfigError(f"the {what} file is empty")
    header = [h.strip().lower() for h in rows[0][1]]
    short = [n for n, r in rows[1:] if len(r) < need]
    long = [n for n, r in rows[1:] if len(r) > len(header)]
    bad = [n for n, r in rows if any(_BAD.search(c) for c in r)]
    problems = []
    if short:
        problems.append(f"fewer than {need} cells on line(s) {_lines(short)}")
    if long:
        problems.append(f"more cells than the header's {len(header)} on line(s) {_lines(long)}")
    if bad:
        problems.append(f"control characters on line(s) {_lines(bad)}")
    if problems:
        raise ConfigError(f"the {what} file: {'; '.join(problems)}")
    return header, [r for _, r in rows[1:]]


_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _lines(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:10])) + (f" … ({len(numbers)} in all)" if len(numbers) > 10 else "")


def _column(header: list[str], names: tuple[str, ...], what: str) -> int:
    for name in names:
        if name in header:
            return header.index(name)
    raise ConfigError(f"the {what} file needs one of the columns {', '.join(names)}; found {', '.join(header)}")


def _split(cell: str) -> list[str]:
    for sep in SEPARATORS:
        if sep in cell:
            return [s.strip() for s in cell.split(sep) if s.strip()]
    return [cell.strip()] if cell.strip() else []


def course_from_csv(items_csv: str, prerequisites_csv: str | None = None, resources_csv: str | None = None) -> CourseIn:
    try:
        return _course_from_csv(items_csv, prerequisites_csv, resources_csv)
    except ValidationError as exc:  # what pydantic found wrong in the rows, as one message
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10])
        raise ConfigError(f"the course files are not valid: {problems}") from None


def _course_from_csv(items_csv: str, prerequisites_csv: str | None, resources_csv: str | None) -> CourseIn:
    """Items CSV: an item column and a skills column (several skills joined by `~~`, `;` or `|`); any other
    columns become the item's metadata. Optional prerequisites CSV (`prerequisite,skill`) and resources CSV
    (`skill,kind,title[,url]`). Skills are those the items and edges name."""
    header, rows = _rows(items_csv, "items")
    item_col, skill_col = _column(header, ITEM_COLUMNS, "items"), _column(header, SKILLS_COLUMNS, "items")
    header, rows = _rows(items_csv, "items", need=max(item_col, skill_col) + 1)
    items, bad = [], []
    for line, row in enumerate(rows, start=2):
        skills = _split(row[skill_col]) if len(row) > skill_col else []
        if len(row) <= item_col or not row[item_col].strip() or not skills:
            bad.append(line)
            continue
        meta = {h: row[k] for k, h in enumerate(header) if k not in (item_col, skill_col) and k < len(row) and row[k]}
        items.append(ItemIn(id=row[item_col].strip(), skills=skills, meta=meta))
    if bad:
        raise ConfigError(f"items CSV: missing item or skills on line(s) {', '.join(map(str, bad[:10]))}")
    edges: list[tuple[str, str]] = []
    if prerequisites_csv:
        _rows(prerequisites_csv, "prerequisites", need=2)  # every line checked before the graph reads it
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "prerequisites.csv"
            path.write_text("\n".join(prerequisites_csv.splitlines()) + "\n", encoding="utf-8")
            try:
                edges = list(SkillGraph.read(path).edges)
            except (csv.Error, KeyError, IndexError, ValueError) as exc:
                raise ConfigError(f"the prerequisites file is not valid: {exc}"[:300]) from None
    resources = []
    if resources_csv:
        rh, rows = _rows(resources_csv, "resources")
        cols = [_column(rh, (c,), "resources") for c in ("skill", "kind", "title")]
        rh, rows = _rows(resources_csv, "resources", need=max(cols) + 1)
        url = rh.index("url") if "url" in rh else None
        resources = [ResourceIn.model_validate({
            "skill": r[cols[0]].strip(), "kind": r[cols[1]].strip(), "title": r[cols[2]].strip(),
            "url": r[url].strip() if url is not None and url < len(r) else ""}) for r in rows]
    skills = list(dict.fromkeys([s for i in items for s in i.skills] + [s for e in edges for s in e]))
    return CourseIn(skills=skills, prerequisites=edges, items=items, resources=resources)


def course_from_logs(data: bytes, filename: str, format: str | None = None) -> tuple[CourseIn, SkillTracker]:
    """A course and a fitted tracker from response logs (prerequisites estimated from the logs)."""
    from metatutor.data import read_responses

    suffixes = "".join(s for s in Path(filename).suffixes[-2:] if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", s))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"logs{suffixes or '.csv'}"  # only the upload's extension says anything here
        path.write_bytes(data)
        try:
            responses = read_responses(str(path), format=format)
        except MetatutorError:
            raise
        except Exception as exc:  # a reader's own error on bytes that are not what their name says
            raise ConfigError(f"cannot read the uploaded logs {filename[:100]!r} ({type(exc).__name__}: "
                              f"{str(exc)[:200]})") from None
    tracker = SkillTracker.fit(responses)
    return course_of(tracker), tracker


def course_of(tracker: Tracker) -> CourseIn:
    """The course a fitted tracker holds: its skills, prerequisite graph and the items that have skills."""
    spec = tracker.course.to_dict()
    items = [ItemIn(id=i, skills=s) for i, s in zip(spec["items"], spec["item_skills"], strict=True) if s]
    return CourseIn(skills=spec["skills"], prerequisites=[tuple(e) for e in spec["prerequisites"]], items=items)


@dataclass
class Roster:
    learners: dict[str, str | None]  # student sourcedId -> their teacher's sourcedId (first class's first teacher)
    teachers: list[str]
    several_teachers: list[str]  # students whose classes have different teachers (the first one is kept)


def oneroster(users_csv: str, enrollments_csv: str) -> Roster:
    """Students and teachers from OneRoster 1.1 `users.csv` and `enrollments.csv` (only active rows)."""
    uh, users = _rows(users_csv, "users")
    eh, enrols = _rows(enrollments_csv, "enrollments")
    u_id, u_role = _column(uh, ("sourcedid",), "users"), _column(uh, ("role",), "users")
    u_status = uh.index("status") if "status" in uh else None
    e_class, e_user, e_role = (_column(eh, ("classsourcedid",), "enrollments"),
                               _column(eh, ("usersourcedid",), "enrollments"), _column(eh, ("role",), "enrollments"))
    e_status = eh.index("status") if "status" in eh else None
    uh, users = _rows(users_csv, "users", need=max(u_id, u_role) + 1)
    eh, enrols = _rows(enrollments_csv, "enrollments", need=max(e_class, e_user, e_role) + 1)
    u_status = u_status if u_status is not None and all(len(r) > u_status for r in users) else None
    e_status = e_status if e_status is not None and all(len(r) > e_status for r in enrols) else None
    bad = sorted({r[k].strip() for r, k in [*((r, u_id) for r in users), *((r, e_user) for r in enrols),
                                            *((r, e_class) for r in enrols)]
                  if not r[k].strip() or len(r[k].strip()) > 200})
    if bad:
        raise ConfigError(f"the roster has empty or over-long (> 200 characters) ids: {', '.join(b[:40] for b in bad[:5])}")
    role = {}
    for r in users:
        if u_status is not None and r[u_status].strip().lower() == "tobedeleted":
            continue
        role[r[u_id].strip()] = r[u_role].strip().lower()
    unknown = sorted({r[e_user].strip() for r in enrols} - set(role))
    if unknown:
        raise ConfigError(f"enrollments name users not in users.csv: {', '.join(unknown[:10])}")
    teacher_of: dict[str, list[str]] = {}
    classes: dict[str, list[str]] = {}
    for r in enrols:
        if e_status is not None and r[e_status].strip().lower() == "tobedeleted":
            continue
        user, cls, what = r[e_user].strip(), r[e_class].strip(), r[e_role].strip().lower()
        if what == "teacher":
            teacher_of.setdefault(cls, []).append(user)
        elif what == "student":
            classes.setdefault(user, []).append(cls)
    learners: dict[str, str | None] = {}
    several = []
    for user, kind in role.items():
        if kind != "student":
            continue
        teachers = [teacher_of[c][0] for c in classes.get(user, []) if teacher_of.get(c)]
        learners[user] = teachers[0] if teachers else None
        if len(set(teachers)) > 1:
            several.append(user)
    return Roster(learners=learners, teachers=sorted({t for ts in teacher_of.values() for t in ts}),
                  several_teachers=several)
