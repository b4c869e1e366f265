"""`LearnerState`: one learner as every decision sees them, whatever the learner model.

The model-agnostic bookkeeping lives here (answers so far, answers and wrong answers per skill, the
recent history, the goals and what they require, an FSRS card per practised skill, when each skill was
first mastered, progress snapshots); the learner model's own beliefs sit in `belief`, which only the
model reads. `record` is the one rule that updates the bookkeeping after an answer.

Glossary: S skills, G goal skills, K skills of one item.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fsrs import Card, Rating, Scheduler

EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
# the latest answer time a state can take: its FSRS dates (EPOCH + time + intervals of up to a century) stay
# before the year 10000, which Python's dates cannot pass
LATEST = (dt.datetime(9800, 1, 1, tzinfo=dt.UTC) - EPOCH).total_seconds()
DAY = 86_400.0


@dataclass
class LearnerState:
    """One learner; a learner model's `observe` changes it in place after each answer."""

    goals: np.ndarray  # (G,) goal skill indices
    closure: np.ndarray  # (S,) bool: the goals and everything they require
    belief: Any  # the learner model's own part (only the model that made it reads it)
    count: np.ndarray  # (S,) answers seen per skill
    wrong: np.ndarray  # (S,) wrong answers per skill
    time: float = 0.0  # the learner's clock (seconds); a caller may move it forward to ask "now"
    mastered_once: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (S,)
    cards: dict[int, Card] = field(default_factory=dict)  # FSRS card per practised skill
    history: list[tuple[int, int, float]] = field(default_factory=list)  # (item, correct, time)
    answers: int = 0  # answers seen (the history may keep only the last of them)
    # every `progress_every` answers the model's snapshot (`Tracker.snapshot`); the last two are kept, so
    # recent progress needs no replay of the history
    marks: list[tuple[int, np.ndarray]] = field(default_factory=list)

    @property
    def ability(self) -> float:
        """The learner's overall level on the model's logit scale (0 before any answer); the same as
        `model.ability(state)`."""
        return float(getattr(self.belief, "ability", 0.0))


def new_bookkeeping(n_skills: int, goals: np.ndarray, closure: np.ndarray, belief: Any, *,
                    time: float) -> LearnerState:
    """A learner with no answers yet."""
    return LearnerState(goals=goals, closure=closure, belief=belief, count=np.zeros(n_skills, np.int64),
                        wrong=np.zeros(n_skills, np.int64), time=time, mastered_once=np.zeros(n_skills, dtype=bool))


def record(state: LearnerState, item: int, skills: np.ndarray, correct: int, now: float, *,
           mastered: np.ndarray, scheduler: Scheduler) -> None:
    """The bookkeeping of one answer at time `now` to `item` (skills `skills` (K,)); `mastered` (K,)
    says which of them the model holds mastered after it."""
    state.count[skills] += 1
    state.wrong[skills] += 0 if correct else 1
    state.mastered_once[skills] |= mastered
    when = EPOCH + dt.timedelta(seconds=now)
    for s in skills.tolist():
        card = state.cards.get(s) or Card(card_id=s + 1, due=when)
        state.cards[s], _ = scheduler.review_card(card, Rating.Good if correct else Rating.Again, when)
    state.history.append((int(item), int(correct), now))
    state.time = now
    state.answers += 1


def retrievability(state: LearnerState, skill: int, scheduler: Scheduler) -> float:
    """FSRS probability of recall of a reviewed skill now (1.0 when never reviewed)."""
    card = state.cards.get(skill)
    if card is None:
        return 1.0
    return float(scheduler.get_card_retrievability(card, EPOCH + dt.timedelta(seconds=state.time)))


def bookkeeping_to_dict(state: LearnerState, *, keep_history: int) -> dict[str, Any]:
    """The model-agnostic part as JSON (the last `keep_history` answers of the history kept)."""
    return {"goals": state.goals.tolist(), "closure": state.closure.tolist(), "count": state.count.tolist(),
            "wrong": state.wrong.tolist(), "time": state.time, "mastered_once": state.mastered_once.tolist(),
            "cards": {str(k): c.to_dict() for k, c in state.cards.items()},
            "history": [list(h) for h in state.history[-keep_history:]],
            "answers": state.answers}


def bookkeeping_from_dict(data: dict[str, Any], belief: Any) -> LearnerState:
    """A state from `bookkeeping_to_dict`'s JSON and the model's belief."""
    return LearnerState(
        goals=np.asarray(data["goals"], dtype=np.int64), closure=np.asarray(data["closure"], dtype=bool),
        belief=belief, count=np.asarray(data["count"], dtype=np.int64), wrong=np.asarray(data["wrong"], dtype=np.int64),
        time=float(data["time"]), mastered_once=np.asarray(data["mastered_once"], dtype=bool),
        cards={int(k): Card.from_dict(v) for k, v in data["cards"].items()},
        history=[(int(i), int(y), float(t)) for i, y, t in data["history"]],
        answers=int(data.get("answers", len(data["history"]))))  # states stored before `answers` existed
