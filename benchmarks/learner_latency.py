"""Serving latency of the learner model behind every decision (in-process, CPU, one thread): one answer
(`observe`) plus the next item with its reason (the `default` policy's `recommend`), one learner at a time.

Courses: `--course builtin` (the built-in maths course; the model trained on learners simulated by
`content.simulate.Classmates`; the timed learners are simulated too, each answering what the policy
recommends, right with the model's own P(correct)), or a dataset folder (its every item is the course;
the model trained on fold `--fold`'s training learners, the timed steps replay that fold's test
learners' real answers, each followed by a recommendation). `--model` loads a saved learner model
instead of training one (`--save` keeps the trained one).

Usage: python benchmarks/learner_latency.py --course builtin --json docs/results/learner_latency_builtin.json
       python benchmarks/learner_latency.py --course ../shared/datasets/assist2009_pid --fold 1 \
           --save /tmp/lm/a09_meta --json docs/results/learner_latency_assist2009_pid.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metatutor.data.folders import DatasetFolder
from metatutor.data.responses import Responses
from metatutor.learner import CourseMap, SkillGraph, Tracker, fit_tracker, load_tracker
from metatutor.learner.course import item_skill_lists
from metatutor.meta import Population
from metatutor.models.dkt import DKT
from metatutor.models.irt import IRT
from metatutor.policy import make_policy


def builtin(args: argparse.Namespace) -> tuple[Tracker, list[list[tuple[int, int]]] | None]:
    from metatutor.content import SKILLS, prerequisites
    from metatutor.content.course import course_items
    from metatutor.content.simulate import Classmates

    items = course_items(12, seed=0)
    graph = SkillGraph.from_edges([(a, b) for a, b in prerequisites()], list(SKILLS))
    course = CourseMap(graph, [i.id for i in items], [list(i.skills) for i in items])
    if args.model:
        return load_tracker(args.model), None
    logs = Classmates(items, random_state=0).simulate(args.train_learners, per_skill=3).responses
    ids = logs.learners_present()
    cut = int(0.8 * len(ids))
    train, valid = logs.select_learners(ids[:cut]), logs.select_learners(ids[cut:])
    tracker = fit_tracker(args.name, train, valid, graph, course=course) if args.name != "tracker" else \
        fit_tracker("tracker", train, None, graph).with_course(course)
    return tracker, None


def dataset(args: argparse.Namespace) -> tuple[Tracker, list[list[tuple[int, int]]]]:
    folder = DatasetFolder(args.course)
    split = folder.fold_split(args.fold)
    if args.model:
        tracker = load_tracker(args.model)
    else:
        whole = Responses.concat([split.train, split.valid, split.test])
        est = SkillGraph.estimate(split.train)
        skills = [str(s) for s in whole.skill_ids[np.unique(whole.skill)]]
        graph = SkillGraph.from_edges(est.edges, skills)
        present = np.flatnonzero(np.bincount(whole.item, minlength=len(whole.item_ids)) > 0)
        lists = item_skill_lists(whole)
        course = CourseMap(graph, [str(x) for x in whole.item_ids[present]], [lists[i] for i in present])
        population = Population(split.train, split.valid, dkt_settings={"random_state": 0})
        if args.population:  # a population DKT and IRT fitted before on the same fold
            population._dkt, population._irt = DKT.load(Path(args.population) / "dkt"), IRT.load(Path(args.population) / "irt")
        tracker = fit_tracker(args.name, split.train, split.valid, graph, course=course, population=population)
    test = split.test
    replays = []
    for j in range(min(args.learners, test.n_learners)):
        lo, hi = test.starts[j], min(test.starts[j + 1], test.starts[j] + args.steps)
        replays.append([(tracker.item_index[str(test.item_ids[test.item[r]])], int(test.correct[r]))
                        for r in range(lo, hi) if str(test.item_ids[test.item[r]]) in tracker.item_index])
    return tracker, replays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", default="builtin", help="builtin, or a dataset folder")
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--name", default="meta", help="learner model to train: meta (the default) or tracker")
    parser.add_argument("--model", type=Path, help="a saved learner model to load instead of training one")
    parser.add_argument("--population", type=Path, help="a folder with the fold's population dkt/ and irt/")
    parser.add_argument("--save", type=Path)
    parser.add_argument("--train-learners", type=int, default=300)
    parser.add_argument("--learners", type=int, default=50)
    parser.add_argument("--steps", type=int, default=200, help="answers per learner (at most)")
    parser.add_argument("--policy", default="default")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tracker, replays = builtin(args) if args.course == "builtin" else dataset(args)
    if args.save:
        tracker.save(args.save)
    policy = make_policy(args.policy, tracker)
    rng = np.random.default_rng(0)
    observe, step = [], []
    warm = tracker.new_state()
    policy.recommend(warm, rng)  # one-off tables outside the timing
    for j in range(args.learners):
        state = tracker.new_state()
        rec = policy.recommend(state, rng)
        answers = replays[j] if replays is not None and j < len(replays) else None
        n = len(answers) if answers is not None else args.steps
        for t in range(n):
            if answers is not None:
                item, correct = answers[t]
            else:
                item = rec.item_index
                correct = int(rng.random() < tracker.p_correct(state, np.array([item]))[0])
            t0 = time.perf_counter()
            tracker.observe(state, item, correct, 60.0 * t)
            t1 = time.perf_counter()
            rec = policy.recommend(state, rng)
            t2 = time.perf_counter()
            observe.append(t1 - t0)
            step.append(t2 - t0)
            assert rec.reason and 0 <= rec.item_index < tracker.n_items
    ms = {k: np.array(v) * 1000 for k, v in (("answer_and_next", step), ("answer", observe))}
    out: dict[str, Any] = {"course": "builtin" if args.course == "builtin" else Path(args.course).name,
                           "model": tracker.name, "policy": args.policy, "items": tracker.n_items,
                           "skills": tracker.n_skills, "steps": len(step), "threads": args.threads,
                           "loaded": str(args.model) if args.model else None,
                           **{f"{k}_ms_median": float(np.median(v)) for k, v in ms.items()},
                           **{f"{k}_ms_p99": float(np.percentile(v, 99)) for k, v in ms.items()},
                           "example_reason": rec.reason}
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
