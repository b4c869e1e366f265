from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metatutor.cli import app
from metatutor.evaluation.coldstart import KS, ColdStartResult, run_coldstart_benchmark
from metatutor.meta import DEFAULT_METHOD

runner = CliRunner()


def test_coldstart_result_shape_and_default(csv_path: Path, tmp_path: Path) -> None:
    fast = {"population_dkt": {"max_epochs": 5, "hidden": 32, "embed": 16, "lr": 5e-3},
            DEFAULT_METHOD: {"meta_steps": 20, "eval_every": 10}}
    result = run_coldstart_benchmark(csv_path, protocol="kfold", models=["population", "dkt", "default"],
                                     folds=[2], seed=1, settings=fast)
    data = json.loads(json.dumps(result.to_json()))
    assert data["task"] == "coldstart" and data["protocol"] == "kfold"
    assert {r["k"] for r in data["rows"]} == set(KS)  # every simulated learner answers >= 30 items
    for row in data["rows"]:
        assert set(row) == {"model", "fold", "k", "auc", "acc", "n"} and row["fold"] == 2 and row["n"] > 0
    s = data["summary"]["default"]
    assert set(s["auc_at_k"]) == {str(k) for k in KS} and 0.5 < s["auc_at_10"] < 1
    assert s["adapt_ms_median"] > 0 and s["adapt_batch_learners"] > 0
    # the population model ignores the support: its AUC does not depend on what was observed beyond the items
    assert data["summary"]["population"]["folds"] == 1
    again = ColdStartResult.from_json(data)
    assert again.summary()["default"]["auc_at_k"] == s["auc_at_k"] and again.online == data["online"]
    result.plot(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| default |" in result.to_markdown()


def test_cli_coldstart_writes_json_markdown_and_plot(csv_path: Path, tmp_path: Path) -> None:
    out, md, png = tmp_path / "c.json", tmp_path / "c.md", tmp_path / "c.png"
    res = runner.invoke(app, ["benchmark", "coldstart", "--data", str(csv_path), "--protocol", "kfold", "--models",
                              "population,irt", "--folds", "1", "--json", str(out), "--markdown", str(md),
                              "--plot", str(png)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    irt, pop = data["summary"]["irt"]["auc_at_k"], data["summary"]["population"]["auc_at_k"]
    assert irt["0"] == pytest.approx(pop["0"]) and irt["20"] > pop["20"]
    assert png.stat().st_size > 1000 and "| irt |" in md.read_text()


def test_cli_coldstart_unknown_method_exit_2(csv_path: Path) -> None:
    res = runner.invoke(app, ["benchmark", "coldstart", "--data", str(csv_path), "--protocol", "kfold",
                              "--models", "nope", "--folds", "1"])
    assert res.exit_code == 2 and "unknown cold-start method" in res.output
