"""`SkillTracker`: the learner model the practice policies plan with, and `LearnerState`, one learner's
beliefs under it.

Per skill, a BKT-style belief P(mastered) (prior, learn, guess, slip fitted by the project's BKT), with
three additions a planner needs:

* items differ: P(correct | item) = P(all its skills mastered) · (1 − slip_i) + (1 − P(all)) · guess_i,
  shifted on the logit scale by a per-item offset estimated from the data;
* a multi-skill item is conjunctive: the posterior of each of its skills accounts for the others;
* learning needs prerequisites: the learn rate of a skill is multiplied, per prerequisite, by
  P(prerequisite mastered) + (1 − P) · `prerequisite_penalty`; beliefs decay with time since practice
  (`forget_days`), and each skill also carries an FSRS card for recall-like reviewing.

Glossary: I items, S skills, Z item-skill links.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Self

import numpy as np
from fsrs import Card, Rating, Scheduler

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.models.base import logit, sigmoid
from metatutor.models.bkt import BKT
from metatutor.policy.graph import SkillGraph

EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
DAY = 86_400.0
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
class LearnerState:
    """One learner's beliefs; `SkillTracker.update` changes it in place after each answer."""

    p: np.ndarray  # (C, S) P(mastered) as of `last[s]`, under each learning-speed class
    last: np.ndarray  # (S,) time of the last practice (seconds)
    count: np.ndarray  # (S,) answers seen per skill
    wrong: np.ndarray  # (S,) wrong answers per skill
    goals: np.ndarray  # (G,) goal skill indices
    closure: np.ndarray  # (S,) bool: the goals and everything they require
    time: float = 0.0
    mastered_once: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (S,)
    cards: dict[int, Card] = field(default_factory=dict)
    history: list[tuple[int, int, float]] = field(default_factory=list)  # (item, correct, time)
    ability_loglik: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (G,) log posterior of θ on a grid
    speed_loglik: np.ndarray = field(default_factory=lambda: np.zeros(1))  # (C,) log posterior of speed class
    answers: int = 0  # answers seen (the history may keep only the last of them)
    # every `progress_every` answers a snapshot (answers, mastery as of each skill's last practice (S,),
    # last (S,)); the last two are kept, so recent progress needs no replay of the history
    marks: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)

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


class SkillTracker:
    """Per-skill beliefs over a course's items, fitted from logs (`fit`) or given (`__init__`)."""

    def __init__(self, *, graph: SkillGraph, item_ids: list[str], item_skills: list[list[str]],
                 params: dict[str, np.ndarray] | None = None, offset: np.ndarray | None = None,
                 config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.graph = graph
        self.skill_ids = np.asarray(graph.skills, dtype=object)
        index = {s: k for k, s in enumerate(graph.skills)}
        unknown = sorted({s for sk in item_skills for s in sk} - set(index))
        if unknown:
            raise ConfigError(f"items use skill(s) missing from the skill graph: {', '.join(unknown[:10])}")
        self.item_ids = np.asarray(item_ids, dtype=object)
        self.item_index = {str(x): i for i, x in enumerate(item_ids)}
        lengths = np.array([len(sk) for sk in item_skills], dtype=np.int64)
        self.item_ptr = np.r_[0, np.cumsum(lengths)]  # (I+1,)
        self.link_skill = np.array([index[s] for sk in item_skills for s in sk], dtype=np.int64)  # (Z,)
        self.link_item = np.repeat(np.arange(len(item_ids)), lengths)  # (Z,)
        n = len(graph.skills)
        defaults = {"prior": 0.3, "learn": 0.15, "guess": 0.2, "slip": 0.1}
        self.params = {k: np.full(n, v) for k, v in defaults.items()} | (params or {})
        self.offset = np.zeros(len(item_ids)) if offset is None else np.asarray(offset, dtype=np.float64)
        self.prereq = [np.array([index[p] for p in graph.prerequisites(s)], dtype=np.int64) for s in graph.skills]
        width = max((len(p) for p in self.prereq), default=0)
        # (S, width) prerequisite indices padded with S, which points at a 1.0 appended to the mastery vector
        self._prereq_pad = np.full((len(self.prereq), width), len(self.prereq), dtype=np.int64)
        for k, pre in enumerate(self.prereq):
            self._prereq_pad[k, :len(pre)] = pre
        self.skill_items = [np.unique(self.link_item[self.link_skill == k]) for k in range(n)]
        g, s = self.params["guess"], self.params["slip"]
        guess_i = np.bincount(self.link_item, weights=g[self.link_skill], minlength=len(item_ids)) / np.maximum(lengths, 1)
        slip_i = np.bincount(self.link_item, weights=s[self.link_skill], minlength=len(item_ids)) / np.maximum(lengths, 1)
        guess_i[lengths == 0], slip_i[lengths == 0] = 0.5, 0.5
        self.logit_known = logit(1.0 - slip_i) - self.offset  # (I,) logit P(correct | skills mastered), θ = 0
        self.logit_guess = logit(guess_i) - self.offset  # (I,) logit P(correct | not)
        self._scheduler = Scheduler(desired_retention=self.config.desired_retention, enable_fuzzing=False)

    @classmethod
    def fit(cls, responses: Responses, graph: SkillGraph | None = None, *,
            config: TrackerConfig | None = None, random_state: int | None = 0) -> Self:
        """Fit BKT and the item offsets on training learners' logs; `graph` defaults to one estimated
        from the same logs."""
        graph = graph or SkillGraph.estimate(responses)
        bkt = BKT(forgetting=False).fit(responses)
        skills = list(graph.skills)
        codes = bkt.vocab_.skill_codes(skills)
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
        item_ids = [str(x) for x in responses.item_ids[present]]
        all_skills = _item_skills(responses)
        item_skills = [all_skills[i] for i in present]
        return cls(graph=graph, item_ids=item_ids, item_skills=item_skills, params=params, offset=offset[present],
                   config=cfg)

    # ----- beliefs ---------------------------------------------------------------------------
    @property
    def n_skills(self) -> int:
        return len(self.skill_ids)

    def new_state(self, goals: list[str] | None = None, *, time: float = 0.0) -> LearnerState:
        """A new learner (population prior) working toward `goals` (default: every skill)."""
        names = list(self.graph.skills) if not goals else list(goals)
        closure_names = self.graph.closure(names)
        index = {s: k for k, s in enumerate(self.graph.skills)}
        closure = np.zeros(self.n_skills, dtype=bool)
        closure[[index[s] for s in closure_names]] = True
        n = self.n_skills
        sd = self.config.ability_sd
        prior = -0.5 * (ABILITY_GRID / sd) ** 2 if sd > 0 else np.where(ABILITY_GRID == 0, 0.0, -np.inf)
        speeds = len(self.config.speeds)
        return LearnerState(p=np.tile(self.params["prior"], (speeds, 1)), last=np.full(n, time), count=np.zeros(n, np.int64),
                            wrong=np.zeros(n, np.int64), goals=np.array([index[s] for s in names]),
                            closure=closure, time=time, mastered_once=np.zeros(n, dtype=bool), ability_loglik=prior,
                            speed_loglik=np.log(np.asarray(self.config.speed_prior, dtype=np.float64)))

    def answer_probabilities(self, state: LearnerState, items: np.ndarray | slice = slice(None)) -> tuple[Any, Any]:
        """P(correct | skills mastered) and P(correct | not) of `items` for this learner's ability."""
        theta = state.ability
        return sigmoid(self.logit_known[items] + theta), sigmoid(self.logit_guess[items] + theta)

    def mastery(self, state: LearnerState, time: float | None = None) -> np.ndarray:
        """(S,) P(mastered) now, after decay since each skill's last practice (mixed over speed classes)."""
        return state.speed_weights @ self.class_mastery(state, time)

    def class_mastery(self, state: LearnerState, time: float | None = None) -> np.ndarray:
        now = state.time if time is None else time
        return state.p * np.exp(-np.maximum(now - state.last, 0.0) / (self.config.forget_days * DAY))

    def p_correct(self, state: LearnerState, mastery: np.ndarray | None = None) -> np.ndarray:
        """(I,) predicted P(correct) of every item now."""
        m = self.mastery(state) if mastery is None else mastery
        log_m = np.log(np.clip(m[self.link_skill], 1e-12, 1.0))
        know = np.exp(np.bincount(self.link_item, weights=log_m, minlength=len(self.item_ids)))
        p_known, p_guess = self.answer_probabilities(state)
        return know * p_known + (1.0 - know) * p_guess

    def learn_rate(self, mastery: np.ndarray) -> np.ndarray:
        """(S,) P(learning a skill from one practice), gated by its prerequisites' mastery."""
        penalty = self.config.prerequisite_penalty
        m = np.append(mastery, 1.0)[self._prereq_pad]  # padding reads 1.0: no effect on the product
        return self.params["learn"] * np.prod(m + (1.0 - m) * penalty, axis=1)

    def expected_gain(self, state: LearnerState, weight: np.ndarray, mastery: np.ndarray | None = None,
                      gate: np.ndarray | None = None) -> np.ndarray:
        """(I,) expected rise of Σ_s weight_s · P(s mastered) from answering each item (the posterior
        is a martingale, so the rise is the chance of learning each unmastered skill). `gate`: the
        prerequisites' mastery that gates learning (default: `mastery`)."""
        per_skill = self.skill_gain(state, weight, mastery, gate)
        return np.bincount(self.link_item, weights=per_skill[self.link_skill], minlength=len(self.item_ids))

    def skill_gain(self, state: LearnerState, weight: np.ndarray, mastery: np.ndarray | None = None,
                   gate: np.ndarray | None = None) -> np.ndarray:
        """(S,) each skill's part of `expected_gain`: weight_s · (1 − m_s) · its learn rate."""
        m = self.mastery(state) if mastery is None else mastery
        return weight * (1.0 - m) * self.learn_rate(m if gate is None else gate)

    def update(self, state: LearnerState, item: int, correct: int, *, time: float | None = None) -> None:
        """Bayes update of the item's skills on one answer, then learning; FSRS cards reviewed."""
        now = state.time if time is None else float(time)
        mc = self.class_mastery(state, now)  # (C, S)
        m = state.speed_weights @ mc
        skills = self.link_skill[self.item_ptr[item]: self.item_ptr[item + 1]]
        p_known, p_guess = self.answer_probabilities(state, np.array([item]))
        lk_a = float(p_known[0] if correct else 1.0 - p_known[0])
        lk_g = float(p_guess[0] if correct else 1.0 - p_guess[0])
        if self.config.ability_sd > 0:
            know = float(np.prod(m[skills]))
            p_grid = know * sigmoid(self.logit_known[item] + ABILITY_GRID) \
                + (1.0 - know) * sigmoid(self.logit_guess[item] + ABILITY_GRID)  # (G,)
            state.ability_loglik = state.ability_loglik + np.log(p_grid if correct else 1.0 - p_grid)
        know_c = np.prod(mc[:, skills], axis=1)  # (C,)
        state.speed_loglik = state.speed_loglik + np.log(know_c * lk_a + (1.0 - know_c) * lk_g)
        speeds = np.asarray(self.config.speeds)[:, None]
        learn = np.minimum(self.learn_rate(m)[skills][None, :] * speeds, 0.9)  # (C, K)
        cur = mc[:, skills]  # (C, K)
        new = np.empty_like(cur)
        for j in range(len(skills)):
            others = np.prod(np.delete(cur, j, axis=1), axis=1)  # (C,)
            mastered = cur[:, j] * (others * lk_a + (1.0 - others) * lk_g)
            post = mastered / (mastered + (1.0 - cur[:, j]) * lk_g)
            new[:, j] = post + (1.0 - post) * learn[:, j]
        state.p[:, skills] = new
        state.last[skills] = now
        state.count[skills] += 1
        state.wrong[skills] += 0 if correct else 1
        state.mastered_once[skills] |= (state.speed_weights @ new) >= self.config.mastery_threshold
        when = EPOCH + dt.timedelta(seconds=now)
        for s in skills.tolist():
            card = state.cards.get(s) or Card(card_id=s + 1, due=when)
            state.cards[s], _ = self._scheduler.review_card(card, Rating.Good if correct else Rating.Again, when)
        state.history.append((int(item), int(correct), now))
        state.time = now
        state.answers += 1
        every = self.config.progress_every
        if every > 0 and state.answers % every == 0:
            state.marks = [*state.marks[-1:], (state.answers, state.speed_weights @ state.p, state.last.copy())]

    def progress(self, state: LearnerState, skills: np.ndarray) -> tuple[int, float] | None:
        """(n, rise of the mean mastery of `skills` over the last n answers), n between `progress_every`
        and twice that, both masteries taken now (the earlier one decayed to now as if the n answers had
        not happened); None before `2 · progress_every` answers."""
        every = self.config.progress_every
        old = [mark for mark in state.marks if mark[0] >= every and state.answers - mark[0] >= every]
        if not old:
            return None
        answers, then, last = old[-1]
        decay = np.exp(-np.maximum(state.time - last, 0.0) / (self.config.forget_days * DAY))
        return state.answers - answers, float(self.mastery(state)[skills].mean() - (then * decay)[skills].mean())

    def retrievability(self, state: LearnerState, skill: int) -> float:
        """FSRS probability of recall of a reviewed skill now (1.0 when never reviewed)."""
        card = state.cards.get(skill)
        if card is None:
            return 1.0
        return float(self._scheduler.get_card_retrievability(card, EPOCH + dt.timedelta(seconds=state.time)))

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the tracker (JSON-ready; no pickle)."""
        skills = [[str(self.skill_ids[k]) for k in self.link_skill[self.item_ptr[i]: self.item_ptr[i + 1]]]
                  for i in range(len(self.item_ids))]
        return {"skills": list(self.graph.skills), "prerequisites": [list(e) for e in self.graph.edges],
                "items": [str(x) for x in self.item_ids], "item_skills": skills,
                "params": {k: v.tolist() for k, v in self.params.items()}, "offset": self.offset.tolist(),
                "config": asdict(self.config)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        config = data.get("config", {})
        config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
        return cls(graph=SkillGraph.from_edges([tuple(e) for e in data["prerequisites"]], data["skills"]),
                   item_ids=list(data["items"]), item_skills=[list(s) for s in data["item_skills"]],
                   params={k: np.asarray(v, dtype=np.float64) for k, v in data["params"].items()},
                   offset=np.asarray(data["offset"], dtype=np.float64), config=TrackerConfig(**config))

    def state_to_dict(self, state: LearnerState, *, keep_history: int = 200) -> dict[str, Any]:
        """A learner's state as JSON (the service stores it; the last `keep_history` answers are kept)."""
        return {"p": state.p.tolist(), "last": state.last.tolist(), "count": state.count.tolist(),
                "wrong": state.wrong.tolist(), "goals": state.goals.tolist(), "closure": state.closure.tolist(),
                "time": state.time, "mastered_once": state.mastered_once.tolist(),
                "cards": {str(k): c.to_dict() for k, c in state.cards.items()},
                "history": [list(h) for h in state.history[-keep_history:]],
                "ability_loglik": state.ability_loglik.tolist(), "speed_loglik": state.speed_loglik.tolist(),
                "answers": state.answers,
                "marks": [[n, m.tolist(), last.tolist()] for n, m, last in state.marks]}

    @staticmethod
    def state_from_dict(data: dict[str, Any]) -> LearnerState:
        return LearnerState(
            p=np.asarray(data["p"], dtype=np.float64), last=np.asarray(data["last"], dtype=np.float64),
            count=np.asarray(data["count"], dtype=np.int64), wrong=np.asarray(data["wrong"], dtype=np.int64),
            goals=np.asarray(data["goals"], dtype=np.int64), closure=np.asarray(data["closure"], dtype=bool),
            time=float(data["time"]), mastered_once=np.asarray(data["mastered_once"], dtype=bool),
            cards={int(k): Card.from_dict(v) for k, v in data["cards"].items()},
            history=[(int(i), int(y), float(t)) for i, y, t in data["history"]],
            ability_loglik=np.asarray(data["ability_loglik"], dtype=np.float64),
            speed_loglik=np.asarray(data["speed_loglik"], dtype=np.float64),
            answers=int(data.get("answers", len(data["history"]))),  # states stored before marks existed
            marks=[(int(n), np.asarray(m, dtype=np.float64), np.asarray(last, dtype=np.float64))
                   for n, m, last in data.get("marks", [])])


def _item_skills(responses: Responses) -> list[list[str]]:
    """Skills of each item (the union over its responses)."""
    rows = responses.skill_rows()
    pairs = np.unique(np.stack([responses.item[rows], responses.skill]), axis=1)
    out: list[list[str]] = [[] for _ in range(len(responses.item_ids))]
    for i, s in pairs.T:
        out[int(i)].append(str(responses.skill_ids[s]))
    return out

