"""The data-facing options of `metatutor train` / `predict` (issue 30): delimiters, logs of another
dataset (unseen items), and learners whose ids collide with the training learners'."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from metatutor.cli import app
from metatutor.data.responses import Responses

runner = CliRunner()


@pytest.fixture(scope="module")
def fitted(simulated: Responses, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """An IRT model trained from a semicolon file of 180 learners; that file; a file of 60 other learners."""
    folder = tmp_path_factory.mktemp("cli")
    frame = simulated.to_frame().rename(columns={"learner": "user_id", "item": "problem_id", "skill": "skill_id"})
    learners = simulated.learners_present()
    old, new = folder / "old.txt", folder / "new.csv"
    frame[frame.user_id.isin(learners[:180])].to_csv(old, index=False, sep=";")
    frame[frame.user_id.isin(learners[180:])].to_csv(new, index=False)
    res = runner.invoke(app, ["train", str(old), "--out", str(folder / "irt"), "--model", "irt", "--delimiter", ";"])
    assert res.exit_code == 0, res.output
    return folder / "irt", old, new


def test_predict_warns_when_most_items_were_never_seen(fitted: tuple[Path, Path, Path], tmp_path: Path) -> None:
    model, _, new = fitted
    ok = runner.invoke(app, ["predict", str(model), str(new)])
    assert ok.exit_code == 0 and "never seen in training" not in ok.output
    other = pd.read_csv(new)
    other["problem_id"] = "other-" + other["problem_id"].astype(str)
    other.to_csv(tmp_path / "other.csv", index=False)
    res = runner.invoke(app, ["predict", str(model), str(tmp_path / "other.csv")])
    assert res.exit_code == 0, res.output
    assert "items (100% of the responses) were never seen in training" in " ".join(res.output.split())


def test_new_learners_namespaces_colliding_ids(fitted: tuple[Path, Path, Path], tmp_path: Path) -> None:
    model, old, _ = fitted
    same = runner.invoke(app, ["predict", str(model), str(old)])
    assert same.exit_code == 0 and "were in the model's training" in same.output and "--new-learners" in same.output
    out = tmp_path / "p.csv"
    res = runner.invoke(app, ["predict", str(model), str(old), "--new-learners", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "were in the model's training" not in res.output and "prefixed with 'new:'" in res.output
    assert pd.read_csv(out)["learner"].str.startswith("new:").all()


def test_bad_delimiter_option_exits_2(fitted: tuple[Path, Path, Path]) -> None:
    model, _, new = fitted
    res = runner.invoke(app, ["predict", str(model), str(new), "--delimiter", "ab"])
    assert res.exit_code == 2 and "one character" in res.output
