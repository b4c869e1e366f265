from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from metatutor.cli import app
from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.evaluation.benchmark import KT_MODELS, run_kt_benchmark, select_by_track
from metatutor.evaluation.metrics import score
from metatutor.evaluation.protocols import iter_splits
from metatutor.evaluation.tables import render
from metatutor.models import DEFAULT_MODELS, TRACK, make_model, model_track

runner = CliRunner()
SMALL = {"max_epochs": 2, "hidden": 16, "embed": 8}


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


@pytest.mark.slow
def test_kfold_benchmark_lies_between_the_item_only_and_the_full_truth(csv_path: Path, achievable) -> None:  # type: ignore[no-untyped-def]
    """The simulator knows every learner's hidden mastery: the AUC of its true P(correct) on a fold's test
    responses is the most any model can reach there (a model that read the answer it predicts would beat
    it), and the AUC of each item's mean true P(correct) is the most a model that ignores the learner's
    answers can reach (every real model must beat it)."""
    result = run_kt_benchmark(csv_path, protocol="kfold", models=["irt", "bkt", "bestlr"], folds=[1, 2], seed=3)
    data = result.to_json()
    assert data["task"] == "kt" and data["protocol"] == "kfold" and data["dataset"] == "cohort"
    assert {(r["model"], r["fold"]) for r in data["rows"]} == {(m, f) for m in ("irt", "bkt", "bestlr") for f in (1, 2)}
    splits = {s.fold: s.test for s in iter_splits(csv_path, "kfold", seed=3)}
    for row in data["rows"]:
        assert set(row) >= {"model", "track", "fold", "auc", "acc", "rmse", "n", "train_seconds", "leak_max_change"}
        test = splits[row["fold"]]
        best = roc_auc_score(test.correct, achievable.truth(test))  # ≈ 0.90 on these folds
        items_only = roc_auc_score(test.correct, achievable.item_only(test.item_ids[test.item]))  # ≈ 0.65
        assert items_only < row["auc"] < best, (row["model"], row["fold"], items_only, best)
        assert row["track"] == "sequence" and row["leak_max_change"] <= 1e-9
    assert data["summary"]["bestlr"]["auc"] > data["summary"]["irt"]["auc"]  # skills and counts beat one ability
    assert set(data["summary"]["irt"]) >= {"auc", "auc_std", "acc", "folds", "track"}
    assert data["summary"]["irt"]["folds"] == 2 and data["leak_audit"]["max_change"].keys() == {"irt", "bkt", "bestlr"}


def test_every_registry_model_has_a_track_and_the_defaults_resolve_per_track() -> None:
    assert set(TRACK.values()) == {"sequence", "classmates"}
    assert {n for n, t in TRACK.items() if t == "classmates"} == {"pairs", "ensemble-pairs"}
    assert model_track("default") == "sequence" and model_track("default-classmates") == "classmates"
    assert DEFAULT_MODELS == {"sequence": "ensemble", "classmates": "ensemble-pairs"}
    assert make_model("default-classmates").config.members == ("attn", "dkt", "irt", "pairs")  # type: ignore[attr-defined]
    assert make_model("default").config.members == ("attn", "dkt", "irt")  # type: ignore[attr-defined]


def test_track_selects_models_and_refuses_the_other_tracks() -> None:
    pick = lambda names, track: select_by_track(names, track, track_of=model_track, defaults=KT_MODELS)  # noqa: E731
    assert pick(None, "sequence") == ["irt", "bkt", "pfa", "bestlr", "dkt"]
    assert pick(None, "classmates") == ["pairs", "default-classmates"]
    assert pick(None, "all") == [*KT_MODELS["sequence"], *KT_MODELS["classmates"]]
    assert pick(["default"], "classmates") == ["default-classmates"]  # `default` means the track's default
    with pytest.raises(ConfigError, match="pairs is classmates"):
        pick(["irt", "pairs"], "sequence")
    with pytest.raises(ConfigError, match="unknown track"):
        pick(None, "both")
    with pytest.raises(ConfigError, match="unknown model"):
        pick(["nope"], "all")


@pytest.mark.slow
def test_small_defaults_of_both_tracks_run_and_say_their_track(csv_path: Path) -> None:
    result = run_kt_benchmark(csv_path, protocol="kfold", models=["default", "default-classmates"], folds=[1], seed=3,
                              model_settings=SMALL)
    rows = {r["model"]: r for r in result.rows}
    assert rows["default"]["track"] == "sequence" and rows["default-classmates"]["track"] == "classmates"
    configs = json.loads(json.dumps(result.to_json()["configs"]))
    assert configs["default"]["config"]["members"] == ["attn", "dkt", "irt"]
    assert configs["default-classmates"]["config"]["members"] == ["attn", "dkt", "irt", "pairs"]


def test_cli_json_carries_provenance_and_the_markdown_is_its_rendering(csv_path: Path, tmp_path: Path) -> None:
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    res = runner.invoke(app, ["benchmark", "kt", "--data", str(csv_path), "--protocol", "kfold", "--models",
                              "irt,pairs", "--folds", "1", "--json", str(out), "--markdown", str(md)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert [(r["model"], r["track"]) for r in data["rows"]] == [("irt", "sequence"), ("pairs", "classmates")]
    prov = data["provenance"]
    assert len(prov["code"]["commit"]) == 40 and isinstance(prov["code"]["dirty"], bool)
    assert prov["config"]["models"] == ["irt", "pairs"] and prov["config"]["folds"] == [1]
    assert set(prov["versions"]) >= {"python", "torch", "numpy", "metatutor"}
    assert prov["data"]["files"] == 1 and len(prov["data"]["sha256"]) == 64
    assert prov["machine"]["cores"] >= 1 and prov["machine"]["cpu_probe_s"] > 0
    assert md.read_text() == render(data)
    assert "| pairs | classmates |" in md.read_text()


def test_cli_track_option_refuses_a_model_of_the_other_track(csv_path: Path) -> None:
    res = runner.invoke(app, ["benchmark", "kt", "--data", str(csv_path), "--protocol", "kfold", "--models",
                              "pairs", "--track", "sequence", "--folds", "1"])
    assert res.exit_code == 2 and "pairs is classmates" in res.output


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
