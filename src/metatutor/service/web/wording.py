"""What the dashboard says to people: skill names, a recommendation's reason in a learner's words (the
policy's technical reason goes to the teacher's view), an assessment's level and why it stopped.

The learner's reason is built from what they can check themselves: their last answers on the skill, whether
the new item is predicted easier or harder than the last one, whether the skill is new and its
prerequisites done, or whether it is a review."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from metatutor.learner import LearnerState, Tracker
from metatutor.policy.base import Recommendation

COUNTS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
STEP = 0.06  # a difference in predicted success that counts as "a step easier" / "harder"


@lru_cache(maxsize=1)
def _builtin_names() -> dict[str, str]:
    try:
        from metatutor.content import SKILLS
    except ImportError:  # the content package needs sympy; a course from logs does without
        return {}
    return dict(SKILLS)


def skill_name(skill: str) -> str:
    """A skill's name for people: the built-in course's names, otherwise its id."""
    return _builtin_names().get(skill, skill)


def _topic(skill: str) -> str:
    name = skill_name(skill)
    return name[0].lower() + name[1:] if name != skill else name


def misconception_label(misconception_id: str) -> str:
    """`add-denominators` -> `Add denominators`."""
    text = misconception_id.replace("-", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _count(n: int) -> str:
    return COUNTS.get(n, str(n))


def student_reason(rec: Recommendation, tracker: Tracker, state: LearnerState) -> str:
    """Why this item, in words the learner can check against their own answers."""
    topic = _topic(rec.skill) if rec.skill else "this"
    if rec.kind == "review":
        return f"You mastered {topic} earlier; a quick review so that it stays fresh."
    found = np.flatnonzero(tracker.skill_ids == rec.skill)
    if not len(found):
        return "The next question on your plan."
    skill = int(found[0])
    runs = [(item, y) for item, y, _ in state.history if skill in tracker.course.skills_of(item)]
    if not runs:
        before = tracker.prereq[skill]
        if len(before):
            names = ", ".join(_topic(str(tracker.skill_ids[q])) for q in before[:3])
            mastery = tracker.mastery(state)
            if all(mastery[q] >= tracker.mastery_threshold for q in before):
                return f"A new topic: {topic}. You are ready for it: you have mastered {names}."
            return f"A new topic: {topic}, which builds on {names}."
        return f"A first question on {topic}, to see where you start."
    last_item, last_y = runs[-1]
    streak = 1
    while streak < len(runs) and runs[-streak - 1][1] == last_y:
        streak += 1
    p_last = float(tracker.p_correct(state, np.array([last_item]))[0])
    easier, harder = rec.predicted > p_last + STEP, rec.predicted < p_last - STEP
    back = state.history and skill not in tracker.course.skills_of(state.history[-1][0])
    if back:
        lead = f"Back to {topic}"
        lead += ": you got the last one right" if last_y else ": the last one was not right yet"
    elif streak >= 2:
        lead = f"You got the last {_count(streak)} questions on {topic} {'right' if last_y else 'wrong'}"
    else:
        lead = f"{'Right' if last_y else 'Not quite'} last time"
    if easier:
        tail = "this one is a step easier"
    elif harder:
        tail = "this one is a step harder"
    elif last_y:
        tail = "one more to make it stick" if not back else "here is one more"
    else:
        tail = "here is another one like it, with hints if you want them"
    return f"{lead}; {tail}."


def level_text(theta: float, se: float) -> dict[str, str]:
    """An assessment's estimate for people: the figure, its ± and what they mean."""
    share = 0.5 * (1.0 + math.erf(theta / math.sqrt(2.0)))
    return {"figure": f"{theta:+.1f}", "pm": f"{se:.1f}",
            "meaning": (f"On this scale 0 is an average learner and most learners are between −2 and +2: this "
                        f"level is above about {100 * share:.0f}% of them. The ± is how unsure the estimate "
                        "still is; each answer makes it smaller.")}


def stop_text(reason: str | None, max_items: int) -> str:
    return {"max_items": f"it reached its {max_items} questions",
            "se_target": "the estimate was precise enough",
            "classified": "it was clear on which side of the pass mark the level is"}.get(reason or "", "it ended")
