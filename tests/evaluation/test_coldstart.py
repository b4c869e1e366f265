from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from metatutor.cli import app
from metatutor.errors import ConfigError
from metatutor.evaluation.coldstart import KS, ColdStartResult, run_coldstart_benchmark
from metatutor.evaluation.protocols import iter_splits
from metatutor.meta import DEFAULT_METHOD, cold_start_episodes

runner = CliRunner()


@pytest.mark.slow
def test_coldstart_result_shape_and_default(csv_path: Path, tmp_path: Path, achievable) -> None:  # type: ignore[no-untyped-def]
    fast = {"population_dkt": {"max_epochs": 5, "hidden": 32, "embed": 16, "lr": 5e-3},
            DEFAULT_METHOD: {"meta_steps": 20, "eval_every": 10}}
    result = run_coldstart_benchmark(csv_path, protocol="kfold", models=["population", "irt", "dkt", "default"],
                                     folds=[2], seed=1, settings=fast)
    data = json.loads(json.dumps(result.to_json()))
    assert data["task"] == "coldstart" and data["protocol"] == "kfold"
    assert {r["k"] for r in data["rows"]} == set(KS)  # every simulated learner answers >= 30 items
    for row in data["rows"]:
        assert set(row) == {"model", "track", "fold", "k", "auc", "acc", "ece", "n", "leak_max_change"}
        assert 0 <= row["ece"] <= 1
        assert row["fold"] == 2 and row["n"] > 0 and row["track"] == "sequence" and row["leak_max_change"] <= 1e-9
    # what each k's query allows: the simulator's true P(correct) of the query responses is the most any
    # method can reach (about 0.9); no method may reach it
    test = next(iter_splits(csv_path, "kfold", folds=[2], seed=1)).test
    for kk in KS:
        ep = cold_start_episodes(test, kk)
        best = roc_auc_score(ep.answers, achievable.truth(ep.query, offset=kk))
        for model in ("population", "irt", "dkt", "default"):
            assert data["summary"][model]["auc_at_k"][str(kk)] < best, (model, kk, best)
    # the population predictive ignores the support: it knows the items only, so it cannot beat the best
    # item-only predictor by more than the noise of one fold
    for kk in (5, 20):
        ep = cold_start_episodes(test, kk)
        items_only = roc_auc_score(ep.answers, achievable.item_only(ep.query.item_ids[ep.query.item]))
        assert data["summary"]["population"]["auc_at_k"][str(kk)] < items_only + 0.01
        # the IRT posterior from k answers knows the learner a little: it beats the items-only population
        assert data["summary"]["irt"]["auc_at_k"][str(kk)] > data["summary"]["population"]["auc_at_k"][str(kk)]
    s = data["summary"]["default"]
    assert set(s["auc_at_k"]) == {str(k) for k in KS}
    first = test.first_k(10)
    online_best = roc_auc_score(first.correct, achievable.truth(first))
    assert data["summary"]["population"]["auc_at_10"] < data["summary"]["irt"]["auc_at_10"] < online_best
    assert s["auc_at_10"] < online_best
    assert s["adapt_ms_median"] > 0 and s["adapt_batch_learners"] > 0
    assert data["summary"]["population"]["folds"] == 1
    assert set(data["leak_audit"]["max_change"]) == {"population", "irt", "dkt", "default"}
    again = ColdStartResult.from_json(data)
    assert again.summary()["default"]["auc_at_k"] == s["auc_at_k"] and again.online == data["online"]
    result.plot(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| default | sequence |" in result.to_markdown()


def test_coldstart_has_no_classmates_track(csv_path: Path) -> None:
    with pytest.raises(ConfigError, match="no method is on the 'classmates' track"):
        run_coldstart_benchmark(csv_path, protocol="kfold", track="classmates", folds=[1])


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


def test_expected_calibration_error_by_hand() -> None:
    from metatutor.evaluation.coldstart import expected_calibration_error

    y = [1, 0, 1, 1]
    p = [0.95, 0.15, 0.15, 0.55]  # bins: 9 -> |1 - .95|, 1 -> |1 - .30| over two, 5 -> |1 - .55|
    assert expected_calibration_error(y, p) == pytest.approx((0.05 + 0.70 + 0.45) / 4)
    assert expected_calibration_error([1.0, 0.0], [1.0, 0.0]) == 0.0


@pytest.mark.slow
def test_the_skill_tracker_is_a_cold_start_baseline(csv_path: Path) -> None:
    result = run_coldstart_benchmark(csv_path, protocol="kfold", models=["tracker", "irt"], folds=[1], seed=1,
                                     timing=False, ks=(0, 5))
    s = result.summary()["tracker"]
    assert 0.5 < s["auc_at_k"]["5"] < 1 and 0 <= s["ece_at_k"]["5"] <= 1 and s["auc_at_10"] > 0.5
    assert result.extra["leak_audit"]["max_change"]["tracker"] <= 1e-9
