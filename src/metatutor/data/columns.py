"""Which source column holds which of our fields: the aliases seen in public datasets, or the user's
`--columns` mapping. Shared by the in-memory readers and the chunked reader, so both map columns alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from metatutor.errors import InvalidResponsesError, shorten

# Column names seen in public datasets, in order of preference, for each of our fields.
ALIASES: dict[str, tuple[str, ...]] = {
    "learner": ("learner", "learner_id", "user_id", "anon student id", "student_id", "studentid", "student",
                "uid", "user"),
    "item": ("item", "item_id", "problem_id", "problem name", "question_id", "question", "problem", "itemid"),
    "skill": ("skill", "skill_id", "skills", "kc(default)", "kc", "concept", "concepts", "knowledge_component",
              "skill_name"),
    "correct": ("correct", "correct first attempt", "is_correct", "correctness", "outcome_correct", "response"),
    "timestamp": ("timestamp", "first transaction time", "step start time", "start_time", "time", "date",
                  "ms_first_response"),
    "order": ("order", "order_id", "row"),
}
# answers written as words (DataShop's `Outcome`-like columns)
ANSWER_WORDS = {"correct": "1", "incorrect": "0", "hint": "0"}


@dataclass(frozen=True)
class ColumnPlan:
    """Our field -> the source column that holds it; `step` is DataShop's step column, joined to the
    problem name to make the item (a step is what is answered and scored)."""

    chosen: dict[str, str]
    step: str | None = None

    @property
    def source_columns(self) -> list[str]:
        return [*self.chosen.values(), *([self.step] if self.step else [])]


def name_list(names: Sequence[object], limit: int = 12) -> str:
    """Column names for a message: at most `limit`, each cut short."""
    shown = [shorten(n, 30) for n in list(names)[:limit]]
    more = f", … ({len(names)} columns)" if len(names) > limit else ""
    return ", ".join(shown) + more


def plan_columns(names: Sequence[str], columns: dict[str, str] | None, *, source: str | None = None) -> ColumnPlan:
    """Choose the source column of each field: explicit `columns` first, then the known aliases."""
    names = [str(c) for c in names]
    lower = {c.strip().lower(): c for c in names}
    chosen: dict[str, str] = {}
    problems = []
    for ours, theirs in (columns or {}).items():
        if ours not in ALIASES:
            problems.append(f"unknown field {ours!r} in the column mapping (fields: {', '.join(ALIASES)})")
        elif theirs not in names:
            problems.append(f"column {shorten(theirs)!r} (given for {ours}) is not in the file "
                            f"(columns: {name_list(names)})")
        else:
            chosen[ours] = theirs
    if problems:
        raise InvalidResponsesError(problems, source=source)
    for ours, aliases in ALIASES.items():
        if ours in chosen:
            continue
        for alias in aliases:
            if alias in lower and lower[alias] not in chosen.values():
                chosen[ours] = lower[alias]
                break
        if ours == "skill" and ours not in chosen:
            kc = [c for c in names if c.lower().startswith("kc(")]
            if kc:
                chosen["skill"] = kc[0]
    missing = [c for c in ("learner", "item", "correct") if c not in chosen]
    if missing:
        hint = ""
        if len(names) == 1 and any(d in names[0] for d in ";\t|"):
            hint = " (the header was read as one column: give the delimiter with --delimiter)"
        raise InvalidResponsesError(
            [f"cannot find a column for {', '.join(missing)} among {name_list(names)}{hint}; "
             "name them with --columns, e.g. --columns learner=student,item=question,correct=score"],
            source=source,
        )
    step = lower.get("step name") if chosen["item"] == lower.get("problem name") else None
    return ColumnPlan(chosen, step)


def map_columns(df: pd.DataFrame, columns: dict[str, str] | None, *, source: str | None = None) -> pd.DataFrame:
    """Rename source columns to ours (see `plan_columns`); answers written as words become 0/1."""
    plan = plan_columns([str(c) for c in df.columns], columns, source=source)
    by_name = {str(c): c for c in df.columns}
    out = pd.DataFrame({ours: df[by_name[theirs]] for ours, theirs in plan.chosen.items()})
    if plan.step is not None:
        out["item"] = df[by_name[plan.chosen["item"]]].astype(str) + " / " + df[by_name[plan.step]].astype(str)
    if out["correct"].dtype == object:
        text = out["correct"].astype(str).str.strip().str.lower()
        for word, value in ANSWER_WORDS.items():
            out["correct"] = out["correct"].where(text != word, value)
    return out
