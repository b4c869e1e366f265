from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from metatutor.assessment.meta_selector import MetaCAT, MetaCATConfig
from metatutor.assessment.pools import make_pools
from metatutor.cli import app
from metatutor.evaluation.cat import NS, SEEDS, cat_folds, learner_parts, run_cat_benchmark, run_selection
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


def held_out_bounds(csv_path: Path, achievable, *, fold: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """What the held-out answers of a fold's test learners allow, over the benchmark's 10 shuffles: the AUC of
    the simulator's true P(correct) of each held-out first attempt (about 0.91 here; no selector can reach
    it), and of the items' mean true P(correct) (about 0.65: knowing the items alone)."""
    test = next(f for f in cat_folds(learner_parts(csv_path, "kfold", k=5, seed=0)) if f.fold == fold).test
    best, items_only = [], []
    for s in SEEDS:
        pools = make_pools(test, seed=s)
        rows, cols = np.nonzero(pools.held_mask)
        ids, items = test.learners_present()[rows], test.item_ids[pools.held_item[rows, cols]]
        y = pools.held_y[rows, cols]
        best.append(roc_auc_score(y, achievable.by_item.loc[list(zip(ids, items, strict=True))].to_numpy()))
        items_only.append(roc_auc_score(y, achievable.item_only(items)))
    return float(np.mean(best)), float(np.mean(items_only))


@pytest.mark.slow
def test_cat_benchmark_rows_and_summary(csv_path: Path, achievable) -> None:  # type: ignore[no-untyped-def]
    selectors = ["random", "mfi", "default", "default-classmates"]
    result = run_cat_benchmark(csv_path, protocol="kfold", selectors=selectors, folds=[2])
    data = json.loads(json.dumps(result.to_json()))
    assert data["task"] == "cat"
    for row in data["rows"]:
        assert set(row) == {"selector", "track", "fold", "n", "auc", "acc"} and row["fold"] == 2
        assert row["track"] == ("classmates" if row["selector"] == "default-classmates" else "sequence")
    best, items_only = held_out_bounds(csv_path, achievable, fold=2)
    for sel in selectors:
        s = data["summary"][sel]
        assert set(s["auc_at_n"]) == set(s["acc_at_n"]) == {str(n) for n in NS}
        assert all(v < best for v in s["auc_at_n"].values()), sel  # a peek at held-out answers would not be
        assert s["auc_at_n"]["10"] > items_only - 0.02, (sel, items_only)
    # more answers, better predictions of the held-out responses
    for sel in ("random", "mfi"):
        assert data["summary"][sel]["auc_at_n"]["10"] > data["summary"][sel]["auc_at_n"]["1"] + 0.02
    # each default's learner model was chosen on the fold's validation learners, among its track's candidates
    seq, mates = data["default_model"]["2"], data["default_classmates_model"]["2"]
    assert set(seq["valid_auc"]) == {"irt-2pl", "irt-2pl+dkt"}
    assert set(mates["valid_auc"]) == {"irt-2pl", "irt-2pl+dkt", "irt-2pl+dkt+pairs"}
    for choice in (seq, mates):
        assert choice["chosen"] == max(choice["valid_auc"], key=choice["valid_auc"].get)
    if mates["chosen"] != "irt-2pl+dkt+pairs":  # then both defaults predict with the same model
        assert data["summary"]["default"]["auc_at_n"] == data["summary"]["default-classmates"]["auc_at_n"]
    if seq["chosen"] == "irt-2pl":  # then default predicts exactly as mfi does
        assert data["summary"]["default"]["auc_at_n"] == data["summary"]["mfi"]["auc_at_n"]


def test_cat_track_selects_selectors(csv_path: Path) -> None:
    from metatutor.errors import ConfigError

    with pytest.raises(ConfigError, match="default-classmates is classmates"):
        run_cat_benchmark(csv_path, protocol="kfold", selectors=["default-classmates"], track="sequence", folds=[2])
    with pytest.raises(ConfigError, match="unknown selectors"):
        run_cat_benchmark(csv_path, protocol="kfold", selectors=["nope"], folds=[2])


@pytest.mark.slow
def test_meta_selector_trains_and_only_picks_from_the_pool(csv_path: Path, achievable) -> None:  # type: ignore[no-untyped-def]
    fold = next(cat_folds(learner_parts(csv_path, "kfold", k=5, seed=0)))
    meta = MetaCAT(MetaCATConfig(model_epochs=2, policy_epochs=1)).fit(fold.train, fold.valid)
    pools = make_pools(fold.test, seed=100)
    out = run_selection(pools, lambda items, y, available: meta.choose(pools, items, y, available), meta.predict)
    best, items_only = held_out_bounds(csv_path, achievable, fold=1)
    assert set(out) == set(NS) and all(items_only - 0.1 < auc < best for auc, _ in out.values())


@pytest.mark.slow
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
