"""One rank of the data-parallel tests (`test_parallel.py` runs it through torchrun; pytest never collects
it): fit a model on a response cache with `fit_split`, the main rank saving the trained weights.

With --kill-rank R --kill-epoch E, rank R kills itself (SIGKILL) when it finishes epoch E in the first
attempt, so that torchrun restarts the group and the fit resumes from its checkpoints; every rank-0 attempt
appends "attempt first-epoch-trained" to --attempts.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

import torch

from metatutor.data.cache import ResponseCache
from metatutor.models import make_model
from metatutor.models.cached_fit import CachedSplit, fit_split
from metatutor.models.checkpoints import EpochCheckpoints
from metatutor.models.epochs import follow_epochs
from metatutor.models.replicas import Replicas


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="dkt")
    parser.add_argument("--settings", default="{}")
    parser.add_argument("--block-rows", type=int, default=300)
    parser.add_argument("--checkpoints", type=Path)
    parser.add_argument("--kill-rank", type=int, default=-1)
    parser.add_argument("--kill-epoch", type=int, default=-1)
    parser.add_argument("--attempts", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    replicas = Replicas.from_env()
    attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    split = CachedSplit.holdout(ResponseCache(args.cache), valid_fraction=0.25, random_state=0, replicas=replicas,
                                block_rows=args.block_rows)
    model = make_model(args.model, **json.loads(args.settings))
    checkpoints = None if args.checkpoints is None else EpochCheckpoints(
        args.checkpoints, fingerprint={"model": args.model, "settings": args.settings}, replicas=replicas)
    trained: list[int] = []

    def follow(name: str, epoch: int, record: dict[str, float]) -> None:
        trained.append(epoch)
        if replicas.rank == args.kill_rank and epoch == args.kill_epoch and attempt == 0:
            os.kill(os.getpid(), signal.SIGKILL)

    with follow_epochs(follow):
        fit_split(model, split, checkpoints=checkpoints)
    if replicas.is_main:
        torch.save(dict(model.net_.state_dict()), args.out)  # type: ignore[attr-defined]
        if args.attempts is not None:
            with args.attempts.open("a") as f:
                f.write(f"{attempt} {trained[0] if trained else 0}\n")
    replicas.close()


if __name__ == "__main__":
    main()
