from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from metatutor.cli import app
from metatutor.data.responses import Responses
from metatutor.evaluation.benchmark import run_kt_benchmark
from metatutor.evaluation.metrics import score

runner = CliRunner()


@pytest.fixture(scope="module")
def csv_path(simulated: Responses, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "cohort.csv"
    frame = simulated.to_frame().rename(columns={"learner": "user_id", "item": "problem_id", "skill": "skill_id"})
    frame.to_csv(path, index=False)
    return path


def test_score_on_known_values() -> None:
    s = score(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.6, 0.4]))
    assert s["auc"] == 1.0 and s["acc"] == 1.0
    assert s["rmse"] == pytest.approx(np.sqrt((0.01 + 0.01 + 0.16 + 0.16) / 4))


def test_kfold_benchmark_json_shape(csv_path: Path) -> None:
    result = run_kt_benchmark(csv_path, protocol="kfold", models=["irt", "bkt"], folds=[1, 2], seed=3)
    data = result.to_json()
    assert data["task"] == "kt" and data["protocol"] == "kfold" and data["dataset"] == "cohort"
    assert {(r["model"], r["fold"]) for r in data["rows"]} == {("irt", 1), ("irt", 2), ("bkt", 1), ("bkt", 2)}
    for row in data["rows"]:
        assert set(row) >= {"model", "fold", "auc", "acc", "rmse", "n", "train_seconds"}
        assert 0.5 < row["auc"] < 1.0
    assert set(data["summary"]["irt"]) >= {"auc", "auc_std", "acc", "folds"} and data["summary"]["irt"]["folds"] == 2


def test_cli_benchmark_writes_json_and_markdown(csv_path: Path, tmp_path: Path) -> None:
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    res = runner.invoke(app, ["benchmark", "kt", "--data", str(csv_path), "--protocol", "kfold", "--models",
                              "default", "--folds", "1", "--json", str(out), "--markdown", str(md)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["rows"][0]["model"] == "default" and "| default |" in md.read_text()


def test_cli_data_check(csv_path: Path) -> None:
    res = runner.invoke(app, ["data", "check", str(csv_path), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)["cohort.csv"]
    assert info["learners"] == 240 and info["multi_skill_responses"] > 0


def test_cli_bad_input_exit_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,problem_id,correct\n1,2,1\n1,3,7\n")
    res = runner.invoke(app, ["data", "check", str(bad)])
    assert res.exit_code == 2
    assert "InvalidResponsesError" in res.output and "Traceback" not in res.output and "rows 3" in res.output
    res = runner.invoke(app, ["benchmark", "kt", "--data", str(bad), "--protocol", "nope"])
    assert res.exit_code == 2 and "unknown protocol" in res.output
