"""Dataset folders keep the parts of a split disjoint (issue 27): a learner in two parts is an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from metatutor.cli import app
from metatutor.data import DatasetFolder, read_responses
from metatutor.errors import InvalidResponsesError

TRAIN = "1,u1\n10,10,11\n7,9,7\n1,1,0\n2,u2\n11,12\n7,8\n0,1\n"
VALID = "3,u3\n10\n7\n1\n"
TEST = "4,u4\n12,10\n8,7\n1,0\n"


def fold(tmp: Path, k: int, train: str = TRAIN, valid: str = VALID, test: str = TEST) -> None:
    (tmp / f"toy_pid_train{k}.csv").write_text(train)
    (tmp / f"toy_pid_valid{k}.csv").write_text(valid)
    (tmp / f"toy_pid_test{k}.csv").write_text(test)


def test_learner_in_train_and_test_is_an_error_naming_ids_and_files(tmp_path: Path) -> None:
    fold(tmp_path, 1, test=TEST + "5,u2\n12\n8\n1\n")  # u2 is also a training learner
    with pytest.raises(InvalidResponsesError) as info:
        DatasetFolder(tmp_path).fold_split(1)
    text = str(info.value)
    assert "train (toy_pid_train1.csv) and test (toy_pid_test1.csv)" in text and "learners u2" in text
    assert "u1" not in text.split("learners")[-1]


def test_the_cli_exits_2_on_such_a_folder(tmp_path: Path) -> None:
    fold(tmp_path, 1, valid=VALID + "9,u1\n11\n7\n0\n")
    res = CliRunner().invoke(app, ["data", "check", str(tmp_path)])
    assert res.exit_code == 2
    assert "valid (toy_pid_valid1.csv)" in res.output and "u1" in res.output and "Traceback" not in res.output


def test_disjoint_parts_read_as_before(tmp_path: Path) -> None:
    fold(tmp_path, 1)
    split = DatasetFolder(tmp_path).fold_split(1)
    split.check_disjoint()
    assert list(split.train.learners_present()) == ["u1", "u2"] and list(split.test.learners_present()) == ["u4"]


def test_positional_ids_of_different_files_are_different_learners(tmp_path: Path) -> None:
    # 3-line files with a length header (statics, synthetic): learner "1" of train is not learner "1" of test
    for part in ("train", "valid", "test"):
        (tmp_path / f"st_{part}1.csv").write_text("2\n5,6\n1,0\n1\n7\n1\n")
    split = DatasetFolder(tmp_path).fold_split(1)
    split.check_disjoint()
    assert list(split.test.learners_present()) == ["test:1", "test:2"]


def test_files_of_several_folds_gather_each_learner_once(tmp_path: Path) -> None:
    # without valid files there are no complete folds; the train files of folds 1 and 2 share u1, u2
    for k, test in ((1, TEST), (2, "3,u3\n10\n7\n1\n")):
        (tmp_path / f"toy_pid_train{k}.csv").write_text(TRAIN)
        (tmp_path / f"toy_pid_test{k}.csv").write_text(test)
    folder = DatasetFolder(tmp_path)
    assert folder.group().folds == []
    whole = read_responses(tmp_path)
    assert sorted(whole.learners_present()) == ["u1", "u2", "u3", "u4"] and len(whole) == 2 + 2 + 2 + 1
    with pytest.raises(InvalidResponsesError, match="train1"):
        folder.read_parts({"train1": tmp_path / "toy_pid_train1.csv", "train2": tmp_path / "toy_pid_train2.csv"})


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["assist2009_pid", "assist2015", "statics"])
def test_real_akt_folds_have_disjoint_parts(shared_data: Path, name: str) -> None:
    folder = DatasetFolder(shared_data / name)
    split = folder.fold_split(1)  # would raise if a learner were in two files of the fold
    split.check_disjoint()
    sizes = (split.train.n_learners, split.valid.n_learners if split.valid else 0, split.test.n_learners)
    assert min(sizes) > 50 and sizes[0] > sizes[2]
