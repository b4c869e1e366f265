"""Knowledge-tracing models behind the service (attn, dkt, irt or their ensemble): the active one, and each
learner's online state under it.

A KT model version stores the model's `to_bytes()` in `model_versions.arrays`. A learner's state
(`kt_states`) remembers the id of the last response stepped into it; reading it steps in only the
responses stored since, in the order they were stored, and writes the state back. So answering
stays as fast as it was (the skill tracker's path is untouched), and a read costs one model step per
new answer, never the whole history (except once after a switch of KT model, when the state is
rebuilt from the learner's stored responses)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from metatutor.errors import ConfigError
from metatutor.learner import Tracker
from metatutor.models.serving import OnlineState, ServedModel
from metatutor.service import tables as t
from metatutor.service import versions
from metatutor.service.db import write_lock


class NoKTModel(ConfigError):
    """No KT model is active yet."""


def _served(session: Session, version: int) -> ServedModel:
    blob = session.scalar(select(t.ModelVersion.arrays).where(t.ModelVersion.id == version))
    if blob is None:
        raise ConfigError(f"model version {version} holds no arrays")
    from metatutor.models import model_from_bytes  # the neural models import torch: only when used

    return ServedModel(model_from_bytes(blob))


class KTCache(versions.ActiveVersionCache[ServedModel]):
    """The active KT model (see `versions.ActiveVersionCache`)."""

    def __init__(self, ttl: float = 1.0) -> None:
        super().__init__("kt", _served, lambda: NoKTModel(
            "no knowledge-tracing model yet: upload one (POST /api/models/kt) or train one "
            '(POST /api/models/train with {"kind": "kt"})'), ttl)


def store_model(session: Session, served: ServedModel, *, info: dict[str, Any], activate: bool) -> int:
    """A new KT model version holding the model's bytes (active unless `activate=False`), once it has passed
    `check_model`: a model that fails never becomes a version, let alone the active one."""
    blob = served.model.to_bytes()
    check_model(served, blob, list(session.scalars(select(t.Item.id))))
    params = {"model": served.name, "items": served.vocab.n_items, "skills": served.vocab.n_skills}
    return versions.activate(session, "kt", params, info=info, active=activate, arrays=blob)


def check_model(served: ServedModel, blob: bytes, course_items: list[str]) -> None:
    """Refuse a model that cannot serve: arrays that are not all finite, or a smoke test that fails. The
    test steps a new learner through answers to the first, a middle and the last item the model knows and
    to an item it does not, predicts every course item and every known item before and after, and
    round-trips the state through bytes; every prediction must be a probability. Arrays cut short or of
    the wrong shape fail it (an item or skill code past an array's end, a product of mismatched shapes)."""
    from safetensors.numpy import load

    bad = sorted(name for name, a in load(blob).items() if a.dtype.kind == "f" and not np.isfinite(a).all())
    if bad:
        raise ConfigError(f"the model's arrays hold NaN or infinite values ({', '.join(bad[:5])}); refused")
    n = served.vocab.n_items
    known = [str(x) for x in served.vocab.item_ids[:n]] if hasattr(served.vocab, "item_ids") else []
    probe = list(dict.fromkeys([*known[:1], *known[n // 2: n // 2 + 1], *known[-1:], "metatutor:unseen-item-probe"]))
    try:
        state = served.new_state()
        checks = [served.predict(state, course_items or probe)]
        for k, item in enumerate(probe):
            served.step(state, item, [], k % 2)
            checks.append(served.predict(state, probe))
        state = served.state_from_bytes(served.state_to_bytes(state))
        checks.append(served.predict(state, course_items or probe))
        if known:
            checks.append(served.predict(state, known))
    except ConfigError:
        raise
    except Exception as exc:  # arrays that do not fit the model's declared sizes
        raise ConfigError(f"the model fails its smoke test ({type(exc).__name__}: {exc})"[:300]) from None
    p = np.concatenate([np.ravel(c) for c in checks])
    if not (np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()):
        raise ConfigError("the model fails its smoke test: its predictions are not all probabilities; refused")


def course_coverage(session: Session, served: ServedModel) -> dict[str, int]:
    """How many of the course's items the model has seen in training (the others get its unseen-item
    prediction)."""
    course = list(session.scalars(select(t.Item.id)))
    known = int((served.vocab.item_codes(course) < served.vocab.n_items).sum()) if course else 0
    return {"course_items": len(course), "course_items_known": known}


STATES: Table = t.KTState.__table__  # type: ignore[assignment]
_ROW = select(STATES.c.model_version, STATES.c.last_response, STATES.c.answers, STATES.c.state).where(
    STATES.c.learner_id == bindparam("b_learner"))
_NEW_RESPONSES = (select(t.Response.id, t.Response.item_id, t.Response.correct)
                  .where(t.Response.learner_id == bindparam("b_learner"), t.Response.id > bindparam("b_after"))
                  .order_by(t.Response.id))
_UPDATE = update(STATES).where(  # only if no other request moved the state on since it was read
    STATES.c.learner_id == bindparam("b_learner"), STATES.c.last_response == bindparam("b_last"),
    STATES.c.model_version == bindparam("b_version"))


def learner_state(session: Session, served: ServedModel, version: int, learner_id: str) -> tuple[OnlineState, int]:
    """(the learner's state under the active KT model, the number of answers in it), after stepping in
    the responses stored since it was last read; the new state is stored for the next read."""
    row = session.execute(_ROW, {"b_learner": learner_id}).first()
    if row is not None and row.model_version == version:
        state, last, answers = served.state_from_bytes(row.state), row.last_response, row.answers
    else:  # nothing stored yet, or a state under another model: start from the first response
        state, last, answers = served.new_state(), 0, 0
    new = session.execute(_NEW_RESPONSES, {"b_learner": learner_id, "b_after": last}).all()
    if not new:
        return state, answers
    skills = {i: sk for i, sk in session.execute(select(t.Item.id, t.Item.skills).where(t.Item.id.in_({r.item_id for r in new})))}
    for r in new:
        served.step(state, r.item_id, skills.get(r.item_id, []), r.correct)
    values = {"model_version": version, "last_response": new[-1].id, "answers": answers + len(new),
              "state": served.state_to_bytes(state)}
    with write_lock(session.get_bind().engine):
        try:
            if row is None:
                session.execute(insert(STATES), {"learner_id": learner_id, **values})
            else:  # a concurrent read that stored first stored the same steps, or more: keep its state
                session.execute(_UPDATE, {**values, "b_learner": learner_id, "b_last": row.last_response,
                                          "b_version": row.model_version})
            session.commit()
        except IntegrityError:  # another read inserted this learner's first state first
            session.rollback()
    return state, answers + len(new)


def course_skills(tracker: Tracker) -> Callable[[str], list[str]]:
    """The skills of a course item by name (what a KT model uses for items it has not seen)."""

    def skills_of(item: str) -> list[str]:
        i = tracker.item_index[item]
        return [str(tracker.skill_ids[k]) for k in tracker.link_skill[tracker.item_ptr[i]: tracker.item_ptr[i + 1]]]

    return skills_of


def predict(served: ServedModel, state: OnlineState, tracker: Tracker, items: list[str]) -> np.ndarray:
    """P(correct) of each course item named as the learner's next response."""
    return served.predict(state, items, course_skills(tracker))


def skill_predictions(served: ServedModel, state: OnlineState, tracker: Tracker) -> list[dict[str, Any]]:
    """Per skill of the course: the mean P(correct) the KT model predicts over that skill's items, as the
    learner's next response, and how many items that is."""
    p = predict(served, state, tracker, [str(i) for i in tracker.item_ids])
    out = []
    for k, skill in enumerate(tracker.skill_ids):
        items = tracker.link_item[tracker.link_skill == k]
        if len(items):
            out.append({"skill": str(skill), "p_correct": round(float(p[items].mean()), 4), "items": len(items)})
    return out
