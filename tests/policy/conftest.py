from __future__ import annotations

import numpy as np
import pytest

from metatutor.data.simulator import Simulator
from metatutor.policy import SkillTracker, course_graph


@pytest.fixture(scope="session")
def course_sim() -> Simulator:
    return Simulator(random_state=3)


@pytest.fixture(scope="session")
def tracker(course_sim: Simulator) -> SkillTracker:
    return SkillTracker.fit(course_sim.simulate(300, (20, 80)), course_graph(course_sim.course))


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
