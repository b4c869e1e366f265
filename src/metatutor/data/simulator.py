"""Seeded synthetic learners with known ground truth.

A `Course` has skills with prerequisites (a DAG), and items tagged with one or more skills and a
difficulty. A `SimulatedLearner` holds a hidden binary mastery state per skill (the ground truth),
an ability and a learning speed:

    P(correct | item) = sigmoid(θ - b_i + 2.0)  if every skill of the item is mastered
                        sigmoid(θ - b_i - 2.0)  otherwise (guessing)

Practising an item may teach each of its unmastered skills, with a probability that shrinks for every
unmastered prerequisite; a mastered skill is forgotten with probability 1 - exp(-Δt / τ) where Δt is the
time since it was last practised. Time advances ~1 minute per answer and 1-3 days between sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from metatutor.data.responses import Responses

DAY = 86_400.0


@dataclass(frozen=True)
class SimulatorConfig:
    n_skills: int = 12  # skills in the course
    items_per_skill: int = 25  # items whose first skill is each skill
    multi_skill_fraction: float = 0.15  # items that also need one prerequisite of their skill
    max_prerequisites: int = 2  # prerequisites drawn per skill among earlier skills
    learn_rate: float = 0.2  # P(learn an unmastered skill per practice) with prerequisites mastered
    prerequisite_penalty: float = 0.3  # factor on learn_rate per unmastered prerequisite
    forget_days: float = 60.0  # mean time constant τ of forgetting, in days
    ability_sd: float = 0.8  # learner ability θ ~ N(0, ability_sd)
    difficulty_sd: float = 0.8  # item difficulty b ~ N(0, difficulty_sd)
    prior_mastery: float = 0.35  # P(a root skill is mastered at the start); deeper skills less likely
    gap: float = 2.0  # logit shift between mastered and unmastered answering
    session_length: int = 25  # answers per study session


@dataclass(frozen=True)
class Course:
    """Skills, prerequisites and items of a course."""

    skill_ids: tuple[str, ...]
    prerequisites: tuple[tuple[str, str], ...]  # (prerequisite, skill)
    item_ids: tuple[str, ...]
    item_skills: tuple[tuple[int, ...], ...]  # skill indices of each item
    difficulty: np.ndarray  # (I,)

    def graph(self) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(self.skill_ids)
        g.add_edges_from(self.prerequisites)
        return g

    @cached_property
    def skill_order(self) -> list[int]:
        """Skill indices in prerequisite order (ties broken by id)."""
        return self.topological_skills()

    @cached_property
    def skill_items(self) -> list[np.ndarray]:
        """Item indices of each skill."""
        return [self.items_of_skill(j) for j in range(len(self.skill_ids))]

    def topological_skills(self) -> list[int]:
        index = {s: i for i, s in enumerate(self.skill_ids)}
        return [index[s] for s in nx.lexicographical_topological_sort(self.graph())]

    def prerequisite_indices(self) -> list[list[int]]:
        index = {s: i for i, s in enumerate(self.skill_ids)}
        out: list[list[int]] = [[] for _ in self.skill_ids]
        for pre, skill in self.prerequisites:
            out[index[skill]].append(index[pre])
        return out

    def items_of_skill(self, skill: int) -> np.ndarray:
        return np.array([i for i, sk in enumerate(self.item_skills) if skill in sk], dtype=np.int64)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "item": list(self.item_ids),
                "skill": ["~~".join(self.skill_ids[s] for s in sk) for sk in self.item_skills],
                "difficulty": self.difficulty,
            }
        )


def make_course(config: SimulatorConfig, rng: np.random.Generator) -> Course:
    """A random course: skill j may require up to `max_prerequisites` of the skills before it."""
    s = config.n_skills
    skill_ids = tuple(f"s{j + 1:02d}" for j in range(s))
    edges = []
    for j in range(1, s):
        k = rng.integers(1, config.max_prerequisites + 1)
        window = np.arange(max(0, j - 4), j)
        for pre in rng.choice(window, size=min(int(k), len(window)), replace=False):
            edges.append((skill_ids[int(pre)], skill_ids[j]))
    prereq = [[skill_ids.index(p) for p, q in edges if q == skill_ids[j]] for j in range(s)]
    item_ids, item_skills, diffs = [], [], []
    for j in range(s):
        for n in range(config.items_per_skill):
            sk: tuple[int, ...] = (j,)
            if prereq[j] and rng.random() < config.multi_skill_fraction:
                sk = (j, int(rng.choice(prereq[j])))
            item_ids.append(f"i{j + 1:02d}-{n + 1:03d}")
            item_skills.append(sk)
            diffs.append(rng.normal(0.0, config.difficulty_sd))
    return Course(skill_ids, tuple(edges), tuple(item_ids), tuple(item_skills), np.asarray(diffs))


class SimulatedLearner:
    """One learner with hidden mastery; `answer` draws a response and lets the learner learn."""

    def __init__(self, course: Course, config: SimulatorConfig, rng: np.random.Generator, *, name: str) -> None:
        self.course, self.config, self.rng, self.name = course, config, rng, name
        self._prereq = course.prerequisite_indices()
        self.ability = float(rng.normal(0.0, config.ability_sd))
        self.speed = float(np.clip(rng.lognormal(0.0, 0.4), 0.2, 3.0))
        self.forget_days = float(config.forget_days * rng.lognormal(0.0, 0.3))
        depth = np.zeros(len(course.skill_ids))
        for j in course.skill_order:
            depth[j] = max((depth[p] + 1 for p in self._prereq[j]), default=0)
        p0 = config.prior_mastery * 0.6**depth * np.exp(0.5 * self.ability)
        self.mastered = rng.random(len(depth)) < np.clip(p0, 0, 0.95)
        self.last_practice = np.zeros(len(depth))
        self.time = 0.0
        self.answered = 0
        self.last_correct: int | None = None
        self.policy_state: dict[str, int] = {}  # scratch space for a policy that drives this learner

    def p_correct(self, item: int) -> float:
        """Ground-truth probability of a correct answer to `item` now (no side effects)."""
        skills = self.course.item_skills[item]
        know = all(self.mastered[s] for s in skills)
        z = self.ability - self.course.difficulty[item] + (self.config.gap if know else -self.config.gap)
        return float(1.0 / (1.0 + np.exp(-z)))

    def answer(self, item: int) -> int:
        """Answer `item` (drawn from `p_correct`), then forget, learn and advance the clock."""
        self._forget()
        correct = int(self.rng.random() < self.p_correct(item))
        for s in self.course.item_skills[item]:
            if not self.mastered[s]:
                missing = sum(not self.mastered[p] for p in self._prereq[s])
                p = self.config.learn_rate * self.speed * self.config.prerequisite_penalty**missing
                self.mastered[s] = self.rng.random() < min(p, 0.9)
            self.last_practice[s] = self.time
        self.answered += 1
        self.last_correct = correct
        self.time += float(self.rng.uniform(20, 100))
        if self.answered % self.config.session_length == 0:
            self.time += float(self.rng.uniform(1, 3)) * DAY
        return correct

    def wait(self, seconds: float) -> None:
        """Let time pass (forgetting happens at the next answer or check)."""
        self.time += seconds
        self._forget()

    def _forget(self) -> None:
        dt = (self.time - self.last_practice) / DAY
        p = 1.0 - np.exp(-np.maximum(dt, 0) / self.forget_days)
        lost = self.mastered & (self.rng.random(len(p)) < p)
        self.mastered = self.mastered & ~lost
        self.last_practice = np.where(lost | self.mastered, self.time, self.last_practice)


Policy = Callable[[SimulatedLearner, np.random.Generator], int]


def random_policy(learner: SimulatedLearner, rng: np.random.Generator) -> int:
    return int(rng.integers(len(learner.course.item_ids)))


def skill_builder_policy(learner: SimulatedLearner, rng: np.random.Generator) -> int:
    """Skills in prerequisite order, each practised until three correct in a row (or 12 tries):
    the way ASSISTments skill builders produce logs."""
    state = learner.policy_state
    if not state:
        state.update(pos=0, streak=0, tries=0)
    elif learner.last_correct is not None:
        state["streak"] = state["streak"] + 1 if learner.last_correct else 0
        state["tries"] += 1
        if state["streak"] >= 3 or state["tries"] >= 12:
            state.update(pos=state["pos"] + 1, streak=0, tries=0)
    order = learner.course.skill_order
    skill = order[state["pos"] % len(order)]
    return int(rng.choice(learner.course.skill_items[skill]))


class Simulator:
    """Seeded generator of a course and of learners who practise it.

    Example:
        >>> sim = Simulator(random_state=0)
        >>> data = sim.simulate(n_learners=20, n_responses=30)
        >>> data.n_learners
        20
    """

    def __init__(self, config: SimulatorConfig | None = None, *, random_state: int | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.random_state = random_state
        self._rng = np.random.default_rng(random_state)
        self.course = make_course(self.config, self._rng)
        self._count = 0

    def new_learner(self) -> SimulatedLearner:
        self._count += 1
        seed = int(self._rng.integers(2**63))
        return SimulatedLearner(self.course, self.config, np.random.default_rng(seed), name=f"L{self._count:05d}")

    def write_parquet(self, path: str | Path, n_learners: int, n_responses: int | tuple[int, int] = (20, 181), *,
                      policy: str = "builder", batch_learners: int = 20_000, random_start: bool = False) -> int:
        """Simulate `n_learners` learners on this course and write their answers to a Parquet log, one batch
        of learners at a time (memory: one batch, whatever `n_learners`); the number of answers written.

        Reproducible: a simulator made with the same `random_state` and config writes the same file (the
        learners are stepped in batches, so their draws differ from `simulate`'s). See
        `metatutor.data.cohort` for the columns and `random_start`.

        Example:
            >>> Simulator(random_state=0).write_parquet("log.parquet", 1_000)  # doctest: +SKIP
            100212
        """
        from metatutor.data.cohort import write_cohort

        seed = self.random_state if self.random_state is not None else int(self._rng.integers(2**63))
        written = write_cohort(self.course, self.config, path, n_learners=n_learners, n_responses=n_responses,
                               seed=seed, batch_learners=batch_learners, policy=policy, random_start=random_start)
        return written.answers

    def simulate(self, n_learners: int, n_responses: int | tuple[int, int] = (20, 120), *,
                 policy: str | Policy = "builder") -> Responses:
        """Responses of `n_learners` new learners, each answering `n_responses` items (or a number
        drawn from a `(low, high)` range) chosen by `policy` (`"builder"`, `"random"` or a callable)."""
        choose: Policy = {"builder": skill_builder_policy, "random": random_policy}[policy] \
            if isinstance(policy, str) else policy
        rows: dict[str, list] = {"learner": [], "item": [], "skill": [], "correct": [], "timestamp": []}
        truth = []
        for _ in range(n_learners):
            learner = self.new_learner()
            n = n_responses if isinstance(n_responses, int) else int(self._rng.integers(*n_responses))
            for _ in range(n):
                item = choose(learner, learner.rng)
                t = learner.time
                correct = learner.answer(item)
                rows["learner"].append(learner.name)
                rows["item"].append(self.course.item_ids[item])
                rows["skill"].append([self.course.skill_ids[s] for s in self.course.item_skills[item]])
                rows["correct"].append(correct)
                rows["timestamp"].append(t)
            truth.append(learner)
        self.last_learners_ = truth
        return Responses.from_frame(pd.DataFrame(rows), source="simulator", merge_multiskill=False)
