"""`SkillTracker`: a hand-built learner model (one implementation of `Tracker`, the baseline), and
`SkillBelief`, one learner's beliefs under it.

Per skill, a BKT-style belief P(mastered) (prior, learn, guess, slip fitted by the project's BKT), with
three additions a planner needs:

* items differ: P(correct | item) = P(all its skills mastered) · (1 − slip_i) + (1 − P(all)) · guess_i,
  shifted on the logit scale by a per-item offset estimated from the data;
* a multi-skill item is conjunctive: the posterior of each of its skills accounts for the others;
* learning needs prerequisites: the learn rate of a skill is multiplied, per prerequisite, by
  P(prerequisite mastered) + (1 − P) · `prerequisite_penalty`; beliefs decay with time since practice
  (`forget_days`); a learner ability θ (a logit shift on every answer, grid posterior) and three
  learning-speed classes (factors on every learn rate, mixed by their posterior).

Glossary: I items, S skills, Z item-skill links, C speed classes, G ability grid points.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.learner.base import Gain, Tracker
from metatutor.learner.course import CourseMap
from metatutor.learner.graph import SkillGraph
from metatutor.learner.state import DAY, LearnerState, bookkeeping_from_dict, bookkeeping_to_dict
from metatutor.models.base import logit, sigmoid
from metatutor.models.bkt import BKT

ABILITY_GRID = np.linspace(-3.0, 3.0, 25)  # (G,) support of the learner ability θ


@dataclass(frozen=True)
class TrackerConfig:
    mastery_threshold: float = 0.95  # P(mastered) that counts as mastered
    prerequisite_penalty: float = 0.3  # learn-rate factor per unmastered prerequisite
    forget_days: float = 60.0  # time constant of belief decay without practice, in days
    offset_shrinkage: float = 10.0  # pseudo-responses pulling item offsets toward 0
    desired_retention: float = 0.9  # FSRS: review a recall-like skill when recall drops below this
    ability_sd: float = 1.0  # prior sd of the learner's ability θ (a logit shift on every answer); 0: none
    speeds: tuple[float, ...] = (0.4, 1.0, 2.0)  # learning-speed classes: factors on every learn rate
    speed_prior: tuple[float, ...] = (0.25, 0.5, 0.25)  # prior weight of each class
    progress_every: int = 20  # answers between the mastery snapshots that recent progress is measured from


@dataclass
class SkillBelief:
    """A learner's beliefs under a `SkillTracker`."""

    p: np.ndarray  # (C, S) P(mastered) as of `last[s]`, under each learning-speed class
    last: np.ndarray  # (S,) time of the last practice (seconds)
    ability_loglik: np.ndarray  # (G,) log posterior of θ on a grid
    speed_loglik: np.ndarray  # (C,) log posterior of the speed class

    @property
    def speed_weights(self) -> np.ndarray:
        w = np.exp(self.speed_loglik - self.speed_loglik.max())
        return w / w.sum()

    @property
    def ability(self) -> float:
        """Posterior mean of θ (0 before any answer)."""
        if not len(self.ability_loglik):
            return 0.0
        w = np.exp(self.ability_loglik - self.ability_loglik.max())
        return float((w * ABILITY_GRID).sum() / w.sum())


class SkillTracker(Tracker):
    """Per-skill beliefs over a course's items, fitted from logs (`fit`) or given (`__init__`)."""

    name = "tracker"

    def __init__(self, *, graph: SkillGraph, item_ids: list[str], item_skills: list[list[str]],
                 params: dict[str, np.ndarray] | None = None, offset: np.ndarray | None = None,
                 config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.course = CourseMap(graph, item_ids, item_skills)
        n = self.course.n_skills
        defaults = {"prior": 0.3, "learn": 0.15, "guess": 0.2, "slip": 0.1}
        self.params = {k: np.full(n, v) for k, v in defaults.items()} | (params or {})
        self.offset = np.zeros(len(item_ids)) if offset is None else np.asarray(offset, dtype=np.float64)
        self._prereq_pad = self.course.prereq_pad
        lengths = np.maximum(self.course.item_lengths, 1)
        g, s = self.params["guess"], self.params["slip"]
        guess_i = self.course.per_item(g) / lengths
        slip_i = self.course.per_item(s) / lengths
        guess_i[self.course.item_lengths == 0], slip_i[self.course.item_lengths == 0] = 0.5, 0.5
        self.logit_known = logit(1.0 - slip_i) - self.offset  # (I,) logit P(correct | skills mastered), θ = 0
        self.logit_guess = logit(guess_i) - self.offset  # (I,) logit P(correct | not)

    @classmethod
    def fit(cls, responses: Responses, graph: SkillGraph | None = None, *,
            config: TrackerConfig | None = None, random_state: int | None = 0) -> Self:
        """Fit BKT and the item offsets on training learners' logs; `graph` defaults to one estimated
        from the same logs."""
        graph = graph or SkillGraph.estimate(responses)
        bkt = BKT(forgetting=False).fit(responses)
        codes = bkt.vocab_.skill_codes(list(graph.skills))
        params = {k: bkt.params_[k][codes] for k in ("prior", "learn", "guess", "slip")}
        pred = bkt.predict_proba(responses)
        cfg = config or TrackerConfig()
        size = len(responses.item_ids)  # codes index the (possibly shared, larger) vocabulary
        n = np.bincount(responses.item, minlength=size)
        mean_y = np.bincount(responses.item, weights=responses.correct, minlength=size)
        mean_p = np.bincount(responses.item, weights=pred, minlength=size)
        y, p = (mean_y + 0.5) / (n + 1), (mean_p + 0.5) / (n + 1)
        offset = (logit(p) - logit(y)) * n / (n + cfg.offset_shrinkage)
        present = np.flatnonzero(n > 0)  # items answered in these logs
        course = CourseMap.from_responses(responses, graph)
        return cls(graph=graph, item_ids=list(course.item_ids), item_skills=course.item_skill_names(), params=params,
                   offset=offset[present], config=cfg)

    # ----- settings the interface reads ------------------------------------------------------------
    @property
    def mastery_threshold(self) -> float:  # type: ignore[override]
        return self.config.mastery_threshold

    @property
    def desired_retention(self) -> float:  # type: ignore[override]
        return self.config.desired_retention

    @property
    def progress_every(self) -> int:  # type: ignore[override]
        return self.config.progress_every

    # ----- beliefs ---------------------------------------------------------------------------
    def _new_belief(self, time: float) -> SkillBelief:
        n, sd = self.n_skills, self.config.ability_sd
        prior = -0.5 * (ABILITY_GRID / sd) ** 2 if sd > 0 else np.where(ABILITY_GRID == 0, 0.0, -np.inf)
        return SkillBelief(p=np.tile(self.params["prior"], (len(self.config.speeds), 1)), last=np.full(n, time),
                           ability_loglik=prior, speed_loglik=np.log(np.asarray(self.config.speed_prior, dtype=np.float64)))

    def _start_clock(self, state: LearnerState, when: float) -> None:
        state.belief.last[:] = when

    def answer_probabilities(self, state: LearnerState, items: np.ndarray | slice = slice(None)) -> tuple[Any, Any]:
        """P(correct | skills mastered) and P(correct | not) of `items` for this learner's ability."""
        theta = state.belief.ability
        return sigmoid(self.logit_known[items] + theta), sigmoid(self.logit_guess[items] + theta)

    def mastery(self, state: LearnerState, time: float | None = None) -> np.ndarray:
        """(S,) P(mastered) now, after decay since each skill's last practice (mixed over speed classes)."""
        return state.belief.speed_weights @ self.class_mastery(state, time)

    def class_mastery(self, state: LearnerState, time: float | None = None) -> np.ndarray:
        """(C, S) P(mastered) now under each speed class."""
        b: SkillBelief = state.belief
        now = state.time if time is None else time
        return b.p * np.exp(-np.maximum(now - b.last, 0.0) / (self.config.forget_days * DAY))

    def mastery_sd(self, state: LearnerState) -> np.ndarray:
        """(S,) the spread of mastery over the speed classes and the evidence seen on each skill:
        sqrt(spread² + m (1 − m) / (answers + 2))."""
        m = self.mastery(state)
        spread = np.sqrt(state.belief.speed_weights @ (self.class_mastery(state) - m) ** 2)
        return np.sqrt(spread ** 2 + m * (1 - m) / (state.count + 2))

    def p_correct(self, state: LearnerState, items: np.ndarray | None = None, *,
                  mastery: np.ndarray | None = None) -> np.ndarray:
        """(I,) predicted P(correct) of every item now (or of `items`)."""
        m = self.mastery(state) if mastery is None else mastery
        log_m = np.log(np.clip(m[self.link_skill], 1e-12, 1.0))
        know = np.exp(np.bincount(self.link_item, weights=log_m, minlength=self.n_items))
        p_known, p_guess = self.answer_probabilities(state)
        p = know * p_known + (1.0 - know) * p_guess
        return p if items is None else p[np.asarray(items, dtype=np.int64)]

    def beliefs(self, state: LearnerState) -> tuple[np.ndarray, np.ndarray]:
        m = self.mastery(state)
        return m, self.p_correct(state, mastery=m)

    def p_correct_skills(self, state: LearnerState, skill_sets: Sequence[Sequence[int]]) -> np.ndarray:
        """Items without an offset: BKT's guess and slip averaged over their skills."""
        m, theta = self.mastery(state), state.belief.ability
        out = np.empty(len(skill_sets))
        for j, skills in enumerate(skill_sets):
            sk = np.asarray(skills, dtype=np.int64)
            if not len(sk):
                out[j] = float(sigmoid(np.array(theta)))
                continue
            know = float(np.prod(m[sk]))
            known = sigmoid(logit(1.0 - self.params["slip"][sk].mean()) + theta)
            guess = sigmoid(logit(self.params["guess"][sk].mean()) + theta)
            out[j] = know * known + (1.0 - know) * guess
        return out

    def ability(self, state: LearnerState) -> float:
        return float(state.belief.ability)

    def learn_rate(self, mastery: np.ndarray) -> np.ndarray:
        """(S,) P(learning a skill from one practice), gated by its prerequisites' mastery."""
        penalty = self.config.prerequisite_penalty
        m = np.append(mastery, 1.0)[self._prereq_pad]  # padding reads 1.0: no effect on the product
        return self.params["learn"] * np.prod(m + (1.0 - m) * penalty, axis=1)

    def learn_rates(self, state: LearnerState, mastery: np.ndarray) -> np.ndarray:
        """The learn rate times the learner's expected speed factor."""
        speed = float(state.belief.speed_weights @ np.asarray(self.config.speeds))
        return self.learn_rate(mastery) * speed

    def expected_gain(self, state: LearnerState, weight: np.ndarray, mastery: np.ndarray | None = None,
                      gate: np.ndarray | None = None) -> np.ndarray:
        """(I,) expected rise of Σ_s weight_s · P(s mastered) from answering each item (the posterior
        is a martingale, so the rise is the chance of learning each unmastered skill). `gate`: the
        prerequisites' mastery that gates learning (default: `mastery`)."""
        per_skill = self.skill_gain(state, weight, mastery, gate)
        return np.bincount(self.link_item, weights=per_skill[self.link_skill], minlength=self.n_items)

    def skill_gain(self, state: LearnerState, weight: np.ndarray, mastery: np.ndarray | None = None,
                   gate: np.ndarray | None = None) -> np.ndarray:
        """(S,) each skill's part of `expected_gain`: weight_s · (1 − m_s) · its learn rate."""
        m = self.mastery(state) if mastery is None else mastery
        return weight * (1.0 - m) * self.learn_rate(m if gate is None else gate)

    def practice_gain(self, state: LearnerState, weight: np.ndarray, *, belief: np.ndarray | None = None,
                      gate: np.ndarray | None = None) -> Gain:
        per_skill = self.skill_gain(state, weight, belief, gate)
        return Gain(np.bincount(self.link_item, weights=per_skill[self.link_skill], minlength=self.n_items), per_skill)

    def diagnosticity(self, state: LearnerState, items: np.ndarray) -> np.ndarray:
        """P(correct | skills mastered) − P(correct | not)."""
        known, guess = self.answer_probabilities(state, items)
        return np.asarray(known - guess)

    # ----- answers -------------------------------------------------------------------------------
    def update(self, state: LearnerState, item: int, correct: int, *, time: float | None = None) -> None:
        """One answer at `time` (default: the state's clock) without `observe`'s clock rules."""
        self._apply(state, int(item), int(correct), state.time if time is None else float(time))

    def _step(self, state: LearnerState, item: int, correct: int, now: float,
              evidence: dict[str, Any] | None) -> np.ndarray:
        """Bayes update of the item's skills on one answer, then learning."""
        b: SkillBelief = state.belief
        mc = self.class_mastery(state, now)  # (C, S)
        m = b.speed_weights @ mc
        skills = self.course.skills_of(item)
        p_known, p_guess = self.answer_probabilities(state, np.array([item]))
        lk_a = float(p_known[0] if correct else 1.0 - p_known[0])
        lk_g = float(p_guess[0] if correct else 1.0 - p_guess[0])
        if self.config.ability_sd > 0:
            know = float(np.prod(m[skills]))
            p_grid = know * sigmoid(self.logit_known[item] + ABILITY_GRID) \
                + (1.0 - know) * sigmoid(self.logit_guess[item] + ABILITY_GRID)  # (G,)
            b.ability_loglik = b.ability_loglik + np.log(p_grid if correct else 1.0 - p_grid)
        know_c = np.prod(mc[:, skills], axis=1)  # (C,)
        b.speed_loglik = b.speed_loglik + np.log(know_c * lk_a + (1.0 - know_c) * lk_g)
        speeds = np.asarray(self.config.speeds)[:, None]
        learn = np.minimum(self.learn_rate(m)[skills][None, :] * speeds, 0.9)  # (C, K)
        cur = mc[:, skills]  # (C, K)
        new = np.empty_like(cur)
        for j in range(len(skills)):
            others = np.prod(np.delete(cur, j, axis=1), axis=1)  # (C,)
            mastered = cur[:, j] * (others * lk_a + (1.0 - others) * lk_g)
            post = mastered / (mastered + (1.0 - cur[:, j]) * lk_g)
            new[:, j] = post + (1.0 - post) * learn[:, j]
        b.p[:, skills] = new
        b.last[skills] = now
        return np.asarray((b.speed_weights @ new) >= self.config.mastery_threshold)

    # ----- progress: snapshots of the mastery as of each skill's last practice, decayed when read ---------
    def snapshot(self, state: LearnerState) -> np.ndarray:
        b: SkillBelief = state.belief
        return np.stack([b.speed_weights @ b.p, b.last])

    def progress(self, state: LearnerState, skills: np.ndarray) -> tuple[int, float] | None:
        """(n, rise of the mean mastery of `skills` over the last n answers), n between `progress_every`
        and twice that, both masteries taken now (the earlier one decayed to now as if the n answers had
        not happened); None before `2 · progress_every` answers."""
        old = self._progress_mark(state)
        if old is None:
            return None
        answers, (then, last) = old[0], old[1]
        decay = np.exp(-np.maximum(state.time - last, 0.0) / (self.config.forget_days * DAY))
        return state.answers - answers, float(self.mastery(state)[skills].mean() - (then * decay)[skills].mean())

    # ----- persistence -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the tracker (JSON-ready; no pickle)."""
        return {**self.course.to_dict(), "params": {k: v.tolist() for k, v in self.params.items()},
                "offset": self.offset.tolist(), "config": asdict(self.config)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        config = data.get("config", {})
        config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
        course = CourseMap.from_dict(data)
        return cls(graph=course.graph, item_ids=list(data["items"]), item_skills=[list(s) for s in data["item_skills"]],
                   params={k: np.asarray(v, dtype=np.float64) for k, v in data["params"].items()},
                   offset=np.asarray(data["offset"], dtype=np.float64), config=TrackerConfig(**config))

    def with_course(self, course: CourseMap, difficulty: dict[str, float] | None = None) -> SkillTracker:
        """Skills keep their BKT parameters (defaults for new skills), items their offsets; a new item's
        offset is its `difficulty` where given (logits; harder is higher), else 0."""
        old = {s: k for k, s in enumerate(self.skill_ids)}
        defaults = {"prior": 0.3, "learn": 0.15, "guess": 0.2, "slip": 0.1}
        params = {name: np.array([v[old[s]] if s in old else defaults[name] for s in course.skill_ids])
                  for name, v in self.params.items()}
        given = difficulty or {}
        offset = np.array([self.offset[self.item_index[i]] if i in self.item_index else float(given.get(i, 0.0))
                           for i in course.item_ids])
        return type(self)(graph=course.graph, item_ids=list(course.item_ids), item_skills=course.item_skill_names(),
                          params=params, offset=offset, config=self.config)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        (p / "learner.json").write_text(json.dumps({"kind": self.name, **self.to_dict()}))
        return p

    @classmethod
    def load(cls, path: str | Path) -> Self:
        data = json.loads((Path(path) / "learner.json").read_text())
        if data.get("kind") != cls.name:
            raise ConfigError(f"{path} holds a {data.get('kind')!r} learner model, not a skill tracker")
        return cls.from_dict(data)

    def state_to_dict(self, state: LearnerState, *, keep_history: int = 200) -> dict[str, Any]:
        """A learner's state as JSON (the service stores it; the last `keep_history` answers are kept).
        The layout is the one this tracker has always written, so stored states stay readable."""
        b: SkillBelief = state.belief
        out = bookkeeping_to_dict(state, keep_history=keep_history)
        return {"p": b.p.tolist(), "last": b.last.tolist(), **out, "ability_loglik": b.ability_loglik.tolist(),
                "speed_loglik": b.speed_loglik.tolist(),
                "marks": [[n, s[0].tolist(), s[1].tolist()] for n, s in state.marks]}

    def state_from_dict(self, data: dict[str, Any]) -> LearnerState:
        belief = SkillBelief(p=np.asarray(data["p"], dtype=np.float64), last=np.asarray(data["last"], dtype=np.float64),
                             ability_loglik=np.asarray(data["ability_loglik"], dtype=np.float64),
                             speed_loglik=np.asarray(data["speed_loglik"], dtype=np.float64))
        state = bookkeeping_from_dict(data, belief)
        state.marks = [(int(n), np.stack([np.asarray(m, dtype=np.float64), np.asarray(last, dtype=np.float64)]))
                       for n, m, last in data.get("marks", [])]  # states stored before marks existed have none
        return state

    def _belief_to_dict(self, belief: Any) -> dict[str, Any]:  # the flat layout above holds it
        raise NotImplementedError

    def _belief_from_dict(self, data: dict[str, Any]) -> Any:
        raise NotImplementedError
