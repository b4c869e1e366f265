"""Why a recommendation: which of the learner's earlier answers moved it most.

A recommendation rests on two of the learner model's beliefs: the predicted success on the item and the
mastery of the skill it works on. `explain_recommendation` attributes both to the learner's earlier
answers by exact Shapley values (`models.explain.shapley_values`) over the last `window` answers, each
subset replayed into a fresh state (`Tracker.replay`), the earlier answers kept as context; values are on the
logit scale. A history of at most `window` answers is attributed whole and exactly.

Example:
    >>> from metatutor.data.simulator import Simulator
    >>> from metatutor.learner import SkillTracker, course_graph
    >>> sim = Simulator(random_state=0)
    >>> tracker = SkillTracker.fit(sim.simulate(100, 30), course_graph(sim.course))
    >>> history = [(str(tracker.item_ids[0]), 1, 0.0), (str(tracker.item_ids[1]), 0, 60.0)]
    >>> why = explain_recommendation(tracker, history, str(tracker.item_ids[0]), str(tracker.skill_ids[0]))
    >>> len(why["success"])
    2
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from metatutor.errors import ConfigError
from metatutor.learner import Tracker
from metatutor.models.base import logit
from metatutor.models.explain import WINDOW, shapley_values


def explain_recommendation(tracker: Tracker, history: Sequence[tuple[str, int, float]], item: str, skill: str, *,
                           window: int = WINDOW, goals: list[str] | None = None, top: int = 3) -> dict[str, Any]:
    """For a recommended `item` working on `skill`, after the answers `history` ((item id, correct, time) in
    order): the answers that moved its predicted success and the skill's mastery most, with their Shapley
    values (logit scale), the method, and the two beliefs with and without the attributed answers."""
    index = tracker.item_index.get(str(item))
    skills = [str(s) for s in tracker.skill_ids]
    if index is None or skill not in skills:
        raise ConfigError(f"the course has no item {item!r} or no skill {skill!r}")
    s = skills.index(skill)
    n = len(history)
    attributed = np.arange(max(0, n - window), n)

    def beliefs(masks: np.ndarray) -> np.ndarray:
        out = np.empty((len(masks), 2))
        for r, mask in enumerate(masks):
            keep = np.ones(n, dtype=bool)
            keep[attributed] = mask
            state = tracker.replay([h for h, k in zip(history, keep, strict=True) if k], goals)
            out[r] = logit(float(tracker.p_correct(state, np.array([index]))[0])), logit(float(tracker.mastery(state)[s]))
        return out

    cache: dict[bytes, np.ndarray] = {}

    def value(column: int) -> Any:
        def run(masks: np.ndarray) -> np.ndarray:
            key = masks.tobytes()
            if key not in cache:
                cache[key] = beliefs(masks)
            return cache[key][:, column]
        return run

    k = len(attributed)
    phi_success, phi_mastery = shapley_values(k, value(0)), shapley_values(k, value(1))
    ends = beliefs(np.array([[True] * k, [False] * k]))

    def ranked(phi: np.ndarray) -> list[dict[str, Any]]:
        order = np.argsort(-np.abs(phi), kind="stable")[:top]
        return [{"position": int(attributed[j]), "item": str(history[attributed[j]][0]),
                 "correct": bool(history[attributed[j]][1]), "contribution": round(float(phi[j]), 6)} for j in order]

    return {"item": item, "skill": skill, "method": "shapley" if k == n else "shapley-window",
            "exact": True, "attributed": k, "context": n - k,
            "success": ranked(phi_success), "mastery": ranked(phi_mastery),
            "p_success": float(1 / (1 + np.exp(-ends[0, 0]))), "p_success_without": float(1 / (1 + np.exp(-ends[1, 0]))),
            "mastery_now": float(1 / (1 + np.exp(-ends[0, 1]))), "mastery_without": float(1 / (1 + np.exp(-ends[1, 1])))}
