"""`metatutor train` and `metatutor predict`: fit on some learners' logs, save, score other learners."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metatutor.cli import app
from metatutor.data import holdout_split, read_responses
from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.models import load_model
from metatutor.models.provenance import TrainingRecord, learner_digests

runner = CliRunner()


@pytest.fixture(scope="module")
def logs(simulated: Responses, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The simulated cohort as two CSV files of disjoint learners (training logs, new learners)."""
    folder = tmp_path_factory.mktemp("logs")
    learners = simulated.learners_present()
    frame = simulated.to_frame().rename(columns={"learner": "user_id", "item": "problem_id", "skill": "skill_id"})
    old, new = folder / "old.csv", folder / "new.csv"
    frame[frame.user_id.isin(learners[:180])].to_csv(old, index=False)
    frame[frame.user_id.isin(learners[180:])].to_csv(new, index=False)
    return old, new


def test_holdout_split_is_seeded_and_disjoint(simulated: Responses) -> None:
    train, valid = holdout_split(simulated, valid_fraction=0.25, random_state=3)
    assert valid is not None
    assert not set(train.learners_present()) & set(valid.learners_present())
    assert valid.n_learners == 60 and train.n_learners + valid.n_learners == simulated.n_learners
    again = holdout_split(simulated, valid_fraction=0.25, random_state=3)[1]
    other = holdout_split(simulated, valid_fraction=0.25, random_state=4)[1]
    assert again is not None and other is not None
    assert list(again.learners_present()) == list(valid.learners_present())
    assert list(other.learners_present()) != list(valid.learners_present())
    whole, none = holdout_split(simulated, valid_fraction=0.0)
    assert none is None and len(whole) == len(simulated)
    with pytest.raises(ConfigError, match="fraction"):
        holdout_split(simulated, valid_fraction=1.0)


def test_train_writes_the_learner_model_by_default(logs: tuple[Path, Path], tmp_path: Path) -> None:
    """`metatutor train` writes the meta-learned learner model that every decision reads, for a course of
    every item in the logs (validation learners' items included)."""
    from metatutor.learner import MetaTracker, load_tracker

    old, _ = logs
    res = runner.invoke(app, ["train", str(old), "--out", str(tmp_path / "m"), "--max-epochs", "2",
                              "--meta-steps", "10", "--seed", "1"])
    assert res.exit_code == 0, res.output
    tracker = load_tracker(tmp_path / "m")
    assert isinstance(tracker, MetaTracker) and tracker.n_items == len(set(pd.read_csv(old)["problem_id"]))
    record = TrainingRecord.read(tmp_path / "m")
    assert record is not None and record.model == "default" and record.valid_auc is not None
    assert 0.5 < record.valid_auc < 1 and len(record.learners_seen) == 180
    res = runner.invoke(app, ["train", str(old), "--out", str(tmp_path / "t"), "--model", "tracker"])
    assert res.exit_code == 0, res.output
    assert load_tracker(tmp_path / "t").name == "tracker"
    _, new = logs
    out, mastery = tmp_path / "p.csv", tmp_path / "m.csv"
    res = runner.invoke(app, ["predict", str(tmp_path / "m"), str(new), "--out", str(out), "--mastery", str(mastery)])
    assert res.exit_code == 0, res.output
    p = pd.read_csv(out)["p_correct"]
    assert len(p) == len(pd.read_csv(new)) and p.between(0, 1).all() and "AUC" in res.output
    m = pd.read_csv(mastery, index_col=0)
    assert m.shape == (60, tracker.n_skills) and m.to_numpy().min() >= 0 and m.to_numpy().max() <= 1


def test_train_saves_a_model_and_its_record(logs: tuple[Path, Path], tmp_path: Path) -> None:
    old, _ = logs
    res = runner.invoke(app, ["train", str(old), "--out", str(tmp_path / "m"), "--model", "ensemble",
                              "--max-epochs", "2", "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert "validation AUC" in res.output
    model = load_model(str(tmp_path / "m"))
    assert model.name == "ensemble" and [m.name for m in model.members_] == ["attn", "dkt", "irt"]  # sequence-only
    record = TrainingRecord.read(tmp_path / "m")
    assert record is not None and record.model == "ensemble" and record.seed == 1
    assert record.train_learners + record.valid_learners == 180 and record.valid_learners == 36
    assert 2 <= len(record.epochs) <= 4 and record.valid_auc is not None and 0.5 < record.valid_auc < 1
    assert len(record.learners_seen) == 180


def test_predict_scores_new_learners_and_flags_seen_ones(logs: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = logs
    folder = tmp_path / "irt"
    assert runner.invoke(app, ["train", str(old), "--out", str(folder), "--model", "irt"]).exit_code == 0
    out, mastery = tmp_path / "p.csv", tmp_path / "m.parquet"
    res = runner.invoke(app, ["predict", str(folder), str(new), "--out", str(out), "--mastery", str(mastery)])
    assert res.exit_code == 0, res.output
    assert "AUC" in res.output and "warning" not in res.output
    scored = pd.read_csv(out)
    assert len(scored) == len(read_responses(new))  # one row per response (multi-skill rows merged)
    assert scored.p_correct.between(0, 1).all() and scored.learner.nunique() == 60
    auc = float(res.output.split("AUC ")[1].split(",")[0])
    assert auc > 0.6  # IRT on unseen simulated learners
    table = pd.read_parquet(mastery)
    assert table.shape[0] == 60 and table.to_numpy().min() >= 0 and table.to_numpy().max() <= 1
    seen = runner.invoke(app, ["predict", str(folder), str(old)])
    assert seen.exit_code == 0 and "180 of these 180 learners" in seen.output.replace("\n", " ")


def test_predict_refuses_an_unknown_output_format(logs: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = logs
    folder = tmp_path / "bkt"
    assert runner.invoke(app, ["train", str(old), "--out", str(folder), "--model", "bkt"]).exit_code == 0
    res = runner.invoke(app, ["predict", str(folder), str(new), "--out", str(tmp_path / "p.xlsx")])
    assert res.exit_code == 2 and "Traceback" not in res.output and ".parquet" in res.output


def test_record_counts_seen_learners_by_digest(simulated: Responses, tmp_path: Path) -> None:
    ids = simulated.learners_present()
    record = TrainingRecord(model="irt", data="x", seed=0, train_learners=10, valid_learners=0, train_responses=1,
                            valid_auc=None, seconds=0.0, learners_seen=learner_digests(ids[:10]))
    record.write(tmp_path)
    back = TrainingRecord.read(tmp_path)
    assert back is not None and back.seen(simulated) == 10
    assert back.seen(simulated.select_learners(ids[10:])) == 0
    assert not any(str(x) in json.dumps(back.learners_seen) for x in ids[:10])  # digests only, never the ids
    assert TrainingRecord.read(tmp_path / "nowhere") is None
    assert np.all([len(d) == 16 for d in back.learners_seen])


def test_pseudonyms_are_keyed(simulated: Responses) -> None:
    ids = simulated.learners_present()[:30]
    one, other = learner_digests(ids, b"one secret"), learner_digests(ids, b"another secret")
    assert not set(one) & set(other)  # another deployment's secret gives other pseudonyms
    import hashlib

    unkeyed = {hashlib.sha256(str(x).encode()).hexdigest()[:16] for x in ids}
    assert not unkeyed & set(one)  # trying ids without the secret recovers none


def test_epoch_status_follows_the_models_epochs(monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib

    import metatutor.cli as cli
    from metatutor.models.epochs import announce

    class Status:
        text = ""

        def update(self, text: str) -> None:
            self.text = text

    status = Status()

    class Console:
        @contextlib.contextmanager
        def status(self, title: str):  # type: ignore[no-untyped-def]
            status.text = title
            yield status

    monkeypatch.setattr(cli, "err", Console())
    with cli._epoch_status("fitting…"):
        assert status.text == "fitting…"
        announce("dkt", 3, {"epoch": 3, "seconds": 12.4, "valid_auc": 0.71234})
        assert status.text == "fitting dkt: epoch 3, valid AUC 0.7123 (12 s)"
    announce("dkt", 4, {"epoch": 4, "seconds": 13.0})
    assert status.text.startswith("fitting dkt: epoch 3")  # after the block nothing follows
