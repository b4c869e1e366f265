"""How fast the default cold-start method personalises new learners (in-process, CPU).

Meta-trains the default method on one fold's training learners, then on that fold's test learners
with at least k + 10 responses:
  * one learner at a time: `adapt(first k responses)` alone, and adapt + P(correct) of the next 10 items;
  * batched: `adapt` of `--batch` learners at once (test learners repeated under new ids if needed).

Usage: python benchmarks/adapt_speed.py --data ../shared/datasets/assist2009_pid --fold 1 \
           --json docs/results/adapt_speed.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from metatutor.data.folders import DatasetFolder
from metatutor.data.responses import Responses
from metatutor.meta import DEFAULT_METHOD, GradientMeta, cold_start_episodes, make_method


def renamed(responses: Responses, copy: int) -> Responses:
    """The same responses under new learner ids (`<id>#<copy>`)."""
    ids = np.array([f"{x}#{copy}" for x in responses.learner_ids], dtype=object)
    return Responses(responses.learner, responses.item, responses.correct, responses.skill_ptr, responses.skill,
                     responses.timestamp, ids, responses.item_ids, responses.skill_ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = DatasetFolder(args.data).fold_split(args.fold)
    started = time.perf_counter()
    method = make_method("default").fit(split.train, split.valid)
    fit_seconds = time.perf_counter() - started
    assert isinstance(method, GradientMeta)
    ep = cold_start_episodes(split.test, args.k)
    learners = ep.query.learners_present()
    pairs = [(ep.support.select_learners([x]), ep.query.select_learners([x])) for x in learners[: args.singles]]
    for s, _ in pairs[:20]:  # warm-up
        method.adapt(s)
    adapt_ms, full_ms = [], []
    for s, q in pairs:
        t0 = time.perf_counter()
        state = method.adapt(s)
        t1 = time.perf_counter()
        method.predict_adapted(state, q)
        t2 = time.perf_counter()
        adapt_ms.append(1000 * (t1 - t0))
        full_ms.append(1000 * (t2 - t0))
    copies = -(-args.batch // len(learners))
    support = Responses.concat([renamed(ep.support, c) for c in range(copies)])
    codes = np.arange(min(args.batch, support.n_learners))
    t0 = time.perf_counter()
    method.adapt(support, codes)
    batch_seconds = time.perf_counter() - t0
    result = {
        "dataset": Path(args.data).name, "fold": args.fold,
        "method": DEFAULT_METHOD, "k": args.k, "threads": args.threads, "fit_seconds": round(fit_seconds, 1),
        "adapt_ms_median": float(np.median(adapt_ms)), "adapt_ms_p99": float(np.percentile(adapt_ms, 99)),
        "adapt_and_predict_10_ms_median": float(np.median(full_ms)), "singles": len(pairs),
        "batch_learners": len(codes), "batch_adapt_seconds": batch_seconds,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
