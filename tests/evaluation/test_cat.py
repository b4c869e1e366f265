from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from metatutor.assessment.meta_selector import MetaCAT, MetaCATConfig
from metatutor.assessment.pools import make_pools
from metatutor.cli import app
from metatutor.evaluation.cat import NS, cat_folds, learner_parts, run_cat_benchmark, run_selection
from metatutor.evaluation.cat_simulation import run_cat_simulation

runner = CliRunner()


def test_folds_rotate_test_and_validation_parts(csv_path: Path) -> None:
    parts = learner_parts(csv_path, "kfold", k=5, seed=0)
    folds = list(cat_folds(parts))
    assert [f.fold for f in folds] == [1, 2, 3, 4, 5]
    for f in folds:
        test, valid, train = (set(x.learners_present()) for x in (f.test, f.valid, f.train))
        assert not (test & valid) and not (test & train) and not (valid & train)
    assert set(folds[0].valid.learners_present()) == set(folds[1].test.learners_present())


def test_cat_benchmark_rows_and_summary(csv_path: Path) -> None:
    result = run_cat_benchmark(csv_path, protocol="kfold", selectors=["random", "mfi", "default"], folds=[2])
    data = json.loads(json.dumps(result.to_json()))
    assert data["task"] == "cat"
    for row in data["rows"]:
        assert set(row) == {"selector", "fold", "n", "auc", "acc"} and row["fold"] == 2
    for sel in ("random", "mfi", "default"):
        s = data["summary"][sel]
        assert set(s["auc_at_n"]) == set(s["acc_at_n"]) == {str(n) for n in NS}
        assert 0.5 < s["auc_at_n"]["10"] < 1
    # more answers, better predictions of the held-out responses
    assert data["summary"]["mfi"]["auc_at_n"]["10"] > data["summary"]["mfi"]["auc_at_n"]["1"]
    # default's learner model was chosen on the fold's validation learners, and says which and why
    choice = data["default_model"]["2"]
    assert set(choice["valid_auc"]) == {"irt-2pl", "irt-2pl+dkt", "irt-2pl+dkt+pairs"}
    assert choice["chosen"] == max(choice["valid_auc"], key=choice["valid_auc"].get)
    if choice["chosen"] == "irt-2pl":  # then default predicts exactly as mfi does
        assert data["summary"]["default"]["auc_at_n"] == data["summary"]["mfi"]["auc_at_n"]


def test_meta_selector_trains_and_only_picks_from_the_pool(csv_path: Path) -> None:
    fold = next(cat_folds(learner_parts(csv_path, "kfold", k=5, seed=0)))
    meta = MetaCAT(MetaCATConfig(model_epochs=2, policy_epochs=1)).fit(fold.train, fold.valid)
    pools = make_pools(fold.test, seed=100)
    out = run_selection(pools, lambda items, y, available: meta.choose(pools, items, y, available), meta.predict)
    assert set(out) == set(NS) and all(0.4 < auc < 1 for auc, _ in out.values())


def test_simulation_study_small() -> None:
    study = run_cat_simulation(n_items=60, n_examinees=40, length=12, seed=0)
    data = study.to_json()
    rmse = {c: s["rmse_at_10"] for c, s in data["summary"].items()}
    assert all(0 < v < 1 for v in rmse.values())
    assert data["summary"]["mfi+eap+sympson-hetter0.2"]["max_exposure_at_10"] < \
        data["summary"]["mfi+eap"]["max_exposure_at_10"] == 1.0
    assert "| mfi+eap |" in study.to_markdown()


def test_cli_needs_data_or_simulation() -> None:
    res = runner.invoke(app, ["benchmark", "cat"])
    assert res.exit_code == 2 and "--data" in res.output
