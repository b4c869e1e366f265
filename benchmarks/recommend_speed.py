"""Latency of one recommendation with its reason, for one learner, on a 5,000-item bank.

A simulated course of 100 skills × 50 items (5,000 items); the tracker is fitted on 2,000 simulated
learners; each timed learner has 50 answers of history. Prints the median and p99 over 500 calls.

    python benchmarks/recommend_speed.py [--policy default] [--skills 100] [--items-per-skill 50]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from metatutor.data.simulator import Simulator, SimulatorConfig
from metatutor.feedback import replay
from metatutor.learner import SkillTracker, course_graph
from metatutor.policy import make_policy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", default="default")
    ap.add_argument("--skills", type=int, default=100)
    ap.add_argument("--items-per-skill", type=int, default=50)
    ap.add_argument("--calls", type=int, default=500)
    args = ap.parse_args()
    sim = Simulator(SimulatorConfig(n_skills=args.skills, items_per_skill=args.items_per_skill), random_state=0)
    logs = sim.simulate(2000, (20, 120), policy="random")
    tracker = SkillTracker.fit(logs, course_graph(sim.course))
    policy = make_policy(args.policy, tracker)
    frame = logs.to_frame()
    histories = [list(zip(g.item, g.correct, g.timestamp, strict=True))[:50] for _, g in frame.groupby("learner")]
    states = [replay(tracker, h) for h in histories[: args.calls]]
    rng = np.random.default_rng(0)
    times = []
    for state in states:
        t0 = time.perf_counter()
        rec = policy.recommend(state, rng)
        times.append(1000 * (time.perf_counter() - t0))
        assert rec.reason
    out = {"policy": args.policy, "items": len(tracker.item_ids), "skills": tracker.n_skills, "calls": len(times),
           "median_ms": float(np.median(times)), "p99_ms": float(np.percentile(times, 99)),
           "example_reason": rec.reason}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
