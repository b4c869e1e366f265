"""Simulated classmates: a seeded population of learners who answer real items with raw typed answers,
which the server-side grader then grades, so misconception detection is exercised end to end.

Each learner has an ability θ ~ N(0, ability_sd²), a per-skill deviation ~ N(0, skill_sd²), a learning
speed, and a propensity for every misconception of the course (held strongly with probability
`misconception_rate`, otherwise weakly). Answering item i of skill s:

    z = θ + d_s + gain_s - b_i - penalty · max(propensity of i's misconceptions) + hint_boost · hints
    P(correct) = c_i + (1 - c_i) · sigmoid(z)        (c_i = 1 / options for a choice item, else 0)

A wrong answer is one of the item's misconception answers (chosen in proportion to the learner's
propensities) or a slip (a random wrong answer, weight `slip_weight`); a small share of answers are
typos that cannot be read. Every answer is typed in a random equivalent form (`forms`). Practice raises
`gain_s`; a misconception's targeted feedback lowers its propensity.

The true difficulty b_i is NOT the authoring prior and is not linear in the features, so a difficulty
model fitted on some templates is not handed the answer: b_i = skill offset (random per skill) +
template offset (random per template, `template_sd`, unknown to any feature model) + `nature(features)`
(fixed non-linear weights with an interaction, different from `features.PRIOR_WEIGHTS`) + item noise
(`item_sd`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from metatutor.content.course import PREREQUISITES, SKILLS
from metatutor.content.features import Features
from metatutor.content.forms import equivalent_forms, wrong_answer
from metatutor.content.grading import grade
from metatutor.content.items import AnswerType, Item
from metatutor.data.responses import Responses

TYPOS = ("?", "3/", "x==2", "((2", "idk?", "2..5", "\\sqrt{4}", "")  # none of them can be read


@dataclass(frozen=True)
class ClassmatesConfig:
    ability_sd: float = 1.0  # learner ability θ
    skill_sd: float = 0.5  # per-skill deviation of a learner from their ability
    skill_offset_sd: float = 0.5  # difficulty offset of each skill
    template_sd: float = 0.5  # difficulty offset of each template (what no feature can see)
    item_sd: float = 0.3  # difficulty noise of each item
    feature_scale: float = 1.5  # strength of the features' (hidden, non-linear) effect on difficulty
    learn_rate: float = 0.06  # logit gained per answer on a skill (times the learner's speed)
    misconception_rate: float = 0.25  # P(a learner holds a given misconception strongly)
    misconception_penalty: float = 1.0  # logit cost of the strongest misconception an item can trigger
    slip_weight: float = 0.3  # weight of a random slip among the wrong answers
    unlearn: float = 0.3  # share of a misconception's propensity lost after its targeted feedback
    typo_rate: float = 0.02  # answers that cannot be read
    hint_rate: float = 0.1  # P(asking for hints on an item)
    hint_boost: float = 0.6  # logit gained per hint used


def nature(features: Mapping[str, float], *, scale: float = 1.0) -> float:
    """The simulator's own (hidden) effect of an item's features on its difficulty, times `scale`."""
    f = features
    return scale * (0.45 * max(f["steps"] - 1, 0) ** 0.8 + 0.8 * math.sqrt(f["magnitude"])
                    + 0.3 * min(f["negatives"], 2) + 0.5 * f["non_integers"] + 0.45 * f["unlike_denominators"]
                    + 0.2 * min(f["regrouping"], 3) + 0.35 * f["answer_negative"] + 0.55 * f["answer_non_integer"]
                    + 0.3 * f["simplify"] + 0.15 * f["variables"] + 0.3 * (f["blanks"] - 1)
                    + 0.3 * f["negatives"] * f["non_integers"] - 1.2)


@dataclass
class SimulatedAnswer:
    raw: str | list[str]
    intended: str  # "correct", "misconception", "slip" or "typo"
    misconception: str | None
    hints_used: int


class ContentLearner:
    """One simulated classmate; `answer(item)` types a raw answer, `learn(item, result)` updates them."""

    def __init__(self, name: str, config: ClassmatesConfig, misconceptions: Sequence[str], rng: random.Random) -> None:
        self.name, self.config, self.rng = name, config, rng
        self.ability = rng.gauss(0.0, config.ability_sd)
        self.deviation = {s: rng.gauss(0.0, config.skill_sd) for s in SKILLS}
        self.speed = min(max(rng.lognormvariate(0.0, 0.4), 0.2), 3.0)
        self.gain = dict.fromkeys(SKILLS, 0.0)
        self.propensity = {m: rng.uniform(0.3, 0.8) if rng.random() < config.misconception_rate
                           else rng.uniform(0.0, 0.05) for m in misconceptions}

    def p_correct(self, item: Item, difficulty: float, hints: int = 0) -> float:
        s = item.skill
        pull = max((self.propensity.get(m.id, 0.0) for m in item.misconceptions), default=0.0)
        z = (self.ability + self.deviation.get(s, 0.0) + self.gain.get(s, 0.0) - difficulty
             - self.config.misconception_penalty * pull + self.config.hint_boost * hints)
        guess = 1.0 / len(item.parts[0].choices) if item.answer_type == AnswerType.CHOICE else 0.0
        return guess + (1.0 - guess) / (1.0 + math.exp(-z))

    def answer(self, item: Item, difficulty: float) -> SimulatedAnswer:
        rng, cfg = self.rng, self.config
        hints = rng.randint(1, max(len(item.hints), 1)) if item.hints and rng.random() < cfg.hint_rate else 0
        if rng.random() < cfg.typo_rate:
            raw = rng.choice(TYPOS)
            return SimulatedAnswer([raw] * len(item.parts) if len(item.parts) > 1 else raw, "typo", None, hints)
        if rng.random() < self.p_correct(item, difficulty, hints):
            keys: Sequence[str | None] = [p.answer for p in item.parts]
            intended, mid = "correct", None
        else:
            weights = [self.propensity.get(m.id, 0.0) for m in item.misconceptions] + [cfg.slip_weight]
            pick = rng.choices(range(len(weights)), weights=weights)[0]
            if pick < len(item.misconceptions):
                keys, intended, mid = item.misconceptions[pick].answer, "misconception", item.misconceptions[pick].id
            else:
                k = rng.randrange(len(item.parts))
                keys = [wrong_answer(p, p.answer, rng) if j == k else p.answer for j, p in enumerate(item.parts)]
                intended, mid = "slip", None
        typed = [rng.choice(equivalent_forms(p, key if key is not None else p.answer, rng, strict=intended == "correct"))
                 for p, key in zip(item.parts, keys, strict=True)]
        return SimulatedAnswer(typed if len(typed) > 1 else typed[0], intended, mid, hints)

    def learn(self, item: Item, detected: str | None) -> None:
        self.gain[item.skill] = self.gain.get(item.skill, 0.0) + self.config.learn_rate * self.speed
        if detected is not None and detected in self.propensity:
            self.propensity[detected] *= 1.0 - self.config.unlearn


@dataclass(frozen=True)
class ClassLog:
    """What a simulation produced: the graded responses (unreadable answers left out, as the server
    does) and every answer with the simulator's truth beside the grader's verdict."""

    responses: Responses
    answers: pd.DataFrame  # learner, item, template, skill, raw, intended, true_misconception, verdict, detected


class Classmates:
    """A seeded population of simulated learners answering the given items.

    Example:
        >>> from metatutor.content.course import course_items
        >>> sim = Classmates(course_items(3), random_state=0)
        >>> log = sim.simulate(5, per_skill=2)
        >>> log.responses.n_learners
        5
    """

    def __init__(self, items: Sequence[Item], config: ClassmatesConfig | None = None, *,
                 random_state: int | None = None) -> None:
        self.items = list(items)
        self.config = config or ClassmatesConfig()
        self.random_state = random_state
        self._rng = random.Random(random_state)
        cfg = self.config
        skill_offset = {s: self._rng.gauss(0.0, cfg.skill_offset_sd) for s in SKILLS}
        template_offset = {t: self._rng.gauss(0.0, cfg.template_sd) for t in sorted({i.template or i.id
                                                                                    for i in self.items})}
        self.difficulty_ = {i.id: skill_offset.get(i.skill, 0.0) + template_offset[i.template or i.id]
                            + nature(i.features or Features().to_dict(), scale=cfg.feature_scale) + self._rng.gauss(0.0, cfg.item_sd)
                            for i in self.items}
        self.misconceptions_ = sorted({m.id for i in self.items for m in i.misconceptions})
        self._by_skill: dict[str, list[Item]] = {}
        for i in self.items:
            self._by_skill.setdefault(i.skill, []).append(i)
        self._count = 0

    def new_learner(self) -> ContentLearner:
        self._count += 1
        return ContentLearner(f"C{self._count:05d}", self.config, self.misconceptions_,
                              random.Random(self._rng.getrandbits(64)))

    def simulate(self, n_learners: int, *, per_skill: int = 6) -> ClassLog:
        """`n_learners` new learners, each working through the skills in prerequisite order and answering
        `per_skill` random items of each (with replacement across learners, without within a skill)."""
        order = _skill_order([s for s in SKILLS if s in self._by_skill])
        rows: list[dict[str, object]] = []
        for _ in range(n_learners):
            learner = self.new_learner()
            t = 0.0
            for skill in order:
                pool = self._by_skill[skill]
                for item in learner.rng.sample(pool, min(per_skill, len(pool))):
                    said = learner.answer(item, self.difficulty_[item.id])
                    result = grade(item, said.raw, hints_used=said.hints_used)
                    detected = result.misconception.id if result.misconception else None
                    learner.learn(item, detected)
                    rows.append({"learner": learner.name, "item": item.id, "template": item.template or item.id,
                                 "skill": item.skill, "raw": said.raw, "intended": said.intended,
                                 "true_misconception": said.misconception, "hints_used": said.hints_used,
                                 "verdict": result.verdict.value, "detected": detected, "timestamp": t})
                    t += learner.rng.uniform(20.0, 100.0)
        answers = pd.DataFrame(rows)
        graded = answers[answers["verdict"] != "unreadable"]
        frame = pd.DataFrame({"learner": graded["learner"], "item": graded["item"],
                              "skill": graded["skill"], "correct": (graded["verdict"] == "correct").astype(int),
                              "timestamp": graded["timestamp"]})
        return ClassLog(Responses.from_frame(frame.reset_index(drop=True), source="classmates"), answers)


def _skill_order(skills: Sequence[str]) -> list[str]:
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(skills)
    g.add_edges_from((a, b) for a, b in PREREQUISITES if a in skills and b in skills)
    rank = {s: k for k, s in enumerate(skills)}
    return list(nx.lexicographical_topological_sort(g, key=lambda s: rank[s]))

