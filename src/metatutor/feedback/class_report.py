"""The teacher's view of a class: a learners × skills mastery heatmap, learners at risk (low mastery or
stalled progress) and the most-missed items."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from metatutor.policy.tracker import LearnerState, SkillTracker

LOW = 0.5  # mean mastery of the goals' skills below this is at risk
STALL_WINDOW = 20  # answers over which progress is measured
STALL_GAIN = 0.02  # mean mastery rise over the window below this is stalled


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


def class_report(tracker: SkillTracker, states: dict[str, LearnerState], *, n_items: int = 10,
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
        gain = _recent_gain(tracker, state, closure)
        why = []
        if level < LOW:
            why.append(f"mean mastery of the goals {level:.2f} < {LOW}")
        if gain is not None and gain < STALL_GAIN:
            why.append(f"stalled: +{gain:.3f} mastery over the last {STALL_WINDOW} answers")
        if why:
            risk.append({"learner": name, "mastery": level, "recent_gain": gain, "why": "; ".join(why)})
    rate = np.where(attempts >= min_attempts, wrong / np.maximum(attempts, 1), -1.0)
    top = [i for i in np.argsort(-rate, kind="stable")[:n_items] if rate[i] >= 0]
    missed = [{"item": str(tracker.item_ids[i]), "attempts": int(attempts[i]), "wrong": int(wrong[i]),
               "error_rate": float(rate[i])} for i in top]
    n = max(len(states), 1)
    return ClassReport(skills, heat, sorted(risk, key=lambda r: r["mastery"]), missed,
                       {s: float(means[k] / n) for k, s in enumerate(skills)})


def _recent_gain(tracker: SkillTracker, state: LearnerState, closure: np.ndarray) -> float | None:
    """Rise of the mean closure mastery over the last `STALL_WINDOW` answers (None with too few)."""
    if len(state.history) < 2 * STALL_WINDOW:
        return None
    from metatutor.feedback.report import replay

    goals = [str(tracker.skill_ids[g]) for g in state.goals]
    earlier = replay(tracker, [(str(tracker.item_ids[i]), y, t) for i, y, t in state.history[:-STALL_WINDOW]], goals)
    earlier.time = state.time
    return float(tracker.mastery(state)[closure].mean() - tracker.mastery(earlier)[closure].mean())
