"""The fairness audit's simulated studies, where the ground truth is known: personalised practice (items to
mastery and wheel-spinning by group) and the adaptive test (ability error by group), each with an optional
bias injected into one group, so that the audit can be shown to find a bias it is told about and to report
none on the unbiased control.

Every simulated learner carries two splits: `group` ("A" or "B", drawn at random: an attribute unrelated to
anything, as a learner-attribute file's column would be) and the built-in `first_answers` (at most half of
their first `first` answers right, or more). Each difference in means between the groups carries the
p-value of a randomisation test over the learners (`permutations` shuffles of their labels).

* Practice (`practice_by_group`): the builtin simulator's course, a skill tracker fitted on other simulated
  learners, the `default` policy. `items_to_mastery`: answers until every goal skill is truly mastered
  (censored at `max_items`); `wheel_spinning`: the share of the skills a learner practised at least 10
  times that were not truly mastered after the 10th practice (Beck & Gong 2013, "Wheel-spinning: students
  who fail to master a skill"). Bias: the tracker overestimates group B's mastery by `mastery_shift` on the
  logit scale, so the policy moves them on too early.
* Adaptive test (`cat_by_group`): examinees θ ~ N(0, 1) take maximum-information tests of `length` items on
  a Rasch bank, EAP estimates; error |θ̂ − θ| and signed error after 10 and `length` items. Bias: every item
  is `dif` logits harder for group B than the bank says (differential item functioning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from metatutor.learner import LearnerState, Tracker


@dataclass(frozen=True)
class SimulationConfig:
    learners: int = 300  # simulated learners (practice) or examinees (adaptive test)
    max_items: int = 200  # practice: answers at most while waiting for mastery
    train_learners: int = 600  # practice: simulated learners whose logs fit the tracker
    length: int = 20  # adaptive test length
    bank: int = 300  # adaptive test: Rasch items
    first: int = 5
    permutations: int = 1000
    seed: int = 0


class BiasedTracker:
    """A tracker that overestimates the mastery of some learners' states by `shift` logits (a known bias
    for the audit to find); everything else is the wrapped tracker's."""

    def __init__(self, tracker: Tracker, shift: float) -> None:
        self._tracker, self._shift = tracker, shift

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracker, name)

    def _inflate(self, m: np.ndarray) -> np.ndarray:
        q = np.clip(m, 1e-6, 1 - 1e-6)
        return np.asarray(1.0 / (1.0 + np.exp(-(np.log(q / (1 - q)) + self._shift))))

    def mastery(self, state: LearnerState) -> np.ndarray:
        return self._inflate(self._tracker.mastery(state))

    def mastery_belief(self, state: LearnerState) -> tuple[np.ndarray, np.ndarray]:
        m, sd = self._tracker.mastery_belief(state)
        return self._inflate(m), sd

    def beliefs(self, state: LearnerState) -> tuple[np.ndarray, np.ndarray]:
        m, p = self._tracker.beliefs(state)
        return self._inflate(m), p


def mean_gap_test(values: np.ndarray, group: np.ndarray, *, permutations: int,
                  rng: np.random.Generator) -> dict[str, Any]:
    """Means per group (codes 0/1 in `group`), their difference (1 − 0) and the two-sided randomisation
    p-value of |difference| over shuffles of the labels."""
    values = np.asarray(values, np.float64)
    ok = np.isfinite(values)
    values, group = values[ok], np.asarray(group)[ok]

    def diff(g: np.ndarray) -> float:
        return float(values[g == 1].mean() - values[g == 0].mean())

    observed = diff(group)
    above = sum(abs(diff(rng.permutation(group))) >= abs(observed) - 1e-12 for _ in range(permutations))
    return {"mean": [float(values[group == 0].mean()), float(values[group == 1].mean())],
            "n": [int((group == 0).sum()), int((group == 1).sum())], "difference": observed,
            "p": (1 + above) / (1 + permutations)}


def _by_group(rows: list[dict[str, Any]], keys: tuple[str, ...], config: SimulationConfig,
              rng: np.random.Generator) -> dict[str, Any]:
    """Per split (`group`, `first_answers`) and metric: group means, difference and p."""
    out: dict[str, Any] = {}
    for split, labels in (("group", ("A", "B")), ("first_answers", ("low", "high"))):
        code = np.array([labels.index(r[split]) if r[split] in labels else -1 for r in rows])
        keep = code >= 0
        out[split] = {"groups": list(labels)} | {
            key: mean_gap_test(np.array([r[key] for r in rows])[keep], code[keep],
                               permutations=config.permutations, rng=rng) for key in keys}
    return out


def practice_by_group(config: SimulationConfig | None = None, *, mastery_shift: float = 0.0,
                      policy: str = "default") -> dict[str, Any]:
    """The practice study (see the module docstring); `mastery_shift` > 0 biases group B."""
    from metatutor.data.simulator import SimulatedLearner, Simulator
    from metatutor.evaluation.practice import goal_skills
    from metatutor.learner import SkillTracker, course_graph
    from metatutor.policy import make_policy

    config = config or SimulationConfig()
    sim = Simulator(random_state=config.seed)
    tracker = SkillTracker.fit(sim.simulate(config.train_learners, (20, 120)), course_graph(sim.course))
    course, goals = sim.course, goal_skills(sim)
    index = {s: k for k, s in enumerate(course.skill_ids)}
    goal_idx = np.array([index[s] for s in goals])
    course_item = {x: i for i, x in enumerate(course.item_ids)}
    to_course = np.array([course_item[str(x)] for x in tracker.item_ids])
    fair = make_policy(policy, tracker)
    biased = make_policy(policy, BiasedTracker(tracker, mastery_shift)) if mastery_shift else fair  # type: ignore[arg-type]
    rng = np.random.default_rng([config.seed, 7])
    groups = rng.choice(["A", "B"], size=config.learners)
    seeds = rng.integers(2**63, size=config.learners)
    rows = []
    for j in range(config.learners):
        learner = SimulatedLearner(course, sim.config, np.random.default_rng(int(seeds[j])), name=f"P{j:05d}")
        chooser = biased if groups[j] == "B" else fair
        step_rng = np.random.default_rng([config.seed, 8, j])
        state = tracker.new_state(goals)
        practised = np.zeros(len(course.skill_ids), dtype=np.int64)
        spun: dict[int, bool] = {}
        answers: list[int] = []
        reached = float(config.max_items)
        done = bool(learner.mastered[goal_idx].all())
        if done:
            reached = 0.0
        for step in range(config.max_items):
            if done and step >= config.first:
                break
            state.time = learner.time
            rec = chooser.recommend(state, step_rng)
            when = learner.time
            item = int(to_course[rec.item_index])
            correct = learner.answer(item)
            tracker.observe(state, rec.item_index, correct, when)
            answers.append(correct)
            for s in course.item_skills[item]:
                practised[s] += 1
                if practised[s] == 10:
                    spun[s] = not bool(learner.mastered[s])
            if not done and learner.mastered[goal_idx].all():
                reached, done = float(step + 1), True
        first = answers[: config.first]
        rows.append({"group": str(groups[j]), "items_to_mastery": reached,
                     "wheel_spinning": float(np.mean(list(spun.values()))) if spun else 0.0,
                     "first_answers": ("low" if sum(first) <= config.first // 2 else "high")
                     if len(first) == config.first else ""})
    result = _by_group(rows, ("items_to_mastery", "wheel_spinning"), config, np.random.default_rng(config.seed))
    return {"study": "practice", "policy": policy, "learners": config.learners, "max_items": config.max_items,
            "injected": {"mastery_shift_group_B": mastery_shift}, "by_split": result}


def cat_by_group(config: SimulationConfig | None = None, *, dif: float = 0.0) -> dict[str, Any]:
    """The adaptive-test study (see the module docstring); `dif` > 0 makes every item harder for group B."""
    from metatutor.assessment.estimation import estimate
    from metatutor.assessment.irt import p_correct
    from metatutor.assessment.selection import SelectorConfig, select_item
    from metatutor.assessment.simulation import rasch_bank

    config = config or SimulationConfig()
    rng = np.random.default_rng([config.seed, 11])
    bank = rasch_bank(config.bank, rng)
    theta = rng.normal(size=config.learners)
    groups = rng.choice(["A", "B"], size=config.learners)
    selector = SelectorConfig(criterion="mfi")
    rows = []
    for e in range(config.learners):
        shift = dif if groups[e] == "B" else 0.0
        available = np.ones(len(bank), dtype=bool)
        given = np.zeros(config.length, dtype=np.int64)
        answers = np.zeros(config.length)
        current, errors = 0.0, {}
        for t in range(config.length):
            item = select_item(bank, selector, theta=current, available=available, administered=given[:t], rng=rng)
            available[item], given[t] = False, item
            answers[t] = float(rng.random() < p_correct(theta[e], bank.a[item], bank.b[item] + shift, bank.c[item]))
            codes = given[: t + 1]
            current = estimate("eap", answers[: t + 1], bank.a[codes], bank.b[codes], bank.c[codes]).theta
            if t + 1 in (10, config.length):
                errors[t + 1] = current - theta[e]
        first = answers[: config.first]
        rows.append({"group": str(groups[e]), "first_answers": "low" if first.sum() <= config.first // 2 else "high",
                     "abs_error_at_10": abs(errors[10]), f"abs_error_at_{config.length}": abs(errors[config.length]),
                     "error_at_10": errors[10], f"error_at_{config.length}": errors[config.length]})
    keys = ("abs_error_at_10", f"abs_error_at_{config.length}", "error_at_10", f"error_at_{config.length}")
    result = _by_group(rows, keys, config, np.random.default_rng(config.seed))
    return {"study": "cat", "examinees": config.learners, "length": config.length, "bank": config.bank,
            "injected": {"dif_group_B": dif}, "by_split": result}
