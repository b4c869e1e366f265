"""Writes docs/reports.md: an example learner report and class report on the builtin simulator.

    python benchmarks/example_reports.py [--out docs/reports.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from metatutor.data.simulator import Simulator
from metatutor.feedback import class_report, learner_report, replay
from metatutor.learner import SkillTracker, course_graph
from metatutor.policy.resources import Resource, ResourceCatalog


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/reports.md")
    args = ap.parse_args()
    sim = Simulator(random_state=0)
    tracker = SkillTracker.fit(sim.simulate(1000, (20, 120)), course_graph(sim.course))
    frame = sim.simulate(12, (30, 90)).to_frame()  # a class of 12 new learners, not in the fit
    goals = ["s12"]
    states = {str(name): replay(tracker, list(zip(g.item, g.correct, g.timestamp, strict=True)), goals)
              for name, g in frame.groupby("learner")}
    catalog = ResourceCatalog([Resource(s, "video", f"Worked example: {s}", f"https://example.org/{s}")
                               for s in tracker.graph.skills] +
                              [Resource(s, "hint", f"Common mistakes in {s}") for s in tracker.graph.skills])
    first = next(iter(states))
    learner = learner_report(tracker, states[first], learner=first, catalog=catalog, rng=np.random.default_rng(0))
    klass = class_report(tracker, states)
    text = ["# Example reports", "",
            "Produced by `python benchmarks/example_reports.py` on the builtin simulator: the tracker is fitted",
            "on 1,000 simulated learners; the class is 12 new learners (30-90 answers each, from the skill-builder",
            "policy) working toward skill s12. Prerequisites are the course author's graph.", "",
            learner.to_markdown(), klass.to_markdown(),
            "The class report's `heatmap` field (learner × skill mastery) is the data of the dashboard heatmap."]
    Path(args.out).write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
