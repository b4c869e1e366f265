from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metatutor.data.responses import Responses
from metatutor.data.simulator import Simulator
from metatutor.learner import SkillTracker, Tracker, course_graph

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


@pytest.fixture(scope="session")
def meta_tracker() -> Tracker:
    """The meta-learned learner model on the same simulated course as `tracker`, trained briefly (a DKT of
    a few epochs, a few meta-steps): small and quick, for the interface's contract, not for accuracy."""
    from metatutor.learner import CourseMap, MetaTracker
    from metatutor.meta import Population

    sim = Simulator(random_state=3)
    logs = sim.simulate(300, (20, 80))
    learners = logs.learners_present()
    train, valid = logs.select_learners(learners[:240]), logs.select_learners(learners[240:])
    population = Population(train, valid, dkt_settings={"max_epochs": 3, "random_state": 0})
    return MetaTracker.fit(train, valid, course=CourseMap.of_course(sim.course), population=population,
                           settings={"meta_steps": 40, "eval_every": 20})


@pytest.fixture(params=["tracker", "meta"])
def any_tracker(request: pytest.FixtureRequest) -> Tracker:
    """Every implementation of the learner-model interface, in turn."""
    return request.getfixturevalue("tracker" if request.param == "tracker" else "meta_tracker")  # type: ignore[no-any-return]


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _two_skill_world(n_learners: int, seed: int) -> Responses:
    """Two unrelated skills: items a0-a9 depend on θ_A only, b0-b9 on θ_B only (θ_A, θ_B ~ N(0, 1.5²),
    independent), all b = 0; everyone answers all 20, in a random order. One ability for both cannot tell
    an a-answer from a b-answer; which items go together can be learned from many learners' answers."""
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(n_learners):
        theta = rng.normal(scale=1.5, size=2)
        answers = [(f"{skill}{i}", skill, int(rng.random() < 1 / (1 + np.exp(-theta[k]))))
                   for k, skill in enumerate("ab") for i in range(10)]
        rows += [(f"u{seed}-{j}", *answers[i]) for i in rng.permutation(len(answers))]
    return Responses.from_frame(pd.DataFrame(rows, columns=["learner", "item", "skill", "correct"]))


@pytest.fixture(scope="session")
def two_skill_world() -> Callable[[int, int], Responses]:
    """`two_skill_world(n_learners, seed)`: learners with two unrelated abilities (see `_two_skill_world`)."""
    return _two_skill_world


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks from what a test needs, so that `make test-fast` (-m "not slow and not browser and not realdata
    and not postgres") can leave it out: the real datasets (the `shared_data` fixture) mark `realdata`, the
    service's PostgreSQL runs (the `settings` fixture's `postgresql` case, tests/service/test_instances.py)
    `postgres` (they also carry, where they are declared, one xdist group: they share one database), the
    dashboard's selenium tests (tests/service/test_dashboard.py) `browser`."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.realdata)
        callspec = getattr(item, "callspec", None)
        if item.path.name == "test_instances.py" or (callspec is not None and
                                                     callspec.params.get("settings") == "postgresql"):
            item.add_marker(pytest.mark.postgres)
        if item.path.name == "test_dashboard.py":
            item.add_marker(pytest.mark.browser)
