"""Serving latency of a learner model's online state (in-process, CPU).

Trains a model (`--name`: attn by default, or any model with `online()`: dkt, irt, ensemble) on one
fold's training learners to its best validation AUC (or loads a saved one with --model), then replays
test learners' responses one at a time through its online state: each step is one `update` (the new
response) + `predict()` (P(correct) on EVERY item of the bank; the attention model interpolates
through its `BankPlan`). Reports median and p99 over all steps, the same for `predict` on a 100-item
candidate list, and, for the attention model (alone or as a member), the largest difference between
the bank's P(correct) and the exact one (every item run through the network), checked every 10th step
outside the timing.

Usage: python benchmarks/serving_latency.py --data ../shared/datasets/assist2009_pid --fold 1 \
           --json docs/results/serving_latency_assist2009_pid.json
       python benchmarks/serving_latency.py --name ensemble --data ... --json ...
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from metatutor.data.folders import DatasetFolder
from metatutor.models import load_model, make_model
from metatutor.models.attention import AttentionKT, AttentionOnlineState
from metatutor.models.sequences import encode


def attention_states(state: object) -> list[AttentionOnlineState]:
    """The attention model's states inside a serving state (itself, or an ensemble's member)."""
    if isinstance(state, AttentionOnlineState):
        return [state]
    return [s for s in getattr(state, "states", []) if isinstance(s, AttentionOnlineState)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=30, help="most epochs (early stopping on validation AUC)")
    parser.add_argument("--name", default="attn", help="registry name of the model to train (attn, dkt, irt, ensemble)")
    parser.add_argument("--model", type=Path, help="a saved model to load instead of training one")
    parser.add_argument("--save", type=Path, help="save the trained model here (to time it again with --model)")
    parser.add_argument("--learners", type=int, default=50)
    parser.add_argument("--steps", type=int, default=300, help="responses replayed per learner (at most)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = DatasetFolder(args.data).fold_split(args.fold)
    if args.model:
        model = load_model(str(args.model))
    else:
        model = make_model(args.name, max_epochs=args.epochs).fit(split.train, split.valid)
        if args.save:
            model.save(args.save)
    attn = [m for m in [model, *getattr(model, "members_", [])] if isinstance(m, AttentionKT)]
    test = split.test
    items = model.vocab_.items(test)
    skills = encode(test, model.vocab_, max_skills=getattr(model, "max_skills_", 4)).skill
    rng = np.random.default_rng(0)
    whole, update_only, subset, error = [], [], [], 0.0
    candidates = rng.choice(model.vocab_.n_items, size=100, replace=False)
    for j in range(min(args.learners, test.n_learners)):
        lo, hi = test.starts[j], min(test.starts[j + 1], test.starts[j] + args.steps)
        state = model.online()  # type: ignore[attr-defined]
        state.predict()  # per-model bank tables are computed once, outside the timing
        for r in range(lo, hi):
            item = int(items[r])
            t0 = time.perf_counter()
            state.update(item, skills[r], int(test.correct[r]))
            t1 = time.perf_counter()
            p = state.predict()
            t2 = time.perf_counter()
            state.predict(candidates)
            t3 = time.perf_counter()
            whole.append(t2 - t0)
            update_only.append(t1 - t0)
            subset.append(t3 - t2 + t1 - t0)
            assert len(p) == model.vocab_.n_items
            if len(whole) % 10 == 0:
                for a in attention_states(state):
                    error = max(error, float(np.abs(a.predict() - a.predict(exact=True)).max()))
    ms = {name: np.array(v) * 1000 for name, v in
          (("update_and_bank", whole), ("update", update_only), ("update_and_100", subset))}
    out = {"dataset": Path(args.data).name, "fold": args.fold, "bank_items": int(model.vocab_.n_items),
           "steps": len(whole), "threads": args.threads, "name": model.name,
           "model": str(args.model or f"trained, {args.epochs} epochs at most"),
           "bank_questions": int(attn[0].bank_plan().x.shape[0]) if attn else None,
           "bank_max_abs_error": error if attn else None,
           **{f"{k}_ms_median": float(np.median(v)) for k, v in ms.items()},
           **{f"{k}_ms_p99": float(np.percentile(v, 99)) for k, v in ms.items()}}
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
