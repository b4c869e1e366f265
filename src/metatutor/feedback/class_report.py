"""The teacher's view of a class: a learners × skills mastery heatmap, learners at risk (low mastery or
stalled progress) and the most-missed items."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from metatutor.learner import LearnerState, Tracker

LOW = 0.5  # mean mastery of the goals' skills below this is at risk
STALL_GAIN = 0.02  # mean mastery rise over the recent answers (20 to 39 by default) below this is stalled


@dataclass
class ClassReport:
    skills: list[str]
    heatmap: list[dict[str, Any]]  # {"learner", "skill", "mastery"}: Vega-Lite rect data
    at_risk: list[dict[str, Any]]  # {"learner", "mastery", "recent_gain", "why"}
    most_missed: list[dict[str, Any]]  # {"item", "attempts", "wrong", "error_rate"}
    skill_means: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        lines = [f"### Class report: {len({h['learner'] for h in self.heatmap})} learners", "",
                 "| skill | mean mastery |", "|---|---|"]
        lines += [f"| {s} | {v:.2f} |" for s, v in self.skill_means.items()]
        lines += ["", "**At risk:**"] + [f"- {r['learner']}: {r['why']}" for r in self.at_risk] or ["- none"]
        lines += ["", "**Most-missed items:**"]
        lines += [f"- {m['item']}: {m['wrong']} of {m['attempts']} wrong" for m in self.most_missed]
        return "\n".join(lines) + "\n"


def class_report(tracker: Tracker, states: dict[str, LearnerState], *, n_items: int = 10,
                 min_attempts: int = 3) -> ClassReport:
    """Report on a class of learners (`learner id -> state`)."""
    skills = list(tracker.graph.skills)
    heat, risk = [], []
    attempts = np.zeros(len(tracker.item_ids), dtype=np.int64)
    wrong = np.zeros(len(tracker.item_ids), dtype=np.int64)
    means = np.zeros(len(skills))
    for name, state in states.items():
        m = tracker.mastery(state)
        means += m
        heat += [{"learner": name, "skill": s, "mastery": round(float(m[k]), 4)} for k, s in enumerate(skills)]
        for item, y, _ in state.history:
            attempts[item] += 1
            wrong[item] += 1 - y
        closure = state.closure if state.closure.any() else np.ones(len(skills), dtype=bool)
        level = float(m[closure].mean())
        recent = tracker.progress(state, closure)
        gain = None if recent is None else recent[1]
        why = []
        if level < LOW:
            why.append(f"mean mastery of the goals {level:.2f} < {LOW}")
        if recent is not None and recent[1] < STALL_GAIN:
            why.append(f"stalled: {recent[1]:+.3f} mastery over the last {recent[0]} answers")
        if why:
            risk.append({"learner": name, "mastery": level, "recent_gain": gain, "why": "; ".join(why)})
    rate = np.where(attempts >= min_attempts, wrong / np.maximum(attempts, 1), -1.0)
    top = [i for i in np.argsort(-rate, kind="stable")[:n_items] if rate[i] >= 0]
    missed = [{"item": str(tracker.item_ids[i]), "attempts": int(attempts[i]), "wrong": int(wrong[i]),
               "error_rate": float(rate[i])} for i in top]
    n = max(len(states), 1)
    return ClassReport(skills, heat, sorted(risk, key=lambda r: r["mastery"]), missed,
                       {s: float(means[k] / n) for k, s in enumerate(skills)})

