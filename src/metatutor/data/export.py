"""A learner's data, exported for them (their right of access): as one JSON document and as xAPI statements.

`AnswerRecord` is one answer as any store holds it (a response log here, the service's database there);
`answers_of(responses, learner)` reads them from a `Responses` table. `learner_export` makes the JSON
document (the answers, a summary, and whatever derived data the caller adds: mastery estimates, the keyed
pseudonym under which model files name the learner); `xapi_statements` makes one xAPI 1.0.3 `answered`
statement per answer, which the service's `POST /api/xapi/statements` reads back (statement id: the
answer's event id when it has a UUID, else a UUID derived from the learner, position and item).

Example:
    >>> import pandas as pd
    >>> r = Responses.from_frame(pd.DataFrame({"learner": ["a", "a"], "item": ["q1", "q2"], "correct": [1, 0]}))
    >>> doc = learner_export("a", answers_of(r, "a"))
    >>> doc["summary"]["answers"], doc["summary"]["right"]
    (2, 1)
    >>> xapi_statements("a", answers_of(r, "a"))[0]["result"]
    {'success': True}
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import numpy as np

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError

FORMAT = "metatutor.learner-export/1"
ANSWERED = "http://adlnet.gov/expapi/verbs/answered"
HOMEPAGE = "https://metatutor.invalid"  # the default account home page; a deployment passes its own URL
NAMESPACE = uuid.UUID("5b0d2c1e-9a43-4f0e-8f55-6d7f1c3a2b90")  # of the statement ids derived here


@dataclass(frozen=True)
class AnswerRecord:
    """One answer: the item, its skills, right or wrong, when (seconds since 1970, None when unknown), the
    client's event id and anything else the store keeps about it (the answer typed, hints, seconds taken)."""

    item: str
    correct: bool
    timestamp: float | None = None
    skills: tuple[str, ...] = ()
    event_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def answers_of(responses: Responses, learner: str) -> list[AnswerRecord]:
    """The answers of one learner in a response table, in their order; `ConfigError` if they have none."""
    ids = responses.learners_present().astype(str)
    where = np.flatnonzero(ids == str(learner))
    if not len(where):
        raise ConfigError(f"no learner {learner!r} in these responses ({len(ids)} learners)")
    lo, hi = responses.starts[where[0]], responses.starts[where[0] + 1]
    return [AnswerRecord(item=str(responses.item_ids[responses.item[r]]), correct=bool(responses.correct[r]),
                         timestamp=None if responses.timestamp is None or np.isnan(responses.timestamp[r])
                         else float(responses.timestamp[r]), skills=tuple(responses.skills_of(r)))
            for r in range(lo, hi)]


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def learner_export(learner: str, answers: Sequence[AnswerRecord], *, derived: dict[str, Any] | None = None,
                   now: float | None = None) -> dict[str, Any]:
    """The JSON document of one learner's data: their answers in order, a summary, and `derived` (what the
    system inferred about them, e.g. mastery per skill, as the caller computed it)."""
    when = dt.datetime.now(dt.UTC).timestamp() if now is None else now
    rows = [{"position": j, "item": a.item, "skills": list(a.skills), "correct": bool(a.correct),
             "time": _iso(a.timestamp), **({"event_id": a.event_id} if a.event_id else {}), **a.extra}
            for j, a in enumerate(answers)]
    times = [a.timestamp for a in answers if a.timestamp is not None]
    summary = {"answers": len(answers), "right": sum(bool(a.correct) for a in answers),
               "items": len({a.item for a in answers}), "skills": sorted({s for a in answers for s in a.skills}),
               "first": _iso(min(times)) if times else None, "last": _iso(max(times)) if times else None}
    return {"format": FORMAT, "learner": str(learner), "exported": _iso(when), "summary": summary,
            "answers": rows, "derived": derived or {}}


def statement_id(learner: str, position: int, answer: AnswerRecord) -> str:
    """The answer's event id when it is a UUID (a re-import is then recognised), else a UUID made from the
    learner, the position and the answer (the same answer always gets the same id)."""
    if answer.event_id:
        try:
            return str(uuid.UUID(answer.event_id))
        except ValueError:
            pass
    return str(uuid.uuid5(NAMESPACE, f"{learner}\x1f{position}\x1f{answer.item}\x1f{answer.timestamp}\x1f"
                                     f"{answer.event_id}"))


def xapi_statements(learner: str, answers: Sequence[AnswerRecord], *, homepage: str = HOMEPAGE) -> list[dict[str, Any]]:
    """One xAPI `answered` statement per answer: actor = the learner's account on `homepage`, object = the
    item's activity `<homepage>/items/<item>`, result.success, the answer's time, its skills and position
    as context extensions."""
    base = homepage.rstrip("/")
    out = []
    for j, a in enumerate(answers):
        statement: dict[str, Any] = {
            "id": statement_id(str(learner), j, a),
            "actor": {"objectType": "Agent", "account": {"homePage": base, "name": str(learner)}},
            "verb": {"id": ANSWERED, "display": {"en-US": "answered"}},
            "object": {"objectType": "Activity", "id": f"{base}/items/{quote(a.item, safe='')}",
                       "definition": {"type": "http://adlnet.gov/expapi/activities/cmi.interaction"}},
            "result": {"success": bool(a.correct)},
            "context": {"extensions": {f"{base}/xapi/skills": list(a.skills), f"{base}/xapi/position": j}},
        }
        if a.timestamp is not None:
            statement["timestamp"] = _iso(a.timestamp)
        out.append(statement)
    return out
