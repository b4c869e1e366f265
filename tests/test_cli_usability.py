"""The command line as a newcomer meets it: readable help, `--version`, outputs checked before the work,
and a training display that counts epochs and says how long is left."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import metatutor
import metatutor.cli as cli
from metatutor.cli import app
from metatutor.data.responses import Responses
from metatutor.models.epochs import announce

runner = CliRunner()
COMMANDS = [[], ["data", "check"], ["benchmark", "kt"], ["benchmark", "coldstart"], ["benchmark", "cat"],
            ["benchmark", "practice"], ["train"], ["predict"], ["serve"], ["demo"], ["compare"], ["keys", "create"],
            ["keys", "list"], ["keys", "revoke"]]


@pytest.fixture(scope="module")
def log(simulated: Responses, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log") / "log.csv"
    simulated.to_frame().to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "metatutor")
def test_help_reads_cleanly_at_80_columns(command: list[str]) -> None:
    res = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert res.exit_code == 0, res.output
    text = res.output
    assert "<bool>" not in text  # flags take no value
    assert "{" not in text  # arguments read DATA, not {data}
    assert "…" not in text  # no list of names cut mid-word
    assert "release" not in text.lower()  # no project history in a user's help
    if command == ["train"]:
        assert "train [OPTIONS] DATA" in " ".join(text.split())


def test_version_is_the_package_version() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.output.strip() == f"metatutor {metatutor.__version__}"
    assert importlib.metadata.version("metatutor") == metatutor.__version__


def test_train_refuses_an_output_file_before_reading_anything(tmp_path: Path) -> None:
    taken = tmp_path / "model.json"
    taken.write_text("{}")
    started = time.perf_counter()
    res = runner.invoke(app, ["train", str(tmp_path / "no-such-log.csv"), "--out", str(taken)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "is a file" in res.output and "no-such-log" not in res.output  # the data was never read
    assert time.perf_counter() - started < 30
    assert taken.read_text() == "{}"


def test_train_refuses_an_unknown_preset(log: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["train", str(log), "--out", str(tmp_path / "m"), "--preset", "quick"])
    assert res.exit_code == 2 and "fast" in res.output


def test_predict_makes_a_missing_output_folder_and_refuses_impossible_outputs(log: Path, tmp_path: Path) -> None:
    model = tmp_path / "bkt"
    assert runner.invoke(app, ["train", str(log), "--out", str(model), "--model", "bkt"]).exit_code == 0
    out = tmp_path / "new" / "folder" / "p.csv"
    res = runner.invoke(app, ["predict", str(model), str(log), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.exists() and "p_correct" in out.read_text().splitlines()[0]
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for args in (["--out", str(blocker / "p.csv")], ["--out", str(tmp_path)], ["--mastery", str(tmp_path / "m.xlsx")]):
        res = runner.invoke(app, ["predict", str(model), str(tmp_path / "never-read.csv"), *args])
        assert res.exit_code == 2 and "Traceback" not in res.output, args
        assert "never-read" not in res.output  # refused before the logs were read


def test_benchmark_checks_its_outputs_first(tmp_path: Path) -> None:
    res = runner.invoke(app, ["benchmark", "cat", "--simulation", "--examinees", "5", "--json", str(tmp_path)])
    assert res.exit_code == 2 and "is a folder" in res.output


def test_epoch_plan_names_each_neural_model_and_its_most_epochs() -> None:
    plan = cli._epoch_plan("ensemble", {"random_state": 0})
    assert [name for name, _ in plan] == ["attention", "DKT"]  # the ensemble's IRT member has no epochs
    fast = dict(cli._epoch_plan("ensemble", {"random_state": 0, **cli.PRESETS["fast"]}))
    assert fast == {"attention": 10, "DKT": 10}
    assert cli._epoch_plan("irt", {}) == []


def test_epoch_status_counts_epochs_and_says_what_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    printed: list[str] = []

    class Status:
        text = ""

        def update(self, text: str) -> None:
            self.text = text

    status = Status()

    class Console:
        @contextlib.contextmanager
        def status(self, title: str) -> Any:
            status.text = title
            yield status

        def print(self, text: str, **_: Any) -> None:
            printed.append(text)

    monkeypatch.setattr(cli, "err", Console())
    with cli._epoch_status("fitting…", [("attention", 10), ("DKT", 20)]):
        announce("attention", 1, {"epoch": 1, "seconds": 6.0, "valid_auc": 0.70})
        announce("attention", 2, {"epoch": 2, "seconds": 12.0, "valid_auc": 0.72})
        # 6 s per epoch; at most 8 more epochs of attention and 20 of DKT: 28 x 6 s = 2:48
        assert status.text.startswith("fitting attention (model 1 of 2): epoch 2 of at most 10")
        assert "0:12 elapsed, at most 2:48 left" in status.text
        announce("DKT", 1, {"epoch": 1, "seconds": 3.0, "valid_auc": 0.69})
        assert "at most 0:57 left" in status.text  # 19 epochs x 3 s
    assert printed == ["  attention epoch 1/10, valid AUC 0.7000, 6.0 s",
                       "  attention epoch 2/10, valid AUC 0.7200 (best), 6.0 s",
                       "  DKT epoch 1/20, valid AUC 0.6900, 3.0 s"]
    assert json.dumps(printed)  # plain strings
