"""Predicting P(correct) for never-answered generated items of held-out templates.

Protocol (all seeded):
  * the built-in course's items, `--per-template` per template; one template per skill is held out
    (drawn at random), the others are the training templates;
  * the simulated classmates (`metatutor.content.simulate`; true difficulty = skill + template offsets +
    a hidden non-linear function of the features + item noise) answer items of every template, typed and
    graded on the server side like real answers; learners are split into training learners and test
    learners;
  * both models (`DifficultyModel` with the generic item features, and the skill-only one) are fitted
    on the training learners' answers to training templates only, with fixed settings (nothing chosen on
    test data); for each test learner, θ is estimated from their answers to training templates, weights
    frozen;
  * the figure: AUC of each model's P(correct) on the test learners' answers to the held-out templates'
    items, which nobody answered during fitting.

Usage: python benchmarks/new_content.py --json docs/results/new_content.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from metatutor.content.course import SKILLS, course_items, course_templates
from metatutor.content.difficulty import DifficultyModel
from metatutor.content.simulate import Classmates, ClassmatesConfig


def run(*, learners: int, test_fraction: float, per_template: int, per_skill: int, seed: int,
        config: ClassmatesConfig) -> dict[str, object]:
    rng = random.Random(seed)
    by_skill: dict[str, list[str]] = {}
    for t in course_templates():
        by_skill.setdefault(t.skill, []).append(t.id)
    heldout = sorted(rng.choice(ids) for s, ids in by_skill.items() if s in SKILLS and len(ids) > 1)
    items = course_items(per_template, seed=seed)
    index = {i.id: i for i in items}
    sim = Classmates(items, config, random_state=seed)
    log = sim.simulate(learners, per_skill=per_skill)
    r = log.responses
    template = np.array([index[str(i)].template for i in r.item_ids[r.item]])
    held = np.isin(template, heldout)
    ids = list(r.learner_ids)
    rng.shuffle(ids)
    test_ids = set(ids[: round(test_fraction * len(ids))])
    is_test = np.isin(r.learner_ids[r.learner], list(test_ids))
    train, support, query = r.select_rows(~is_test & ~held), r.select_rows(is_test & ~held), r.select_rows(is_test & held)
    out: dict[str, object] = {}
    for name, model in (("features", DifficultyModel()), ("skill_only", DifficultyModel(features=()))):
        model.fit(train, index).fit_learners(support, index)
        out[f"auc_{name}"] = round(float(roc_auc_score(query.correct, model.predict_proba(query, index))), 4)
    # for context: the same protocol with the simulator's true item difficulty known (an upper bound)
    true_b = DifficultyModel(features=("b",))
    truth = {k: replace(i, features={"b": sim.difficulty_[k]}) for k, i in index.items()}
    true_b.fit(train, truth).fit_learners(support, truth)
    out["auc_true_difficulty"] = round(float(roc_auc_score(query.correct, true_b.predict_proba(query, truth))), 4)
    out["margin"] = round(out["auc_features"] - out["auc_skill_only"], 4)  # type: ignore[operator]
    detected = log.answers[log.answers["intended"] == "misconception"]
    out.update(heldout_templates=heldout, learners=learners, test_learners=len(test_ids), seed=seed,
               per_template=per_template, per_skill=per_skill, train_responses=len(train),
               template_sd=config.template_sd, feature_scale=config.feature_scale, query_responses=len(query), query_items=int(np.unique(query.item).size),
               misconception_recall=round(float((detected["detected"] == detected["true_misconception"]).mean()), 4))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learners", type=int, default=900)
    ap.add_argument("--test-fraction", type=float, default=1 / 3)
    ap.add_argument("--per-template", type=int, default=40)
    ap.add_argument("--per-skill", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--template-sd", type=float, default=ClassmatesConfig.template_sd)
    ap.add_argument("--feature-scale", type=float, default=ClassmatesConfig.feature_scale)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = run(learners=args.learners, test_fraction=args.test_fraction, per_template=args.per_template,
                 per_skill=args.per_skill, seed=args.seed,
                 config=ClassmatesConfig(template_sd=args.template_sd, feature_scale=args.feature_scale))
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
