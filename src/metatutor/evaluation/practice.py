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
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metatutor.data.simulator import DAY, SimulatedLearner, Simulator, SimulatorConfig
from metatutor.errors import ConfigError
from metatutor.policy import POLICIES, course_graph, make_policy
from metatutor.policy.tracker import SkillTracker

BASELINES = ("random", "curriculum", "mastery")
POLICY_NAMES = ("random", "curriculum", "mastery", "target", "gain", "thompson", "review", "default")
KEYS = ("items_to_mastery", "posttest", "retention")


@dataclass(frozen=True)
class PracticeConfig:
    n_learners: int = 500  # simulated learners per policy
    budget: int = 60  # answers before the post-test
    max_items: int = 300  # answers at most while waiting for true mastery of the goals
    curve_items: int = 120  # answers shown in the learning curve
    delay_days: float = 30.0  # retention test this long after the post-test
    train_learners: int = 1000  # simulated learners whose logs fit the policies' learner model
    seed: int = 0


@dataclass
class PracticeResult:
    config: PracticeConfig
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per (policy, simulator, learner)
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # simulator -> policy -> mean curve
    reached: dict[str, dict[str, float]] = field(default_factory=dict)  # share of learners reaching mastery

    def summary(self) -> dict[str, dict[str, Any]]:
        """`summary[policy]`: means with 95% intervals (builtin simulator first; `by_simulator` for all)."""
        out: dict[str, dict[str, Any]] = {}
        for sim in dict.fromkeys(r["simulator"] for r in self.rows):
            for pol in dict.fromkeys(r["policy"] for r in self.rows if r["simulator"] == sim):
                rows = [r for r in self.rows if r["simulator"] == sim and r["policy"] == pol]
                stats = {k: _mean_ci([r[k] for r in rows]) for k in KEYS}
                entry = {k: stats[k][0] for k in KEYS} | {f"{k}_ci95": stats[k][1] for k in KEYS}
                entry["n"] = len(rows)
                entry["reached_mastery"] = self.reached.get(sim, {}).get(pol)
                target = out.setdefault(pol, {"by_simulator": {}})
                target["by_simulator"][sim] = entry
                if "simulator" not in target:
                    target.update(entry | {"simulator": sim})
        return out

    def to_json(self) -> dict[str, Any]:
        return {"task": "practice", "config": asdict(self.config), "rows": self.rows, "summary": self.summary(),
                "curves": self.curves}

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1))

    def to_markdown(self) -> str:
        c = self.config
        lines = [f"### practice: {c.n_learners} simulated learners per policy, post-test after {c.budget} answers, "
                 f"retention {c.delay_days:g} days later (mean ± 95% CI)", "",
                 "| simulator | policy | items to mastery | reached | post-test | retention |", "|---|---|---|---|---|---|"]
        for pol, s in self.summary().items():
            for sim, e in s["by_simulator"].items():
                reached = "" if e["reached_mastery"] is None else f"{100 * e['reached_mastery']:.0f}%"
                lines.append(f"| {sim} | {pol} | {_fmt(e, 'items_to_mastery', 1)} | {reached} | "
                             f"{_fmt(e, 'posttest', 3)} | {_fmt(e, 'retention', 3)} |")
        return "\n".join(lines) + "\n"

    def plot(self, path: str | Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        sims = list(self.curves)
        fig, axes = plt.subplots(1, len(sims), figsize=(6 * len(sims), 4), squeeze=False)
        for ax, sim in zip(axes[0], sims, strict=True):
            for pol, curve in self.curves[sim].items():
                ax.plot(np.arange(1, len(curve) + 1), curve, label=pol, lw=2.2 if pol == "default" else 1.2)
            ax.axvline(self.config.budget, color="grey", ls=":", lw=1)
            ax.set(xlabel="answers", ylabel="expected post-test score", title=f"learning curves ({sim} simulator)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def _mean_ci(values: list[float | None]) -> tuple[float | None, float | None]:
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if not len(v):
        return None, None
    half = 1.96 * v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    return float(v.mean()), float(half)


def _fmt(e: dict[str, Any], key: str, digits: int) -> str:
    if e[key] is None:
        return "–"
    return f"{e[key]:.{digits}f} ± {e[f'{key}_ci95']:.{digits}f}"


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
                sim_config: SimulatorConfig | None = None) -> PracticeResult:
    """Every policy on the same `n_learners` simulated learners of the builtin simulator."""
    sim = Simulator(sim_config, random_state=config.seed)
    tracker = SkillTracker.fit(sim.simulate(config.train_learners, (20, 120)), course_graph(sim.course))
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
                tracker.update(state, rec.item_index, correct, time=when)
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


def run_practice_benchmark(config: PracticeConfig, policies: list[str], *, data: str | Path | None = None,
                           progress: Callable[[str], None] | None = None) -> PracticeResult:
    """The builtin simulator, and with `data` also a simulator fitted to that dataset."""
    unknown = sorted(set(policies) - set(POLICIES))
    if unknown:
        raise ConfigError(f"unknown policy(ies) {', '.join(unknown)}; choose from {', '.join(POLICIES)}")
    if data is not None and not Path(data).exists():  # checked first: fail before the builtin study runs
        raise ConfigError(f"no such dataset {str(data)!r}")
    result = run_builtin(config, policies, progress=progress)
    if data is not None:
        from metatutor.evaluation.practice_fitted import run_fitted

        run_fitted(result, data, policies, progress=progress)
    return result
