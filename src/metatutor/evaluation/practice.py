"""`benchmark practice`: practice policies driving simulated learners whose learning we know.

Builtin simulator: a course from `metatutor.data.simulator` (skills with prerequisites, learning on
practice, forgetting). The policies plan with a `SkillTracker` fitted on logs of *other* simulated
learners (never the simulator's own parameters) and the author-given skill graph. Every policy meets
the same learners (same seeds, so the same starting knowledge, ability and speed).

Per learner and policy:
* `items_to_mastery`: answers until every goal skill is truly mastered at once (censored at `max_items`);
* `posttest`: expected score (true P(correct), no noise) over the items of the goals and their
  prerequisites after a fixed budget of `budget` answers;
* `retention`: the same test after `delay_days` more days without practice;
* the learning curve: the post-test score after every answer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metatutor.data.responses import Responses
from metatutor.data.simulator import DAY, SimulatedLearner, Simulator, SimulatorConfig
from metatutor.errors import ConfigError
from metatutor.evaluation.practice_result import PracticeConfig, PracticeResult
from metatutor.learner import CourseMap, SkillTracker, Tracker, course_graph
from metatutor.policy import POLICIES, make_policy

BASELINES = ("random", "curriculum", "mastery")
POLICY_NAMES = ("random", "curriculum", "mastery", "target", "gain", "thompson", "review", "default")


class _TestForm:
    """The post-test: every item of the goals and their prerequisites, scored by ground truth."""

    def __init__(self, sim: Simulator, items: np.ndarray) -> None:
        skills = [sim.course.item_skills[i] for i in items]
        self.link_skill = np.array([s for sk in skills for s in sk], dtype=np.int64)
        self.starts = np.r_[0, np.cumsum([len(sk) for sk in skills])[:-1]]
        self.difficulty = sim.course.difficulty[items]
        self.gap = sim.config.gap

    def score(self, learner: SimulatedLearner) -> float:
        """Mean true P(correct) over the form (no answer drawn, no side effects)."""
        know = np.minimum.reduceat(learner.mastered[self.link_skill], self.starts)
        z = learner.ability - self.difficulty + np.where(know, self.gap, -self.gap)
        return float(np.mean(1.0 / (1.0 + np.exp(-z))))


def goal_skills(sim: Simulator) -> list[str]:
    """The course's final skills: those no other skill requires."""
    graph = course_graph(sim.course)
    return [s for s in graph.skills if graph.graph.out_degree(s) == 0]


def run_builtin(config: PracticeConfig, policies: list[str], *, progress: Callable[[str], None] | None = None,
                sim_config: SimulatorConfig | None = None, learner_model: str = "tracker") -> PracticeResult:
    """Every policy on the same `n_learners` simulated learners of the builtin simulator, planning with
    `learner_model` (`tracker` or `meta`) fitted on other simulated learners' logs."""
    sim = Simulator(sim_config, random_state=config.seed)
    tracker = fit_planner(learner_model, sim.simulate(config.train_learners, (20, 120)), sim, seed=config.seed)
    goals = goal_skills(sim)
    course = sim.course
    closure = sorted(tracker.graph.closure(goals))
    index = {s: k for k, s in enumerate(course.skill_ids)}
    form = _TestForm(sim, np.unique(np.concatenate([course.skill_items[index[s]] for s in closure])))
    horizon = max(config.budget, config.curve_items)
    course_item = {x: i for i, x in enumerate(course.item_ids)}
    to_course = np.array([course_item[str(x)] for x in tracker.item_ids])  # tracker item -> course item
    goal_idx = np.array([index[s] for s in goals])
    seeds = np.random.default_rng([config.seed, 1]).integers(2**63, size=config.n_learners)
    result = PracticeResult(config)
    result.curves["builtin"], result.reached["builtin"] = {}, {}
    for name in policies:
        policy = make_policy(name, tracker)
        curve = np.zeros(config.curve_items)
        reached = 0
        for j, seed in enumerate(seeds):
            learner = SimulatedLearner(course, sim.config, np.random.default_rng(int(seed)), name=f"T{j:05d}")
            rng = np.random.default_rng([config.seed, 2, j])
            state = tracker.new_state(goals)
            row: dict[str, Any] = {"policy": name, "simulator": "builtin", "learner": j,
                                   "items_to_mastery": float(config.max_items)}
            done = bool(learner.mastered[goal_idx].all())
            if done:
                row["items_to_mastery"] = 0.0
            for step in range(config.max_items):
                if done and step >= horizon:
                    break
                state.time = learner.time
                rec = policy.recommend(state, rng)
                when = learner.time
                correct = learner.answer(int(to_course[rec.item_index]))
                tracker.observe(state, rec.item_index, correct, when)
                if step < config.curve_items:
                    curve[step] += form.score(learner)
                if not done and learner.mastered[goal_idx].all():
                    row["items_to_mastery"], done = float(step + 1), True
                if step + 1 == config.budget:
                    row["posttest"] = form.score(learner)
                    later = copy.deepcopy(learner)
                    later.wait(config.delay_days * DAY)
                    row["retention"] = form.score(later)
            reached += done
            result.rows.append(row)
        result.curves["builtin"][name] = (curve / len(seeds)).round(4).tolist()
        result.reached["builtin"][name] = reached / len(seeds)
        if progress:
            progress(f"{name} (builtin)")
    return result


def fit_planner(name: str, logs: Responses, sim: Simulator, *, seed: int) -> Tracker:
    """The learner model the policies plan with: `tracker` (the skill tracker on the course's graph) or
    `meta` (the meta-learned model on every course item; a fifth of the logs' learners validate it)."""
    if name == "tracker":
        return SkillTracker.fit(logs, course_graph(sim.course))
    from metatutor.learner import MetaTracker

    ids = logs.learners_present()
    cut = int(0.8 * len(ids))
    return MetaTracker.fit(logs.select_learners(ids[:cut]), logs.select_learners(ids[cut:]),
                           course=CourseMap.of_course(sim.course), random_state=seed)


def run_practice_benchmark(config: PracticeConfig, policies: list[str], *, data: str | Path | None = None,
                           progress: Callable[[str], None] | None = None, learner_model: str = "tracker") -> PracticeResult:
    """The builtin simulator, and with `data` also a simulator fitted to that dataset (`learner_model`:
    what the policies plan with on the builtin simulator)."""
    unknown = sorted(set(policies) - set(POLICIES))
    if unknown:
        raise ConfigError(f"unknown policy(ies) {', '.join(unknown)}; choose from {', '.join(POLICIES)}")
    if data is not None and not Path(data).exists():  # checked first: fail before the builtin study runs
        raise ConfigError(f"no such dataset {str(data)!r}")
    result = run_builtin(config, policies, progress=progress, learner_model=learner_model)
    if data is not None:
        from metatutor.evaluation.practice_fitted import run_fitted

        run_fitted(result, data, policies, progress=progress)
    return result
