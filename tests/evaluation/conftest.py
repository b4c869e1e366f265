from __future__ import annotations

from pathlib import Path

import pytest

from metatutor.data.responses import Responses


@pytest.fixture(scope="module")
def csv_path(simulated: Responses, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulated cohort as a long CSV (test_benchmark.py overrides it with ASSISTments column names)."""
    path = tmp_path_factory.mktemp("sim") / "cohort.csv"
    simulated.to_frame().to_csv(path, index=False)
    return path
