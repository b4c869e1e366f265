"""Checks on the public benchmark data in ../shared/datasets; skipped when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from metatutor.data import DatasetFolder
from metatutor.data.summary import describe
from metatutor.evaluation.metrics import score
from metatutor.models import make_model

pytestmark = pytest.mark.realdata
FOLDERS = ["assist2009_pid", "assist2015", "statics", "synthetic", "long_assist2009", "long_statics", "pykt_assist2015"]


@pytest.mark.parametrize("name", FOLDERS)
def test_every_dataset_folder_reads(shared_data: Path, name: str) -> None:
    folder = DatasetFolder(shared_data / name)
    for stem in folder.groups:
        info = describe(folder.all_responses(stem=stem))
        assert info["learners"] > 100 and info["responses"] > 10_000


def test_assist2009_multiskill_positions_merged(shared_data: Path) -> None:
    split = DatasetFolder(shared_data / "assist2009_pid").fold_split(1)
    split.check_disjoint()
    info = describe(split.train)
    assert info["multi_skill_responses"] > 0.1 * info["responses"]
    whole = DatasetFolder(shared_data / "assist2009_pid").all_responses()
    assert 0.1 < whole.merged_rows / (whole.merged_rows + len(whole)) < 0.25  # ~15% of positions are expansions


@pytest.mark.slow
def test_one_fold_question_level(shared_data: Path) -> None:
    split = DatasetFolder(shared_data / "assist2009_pid").fold_split(1)
    for name, floor in (("irt", 0.74), ("bestlr", 0.75)):
        model = make_model(name).fit(split.train, split.valid)
        assert score(split.test.correct, model.predict_proba(split.test))["auc"] > floor
