"""Authored items from JSON or CSV files, checked in full before anything is used, and rebuilding any
item (generated or authored) from what the service stores.

JSON: a list of items, or `{"items": [...]}`, each as `Item.to_dict()` writes it:
    {"id": "half-of-ten", "skills": ["fractions"], "statement": "What is $\\frac{1}{2}$ of $10$?",
     "answer_type": "number", "parts": [{"kind": "number", "answer": "5"}],
     "hints": ["Divide by 2."], "solution": ["$10 \\div 2 = 5$."],
     "misconceptions": [{"id": "doubled", "feedback": "Half means divide by 2.", "answer": ["20"]}]}

CSV: one item per row, columns `id`, `skills` (`;`-separated), `statement`, `answer_type`, `answer`
(`;`-separated for blanks), and optionally `kinds`, `labels` (`;`-separated, for blanks), `form`,
`tolerance`, `unit`, `difficulty`, `choice_1`… (choice options), `hint_1`…, `solution_1`…,
`misconception_1`, `misconception_1_answer`, `misconception_1_feedback`, `misconception_2`, ….

Every problem in a file is reported at once, each naming the item (and row) and the field, in one
`InvalidContentError`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from metatutor.content.answers import UnreadableAnswer
from metatutor.content.catalog import generate, is_generated
from metatutor.content.grading import grade, read, same_answer
from metatutor.content.items import LABELS, AnswerType, Item, item_fields
from metatutor.errors import InvalidContentError, shorten

MAX_FILE_BYTES = 20_000_000


def load_items(path: str | Path) -> list[Item]:
    """Items from a `.json` or `.csv` file; raises `InvalidContentError` listing every problem."""
    path = Path(path)
    if not path.is_file():
        raise InvalidContentError([f"no such file: {path}"])
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InvalidContentError([f"larger than {MAX_FILE_BYTES} bytes"], source=str(path))
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        return items_from_json(text, source=str(path))
    if path.suffix.lower() == ".csv":
        return items_from_csv(text, source=str(path))
    raise InvalidContentError([f"unknown item file type '{path.suffix}' (use .json or .csv)"], source=str(path))


def items_from_json(text: str, *, source: str | None = None) -> list[Item]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidContentError([f"not valid JSON: {exc}"], source=source) from None
    if isinstance(data, Mapping):
        data = data.get("items")
    if not isinstance(data, list):
        raise InvalidContentError(["expected a list of items (or an object with 'items')"], source=source)
    return items_from_dicts(data, where=[f"item #{k + 1}" for k in range(len(data))], source=source)


def items_from_dicts(rows: Sequence[Any], *, where: Sequence[str] | None = None,
                     source: str | None = None) -> list[Item]:
    """Validate item dicts (their structure, then every key and misconception answer) and build them."""
    problems: list[str] = []
    items: list[Item] = []
    seen: dict[str, str] = {}
    for k, row in enumerate(rows):
        at = where[k] if where else f"item #{k + 1}"
        before = len(problems)
        built = item_fields(row, problems, where=at)
        if built is None or len(problems) > before:
            continue
        item = Item(**built)
        label = f"{at} item '{item.id}'"
        if item.id in seen:
            problems.append(f"{label}: field 'id' repeats {seen[item.id]}")
        seen.setdefault(item.id, at)
        if is_generated(item.id):
            problems.append(f"{label}: field 'id' has the shape of a generated item's id (template:seed)")
        problems.extend(key_problems(item, label=label))
        items.append(item)
    if problems:
        raise InvalidContentError(problems, source=source)
    return items


def key_problems(item: Item, *, label: str | None = None) -> list[str]:
    """What is wrong with an item's keys: unreadable answers, a key not in its own required form, a
    misconception answer that grades as the correct answer or as another misconception."""
    who = label or f"item '{item.id}'"
    out: list[str] = []
    for k, part in enumerate(item.parts):
        if part.kind == AnswerType.CHOICE and part.answer.strip().upper() not in LABELS[:len(part.choices)]:
            out.append(f"{who}: parts[{k}].answer must be a choice label (A to {LABELS[len(part.choices) - 1]})")
            continue
        try:
            read(part, part.answer)
        except UnreadableAnswer as exc:
            out.append(f"{who}: parts[{k}].answer cannot be read ({exc.reason})")
    if out:
        return out
    if not grade(item, [p.answer for p in item.parts]).correct:
        return [f"{who}: field 'parts': an answer is not in the form its part asks for "
                f"({', '.join(p.form for p in item.parts)})"]
    answers = [tuple(p.answer for p in item.parts)] + [m.answer for m in item.misconceptions]
    names = ["the correct answer"] + [f"misconception '{m.id}'" for m in item.misconceptions]
    for j, m in enumerate(item.misconceptions, start=1):
        try:
            for part, a in zip(item.parts, m.answer, strict=True):
                if a is not None:
                    read(part, a)
        except UnreadableAnswer as exc:
            out.append(f"{who}: misconceptions[{j - 1}].answer cannot be read ({exc.reason})")
            continue
        for i in range(j):
            if all(a is None or b is None or same_answer(p, a, b)
                   for p, a, b in zip(item.parts, answers[j], answers[i], strict=True)):
                out.append(f"{who}: misconceptions[{j - 1}].answer grades the same as {names[i]}")
    return out


_NUMBERED = re.compile(r"^(choice|hint|solution|misconception)_(\d+)(_answer|_feedback)?$")


def items_from_csv(text: str, *, source: str | None = None) -> list[Item]:
    """Items from CSV text (see the module docstring for the columns)."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise InvalidContentError(["the file is empty"], source=source)
    missing = [c for c in ("id", "skills", "statement", "answer_type", "answer") if c not in reader.fieldnames]
    if missing:
        raise InvalidContentError([f"missing columns: {', '.join(missing)}"], source=source)
    rows, where = [], []
    for line, row in enumerate(reader, start=2):
        rows.append(_row_to_dict({k: (v or "").strip() for k, v in row.items() if k is not None}))
        where.append(f"row {line}")
    return items_from_dicts(rows, where=where, source=source)


def _numbered(row: Mapping[str, str], prefix: str, suffix: str = "") -> list[str]:
    keys = sorted((int(m.group(2)), k) for k in row if (m := _NUMBERED.match(k)) and m.group(1) == prefix
                  and (m.group(3) or "") == suffix)
    return [row[k] for _, k in keys if row[k]]


def _row_to_dict(row: Mapping[str, str]) -> dict[str, Any]:
    answer_type = row.get("answer_type", "")
    answers = row.get("answer", "").split(";") if answer_type == AnswerType.BLANKS.value else [row.get("answer", "")]
    kinds = [k.strip() for k in row.get("kinds", "").split(";")] if row.get("kinds") else []
    labels = row.get("labels", "").split(";") if row.get("labels") else []
    choices = _numbered(row, "choice")
    parts = []
    for k, answer in enumerate(answers):
        kind = kinds[k] if k < len(kinds) else (AnswerType.NUMBER.value if answer_type == "blanks" else answer_type)
        part: dict[str, Any] = {"kind": kind, "answer": answer.strip(), "label": labels[k].strip() if k < len(labels)
                                else "", "form": row.get("form") or "any", "unit": row.get("unit", "")}
        if row.get("tolerance"):
            part["tolerance"] = _number(row["tolerance"])
        if kind == AnswerType.CHOICE.value:
            part["choices"] = choices
        parts.append(part)
    misconceptions = []
    ids = {int(m.group(2)): row[k] for k in row if (m := _NUMBERED.match(k)) and m.group(1) == "misconception"
           and m.group(3) is None and row[k]}
    for n in sorted(ids):
        answer = row.get(f"misconception_{n}_answer", "")
        misconceptions.append({"id": ids[n], "feedback": row.get(f"misconception_{n}_feedback", ""),
                               "answer": [a.strip() or None for a in answer.split(";")] if len(parts) > 1 else [answer]})
    out: dict[str, Any] = {"id": row.get("id", ""), "skills": [s.strip() for s in row.get("skills", "").split(";")
                                                              if s.strip()],
                           "statement": row.get("statement", ""), "answer_type": answer_type, "parts": parts,
                           "hints": _numbered(row, "hint"), "solution": _numbered(row, "solution"),
                           "misconceptions": misconceptions}
    if row.get("difficulty"):
        out["difficulty"] = _number(row["difficulty"])
    return out


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # reported by validation, naming the field


def resolve_item(item_id: str, meta: Mapping[str, Any] | None = None) -> Item:
    """The full item, key included, for grading on the server: a generated item is rebuilt from its id;
    an authored one from the meta `course.item_meta` wrote (its public fields plus `key`)."""
    if is_generated(item_id):
        return generate(item_id)
    if not meta or not isinstance(meta.get("key"), Mapping):
        raise InvalidContentError([f"item '{shorten(item_id)}': no answer key stored for this item"])
    key = meta["key"]
    parts = [dict(p) | {"answer": a} for p, a in zip(meta.get("parts", []), key.get("answers", []), strict=False)]
    data = {k: v for k, v in meta.items() if k not in ("key", "kind")} | {
        "id": item_id, "parts": parts, "misconceptions": key.get("misconceptions", [])}
    return items_from_dicts([data], where=["stored"])[0]
