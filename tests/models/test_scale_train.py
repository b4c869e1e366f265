"""`metatutor train` at scale (`scale_train`): through the log's cache in one process, through torchrun in
two, and the torchrun command it runs for one machine or several."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from metatutor.cli import app
from metatutor.data.cache import ResponseCache
from metatutor.data.simulator import Simulator, SimulatorConfig
from metatutor.errors import ConfigError
from metatutor.models import load_model
from metatutor.models.scale_train import default_cache, launch_command, train_cached


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scale") / "log.parquet"
    Simulator(SimulatorConfig(n_skills=5, items_per_skill=6), random_state=1).write_parquet(path, 40, (5, 25))
    return path


def test_the_torchrun_command_for_one_machine_and_several() -> None:
    one = launch_command(["train", "x"], nproc=2)
    assert one[:3] == [sys.executable, "-m", "torch.distributed.run"] and "--standalone" in one
    assert one[one.index("--nproc-per-node") + 1] == "2" and one[-4:] == ["-m", "metatutor.cli", "train", "x"]
    many = launch_command(["train", "x"], nproc=4, nnodes=3, rdzv_endpoint="node0:29400", rdzv_id="job7")
    assert "--standalone" not in many
    for flag, value in (("--nnodes", "3"), ("--rdzv-backend", "c10d"), ("--rdzv-endpoint", "node0:29400"),
                        ("--rdzv-id", "job7")):
        assert many[many.index(flag) + 1] == value
    with pytest.raises(ConfigError, match="--rdzv-endpoint"):
        launch_command(["train"], nproc=1, nnodes=2)


def test_one_process_trains_from_the_cache_and_saves(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = train_cached(log, out, model="ensemble", cache=tmp_path / "cache", seed=0,
                          settings={"max_epochs": 1, "embed": 8, "hidden": 8}, checkpoints=tmp_path / "points")
    assert result.main and result.processes == 1 and result.train_learners == 32 and result.valid_learners == 8
    assert result.valid_auc is not None and 0.5 < result.valid_auc < 1
    record = json.loads((out / "training.json").read_text())
    assert record["train_responses"] == result.train_responses > 0 and len(record["learners_seen"]) == 40
    model = load_model(str(out))
    with ResponseCache(tmp_path / "cache") as cache:
        p = model.predict_proba(cache.responses())
    assert np.all((p > 0) & (p < 1))
    assert not (tmp_path / "points").exists()  # checkpoints go once the model is saved
    assert default_cache(log) == log.with_name("log.parquet.cache")


def test_the_cli_streams_and_refuses_what_does_not_stream(log: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["train", str(log), "--out", str(tmp_path / "m"), "--model", "irt", "--stream",
                               "--cache", str(tmp_path / "cache")])
    assert done.exit_code == 0, done.output
    assert "1 process" in done.output and (tmp_path / "m" / "model.json").is_file()
    refused = runner.invoke(app, ["train", str(log), "--out", str(tmp_path / "b"), "--model", "bkt", "--stream",
                                  "--cache", str(tmp_path / "cache")])
    assert refused.exit_code == 2 and "does not train from a response cache" in refused.output


def test_the_cli_trains_in_two_processes(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "m2"
    done = CliRunner().invoke(app, ["train", str(log), "--out", str(out), "--model", "dkt", "--max-epochs", "1",
                                    "--nproc", "2", "--cache", str(tmp_path / "cache2")])
    assert done.exit_code == 0, done.output
    assert load_model(str(out)).name == "dkt" and not (out / "checkpoints").exists()
