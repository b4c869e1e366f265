from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from metatutor.data.responses import Responses
from metatutor.data.simulator import Simulator
from metatutor.policy import SkillTracker, course_graph

SHARED = Path(os.environ.get("METATUTOR_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def simulated() -> Responses:
    """A small seeded cohort from the project's own simulator."""
    return Simulator(random_state=7).simulate(240, (30, 90))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"real datasets not found at {SHARED} (set METATUTOR_DATA or put ../shared beside the repo)")
    return SHARED


@pytest.fixture(scope="session")
def tracker() -> SkillTracker:
    """A skill tracker fitted on a simulated course (for the policy and feedback tests)."""
    sim = Simulator(random_state=3)
    return SkillTracker.fit(sim.simulate(300, (20, 80)), course_graph(sim.course))


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
