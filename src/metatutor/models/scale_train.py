"""`metatutor train` on a log of any size: from an on-disk `ResponseCache`, learner by learner, in one
process or data-parallel over many (torchrun), with a checkpoint after every epoch.

Every process runs `train_cached`: it joins the group torchrun describes (`Replicas.from_env`; alone, a group
of one), opens the cache (the main rank builds it when it is missing or stale, the others wait), holds out
a seeded share of the learners for early stopping (`ResponseCache.holdout`), fits with `cached_fit.fit_split`
and, on the main rank, saves the model and its `training.json`. The checkpoints (`--checkpoints`, default
OUT/checkpoints) survive a killed rank: torchrun restarts the group (`--max-restarts`) and the fit resumes
after its last finished epoch; running the same command again does the same. They are removed once the
model is saved.

`launch_command` is the torchrun command that `metatutor train --nproc N` runs for the user:

    python -m torch.distributed.run --standalone --nproc-per-node N --max-restarts 3 \\
        -m metatutor.cli train LOG --out MODEL --cache LOG_CACHE --stream ...

On several machines, run the same `metatutor train ... --nproc N --nnodes M --rdzv-endpoint HOST:PORT` on each
(HOST one of them, PORT free there; `--rdzv-id` names the job), or torchrun yourself on each:

    torchrun --nnodes M --nproc-per-node N --rdzv-backend c10d --rdzv-endpoint HOST:PORT --rdzv-id JOB \\
        -m metatutor.cli train LOG --out MODEL --cache CACHE

Each machine needs the cache: `metatutor train --nnodes` builds it on each before starting the ranks (the same
file gives the same cache), or put it where all machines read it, built once (`metatutor data check LOG
--stream --cache CACHE`). OUT and the checkpoints must be on storage the main rank writes and, to resume,
reads again.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metatutor.data.cache import ResponseCache, is_cache
from metatutor.errors import ConfigError
from metatutor.models.cached_fit import CachedSplit, fit_split
from metatutor.models.checkpoints import EpochCheckpoints
from metatutor.models.metrics import score
from metatutor.models.replicas import Replicas

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedTraining:
    """What `train_cached` did (the CLI prints it)."""

    model: str
    processes: int
    train_learners: int
    valid_learners: int
    train_responses: int
    valid_auc: float | None
    seconds: float
    out: Path
    main: bool  # whether this process is the main rank (the one that saved)


def default_cache(data: Path) -> Path:
    """Where a log's cache goes unless told: beside it (`log.parquet` -> `log.parquet.cache`)."""
    return data if is_cache(data) else data.with_name(data.name + ".cache")


def open_cache(data: Path, folder: Path, replicas: Replicas, **options: Any) -> ResponseCache:
    """The cache of `data` (a log, or a cache folder itself): the main rank builds it when missing or not this
    file's, the others open it after."""
    if is_cache(data):
        return ResponseCache(data)
    if replicas.is_main:
        ResponseCache.for_file(data, folder, **options).close()
    replicas.barrier()
    return ResponseCache(folder)


def train_cached(data: Path, out: Path, *, model: str = "default", cache: Path | None = None, valid: float = 0.2,
                 seed: int = 0, settings: dict[str, Any] | None = None, checkpoints: Path | None = None,
                 columns: dict[str, str] | None = None, delimiter: str | None = None,
                 block_rows: int | None = None) -> CachedTraining:
    """Fit `model` on the learners of `data` read through its cache, in the data-parallel group torchrun
    describes (one process without it); see the module docstring."""
    from metatutor.models import make_model
    from metatutor.models.provenance import TrainingRecord, learner_digests

    replicas = Replicas.from_env()
    try:
        options: dict[str, Any] = {"columns": columns, **({"delimiter": delimiter} if delimiter else {})}
        responses = open_cache(data, cache or default_cache(data), replicas, **options)
        extra = {} if block_rows is None else {"block_rows": block_rows}
        split = CachedSplit.holdout(responses, valid_fraction=valid, random_state=seed, replicas=replicas, **extra)
        chosen = {"random_state": seed, **(settings or {})}
        learner_model = make_model(model, **chosen)
        points = None if checkpoints is None else EpochCheckpoints(checkpoints, replicas=replicas, fingerprint={
            "model": model, "settings": chosen, "valid": valid, "source": responses.meta.get("source"),
            "rows": responses.n_rows, "source_size": responses.meta.get("source_size"),
            "source_mtime_ns": responses.meta.get("source_mtime_ns")})
        t0 = time.perf_counter()
        fit_split(learner_model, split, checkpoints=points)
        seconds = time.perf_counter() - t0
        valid_auc = None
        if len(split.valid):
            y, p = split.gather_valid(learner_model.predict_proba)
            valid_auc = score(y, p[:, 0])["auc"]
            valid_auc = None if np.isnan(valid_auc) else valid_auc
        result = CachedTraining(model=model, processes=replicas.world, train_learners=len(split.train),
                                valid_learners=len(split.valid), train_responses=split.train_responses,
                                valid_auc=valid_auc, seconds=round(seconds, 1), out=out, main=replicas.is_main)
        if replicas.is_main:
            learner_model.save(out)
            TrainingRecord(model=model, data=str(data), seed=seed, train_learners=result.train_learners,
                           valid_learners=result.valid_learners, train_responses=result.train_responses,
                           valid_auc=valid_auc, seconds=result.seconds,
                           epochs=list(getattr(learner_model, "history_", [])),
                           learners_seen=learner_digests(responses.learner_ids)).write(out)
            if points is not None:
                points.clear()
        replicas.barrier()
        return result
    finally:
        replicas.close()


def launch_command(worker_args: list[str], *, nproc: int, nnodes: int = 1, rdzv_endpoint: str | None = None,
                   rdzv_id: str = "metatutor", max_restarts: int = 3) -> list[str]:
    """The torchrun command that runs `metatutor.cli` with `worker_args` in `nproc` processes on this machine
    (of `nnodes` machines meeting at `rdzv_endpoint`)."""
    if nproc < 1 or nnodes < 1:
        raise ConfigError(f"--nproc and --nnodes must be at least 1, not {nproc} and {nnodes}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
           "--max-restarts", str(max_restarts)]
    if nnodes > 1:
        if not rdzv_endpoint:
            raise ConfigError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT: a free port on one of the machines, "
                              "reachable from all of them")
        cmd += ["--nnodes", str(nnodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", rdzv_endpoint,
                "--rdzv-id", rdzv_id]
    else:
        cmd.append("--standalone")
    return [*cmd, "-m", "metatutor.cli", *worker_args]
