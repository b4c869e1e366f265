"""Learner profiles a teacher can read: "started like these learners" (the metric-based family of
meta-learning: a new learner is placed by their distance to prototypes of the training learners).

`LearnerProfiles.fit(tracker, train)` replays each training learner's first `answers` answers through
the learner model, takes their mastery per skill at that point, and groups those starts by k-means;
each profile keeps only aggregates (its centre, how many learners it holds, how they did on their next
`later` answers), never a training learner's id or answers, and every profile holds at least
`min_learners` learners. `match(start)` places a learner's own start (their mastery after the same
number of answers, or now if they have fewer) at the nearest profile.

Glossary: P profiles, S skills, L learners.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import numpy as np
from sklearn.cluster import KMeans

from metatutor.data.responses import Responses

if TYPE_CHECKING:
    from metatutor.learner.base import Tracker


@dataclass(frozen=True)
class ProfileMatch:
    """The profile nearest one learner's start."""

    profile: int  # 1-based, as shown to teachers
    learners: int  # training learners who started like this
    distance: float  # from the learner's start to the profile's centre (RMS over skills)
    strongest: tuple[str, ...]  # skills where the profile starts most above the cohort
    weakest: tuple[str, ...]  # and most below
    later_accuracy: float  # the profile's learners' share of right answers over their next answers
    later_answers: int
    provisional: bool  # the learner has fewer answers than the profiles were taken after

    @property
    def text(self) -> str:
        what = "is starting" if self.provisional else "started"
        traits = [f"strongest in {', '.join(self.strongest)}"] if self.strongest else []
        traits += [f"weakest in {', '.join(self.weakest)}"] if self.weakest else []
        return (f"{what} like {self.learners} learners of the training cohort (profile {self.profile}"
                f"{': ' + ', '.join(traits) if traits else ''}); those learners went on to answer "
                f"{self.later_accuracy:.0%} of their next {self.later_answers} questions right")

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "learners": self.learners, "distance": self.distance,
                "strongest": list(self.strongest), "weakest": list(self.weakest),
                "later_accuracy": self.later_accuracy, "later_answers": self.later_answers,
                "provisional": self.provisional, "text": self.text}


class LearnerProfiles:
    """Prototypes of training learners' starts (see the module docstring)."""

    def __init__(self, centres: np.ndarray, counts: np.ndarray, later: np.ndarray, skill_ids: list[str], *,
                 answers: int, later_answers: int) -> None:
        self.centres = np.asarray(centres, dtype=np.float64)  # (P, S) mastery after `answers` answers
        self.counts = np.asarray(counts, dtype=np.int64)  # (P,)
        self.later = np.asarray(later, dtype=np.float64)  # (P,) share right over the next `later_answers`
        self.skill_ids = list(skill_ids)
        self.answers, self.later_answers = answers, later_answers

    @classmethod
    def fit(cls, tracker: Tracker, train: Responses, *, answers: int = 10, later: int = 30, n: int = 8,
            min_learners: int = 20, max_learners: int = 3000, random_state: int = 0) -> Self | None:
        """Profiles of the training learners with more than `answers` answers (None when too few)."""
        rng = np.random.default_rng(random_state)
        eligible = np.flatnonzero(train.lengths > answers)
        if len(eligible) > max_learners:
            eligible = np.sort(rng.choice(eligible, size=max_learners, replace=False))
        starts, outcome = [], []
        for j in eligible:
            lo, hi = train.starts[j], train.starts[j + 1]
            history = [(str(train.item_ids[train.item[r]]), int(train.correct[r]), 60.0 * (r - lo))
                       for r in range(lo, lo + answers)]
            starts.append(tracker.mastery(tracker.replay(history)))
            outcome.append(train.correct[lo + answers: min(hi, lo + answers + later)].astype(np.float64))
        if len(starts) < min_learners:
            return None
        x = np.stack(starts)
        k, labels = 1, np.zeros(len(x), dtype=np.int64)
        for k in range(min(n, len(x) // min_learners), 0, -1):
            labels = KMeans(k, n_init=4, random_state=random_state).fit_predict(x) if k > 1 else np.zeros(len(x), int)
            counts = np.bincount(labels, minlength=k)
            if counts.min() >= min_learners:
                break
        centres = np.stack([x[labels == p].mean(0) for p in range(k)])
        right = np.array([sum(outcome[i].sum() for i in np.flatnonzero(labels == p)) for p in range(k)])
        total = np.array([sum(len(outcome[i]) for i in np.flatnonzero(labels == p)) for p in range(k)])
        return cls(centres, counts, right / np.maximum(total, 1), [str(s) for s in tracker.skill_ids], answers=answers,
                   later_answers=later)

    def match(self, start: np.ndarray, *, answers: int, top: int = 2) -> ProfileMatch:
        """The profile nearest `start` (S,), a learner's mastery after `answers` answers."""
        d = np.sqrt(((self.centres - np.asarray(start)[None, :]) ** 2).mean(1))
        p = int(np.argmin(d))
        lift = self.centres[p] - (self.counts @ self.centres) / self.counts.sum()
        order = np.argsort(lift)
        strongest = tuple(self.skill_ids[k] for k in order[::-1][:top] if lift[k] > 0)
        weakest = tuple(self.skill_ids[k] for k in order[:top] if lift[k] < 0)
        return ProfileMatch(p + 1, int(self.counts[p]), float(d[p]), strongest, weakest, float(self.later[p]),
                            self.later_answers, answers < self.answers)

    def to_dict(self) -> dict[str, Any]:
        return {"centres": self.centres.tolist(), "counts": self.counts.tolist(), "later": self.later.tolist(),
                "skill_ids": self.skill_ids, "answers": self.answers, "later_answers": self.later_answers}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(np.asarray(data["centres"]), np.asarray(data["counts"]), np.asarray(data["later"]),
                   list(data["skill_ids"]), answers=int(data["answers"]), later_answers=int(data["later_answers"]))
