"""Data-parallel training from a response cache (`cached_fit`, `replicas`, `checkpoints`): two gloo processes
over loopback take the steps of one process on the same global batches, a fit whose rank is killed resumes
from its checkpoints, and the cache's statistics are those of the log read in memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from metatutor.data.cache import ResponseCache
from metatutor.data.simulator import Simulator, SimulatorConfig
from metatutor.data.splits import holdout_split
from metatutor.models import make_model
from metatutor.models.cached_fit import CachedSplit, fit_split
from metatutor.models.checkpoints import EpochCheckpoints
from metatutor.models.sequences import encode, item_skill_table

WORKER = Path(__file__).with_name("parallel_worker.py")
# tiny, without dropout (the replicas' dropout draws differ from one process's) or weight averaging
TINY = {"embed": 8, "hidden": 8, "dropout": 0.0, "average_decay": None, "batch_size": 8, "window": 7,
        "max_epochs": 2, "patience": 5, "random_state": 0}
TINY_ATTN = {**{k: v for k, v in TINY.items() if k != "hidden"}, "heads": 2, "window": 8}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """44 simulated learners of 5-29 answers; 33 train (so the last batch of 8 holds one learner: the second
    replica pads), 11 validate."""
    folder = tmp_path_factory.mktemp("parallel")
    Simulator(SimulatorConfig(n_skills=6, items_per_skill=5), random_state=0).write_parquet(
        folder / "log.parquet", 44, (5, 30), random_start=True)
    ResponseCache.build(folder / "log.parquet", folder / "cache")
    return folder / "cache"


def _split(cache: Path) -> CachedSplit:
    return CachedSplit.holdout(ResponseCache(cache), valid_fraction=0.25, random_state=0, block_rows=300)


def _one_process(cache: Path, model: str, settings: dict[str, object]) -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    fitted = fit_split(make_model(model, **settings), _split(cache))
    return dict(fitted.net_.state_dict())  # type: ignore[attr-defined]


def _torchrun(log: Path, *args: str, max_restarts: int = 0) -> None:
    """Two ranks of the worker through torchrun, on this machine (`--standalone`: loopback rendezvous)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "--max-restarts", str(max_restarts), "--monitor-interval", "0.2", str(WORKER), *args]
    with log.open("w") as out:
        done = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=out, stderr=subprocess.STDOUT,
                              timeout=600, check=False)
    assert done.returncode == 0, log.read_text()[-4000:]


def _gap(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    assert a.keys() == b.keys()
    return {k: float((a[k] - b[k]).abs().max()) for k in a}


def test_the_last_batch_leaves_a_replica_with_padding_only(cache: Path) -> None:
    assert len(_split(cache).train) % 8 == 1


@pytest.mark.parametrize("model", ["dkt", "attn"])
def test_two_gloo_processes_take_the_steps_of_one(cache: Path, tmp_path: Path, model: str) -> None:
    settings = TINY if model == "dkt" else TINY_ATTN
    _torchrun(tmp_path / "torchrun.log", "--cache", str(cache), "--out", str(tmp_path / "two.pt"), "--model", model,
              "--settings", json.dumps(settings))
    two = torch.load(tmp_path / "two.pt", weights_only=True)
    one = _one_process(cache, model, settings)
    start = _one_process(cache, model, {**settings, "max_epochs": 0})
    assert max(_gap(one, start).values()) > 1e-3  # the steps moved the weights
    gap = _gap(one, two)
    if model == "attn":
        # a key's bias shifts every score of a query alike, so its gradient is only that of the null slot's
        # score, near zero: Adam divides it by its own tiny scale, which turns rounding (the two halves of a
        # batch summed in another order) into steps of ~1e-5
        keys = {k: g for k, g in gap.items() if k.endswith("attn.k.bias")}
        assert keys and max(keys.values()) < 1e-4, keys
        gap = {k: g for k, g in gap.items() if k not in keys}
    assert max(gap.values()) < 1e-6, gap


def test_a_fit_resumes_after_a_killed_rank(cache: Path, tmp_path: Path) -> None:
    settings = {**TINY, "max_epochs": 3, "average_decay": 0.9}
    attempts = tmp_path / "attempts.txt"
    _torchrun(tmp_path / "torchrun.log", "--cache", str(cache), "--out", str(tmp_path / "resumed.pt"), "--settings", json.dumps(settings),
              "--checkpoints", str(tmp_path / "checkpoints"), "--kill-rank", "1", "--kill-epoch", "2",
              "--attempts", str(attempts), max_restarts=1)
    attempt, first_epoch = map(int, attempts.read_text().split())
    assert attempt == 1  # torchrun restarted the group once
    assert first_epoch >= 2  # from a checkpoint, not from scratch
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)
    assert max(_gap(_one_process(cache, "dkt", settings), resumed).values()) < 1e-6


def test_checkpoints_resume_in_one_process(cache: Path, tmp_path: Path) -> None:
    settings = {**TINY, "average_decay": 0.9}
    torch.set_num_threads(1)
    points = EpochCheckpoints(tmp_path, fingerprint={"test": 1})
    fit_split(make_model("dkt", **settings), _split(cache), checkpoints=points)  # 2 epochs, then "stopped"
    assert torch.load(tmp_path / "state.pt", weights_only=True)["epoch"] == 2
    resumed = fit_split(make_model("dkt", **{**settings, "max_epochs": 3}), _split(cache), checkpoints=points)
    straight = fit_split(make_model("dkt", **{**settings, "max_epochs": 3}), _split(cache))
    assert [r["epoch"] for r in resumed.history_] == [1, 2, 3]  # type: ignore[attr-defined]
    assert max(_gap(dict(resumed.net_.state_dict()), dict(straight.net_.state_dict())).values()) == 0.0  # type: ignore[attr-defined]
    other = EpochCheckpoints(tmp_path, fingerprint={"test": 2})  # another fit's checkpoint is not used
    assert other.load() is None


def test_the_cache_gives_what_the_log_in_memory_gives(cache: Path) -> None:
    split = _split(cache)
    train, valid = holdout_split(ResponseCache(cache).responses(), valid_fraction=0.25, random_state=0)
    assert valid is not None
    vocab = split.vocabulary()
    irt_memory = make_model("irt").fit(train)
    assert list(vocab.item_ids) == list(irt_memory.vocab_.item_ids)
    assert list(vocab.skill_ids) == list(irt_memory.vocab_.skill_ids)
    stats = split.stats(vocab, max_skills=4)
    np.testing.assert_array_equal(stats.lengths, train.lengths)
    np.testing.assert_array_equal(stats.item_skills, item_skill_table(encode(train, vocab, max_skills=4), vocab))
    irt_cache = fit_split(make_model("irt"), split)
    np.testing.assert_allclose(irt_cache.predict_proba(valid), irt_memory.predict_proba(valid), rtol=0, atol=1e-12)
    np.testing.assert_allclose(irt_cache.skill_difficulty_, irt_memory.skill_difficulty_, atol=1e-12)  # type: ignore[attr-defined]
