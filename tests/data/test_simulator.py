from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from metatutor.data.simulator import DAY, Simulator, SimulatorConfig


def test_seeded_and_reproducible() -> None:
    a = Simulator(random_state=3).simulate(20, 40)
    b = Simulator(random_state=3).simulate(20, 40)
    c = Simulator(random_state=4).simulate(20, 40)
    assert np.array_equal(a.correct, b.correct) and np.array_equal(a.item, b.item)
    assert not np.array_equal(a.correct, c.correct)


def test_course_is_a_dag_with_multiskill_items() -> None:
    sim = Simulator(random_state=0)
    g = sim.course.graph()
    assert nx.is_directed_acyclic_graph(g) and g.number_of_edges() > 0
    assert any(len(s) > 1 for s in sim.course.item_skills)


def test_practice_teaches_and_time_forgets() -> None:
    sim = Simulator(SimulatorConfig(learn_rate=0.5, forget_days=5.0), random_state=1)
    learner = sim.new_learner()
    root = sim.course.skill_order[0]
    learner.mastered[:] = False
    item = int(sim.course.skill_items[root][0])
    before = learner.p_correct(item)
    for _ in range(30):
        learner.answer(item)
    assert learner.mastered[root] and learner.p_correct(item) > before
    learner.wait(200 * DAY)
    assert not learner.mastered[root]


@pytest.mark.slow
def test_learning_shows_in_the_data() -> None:
    data = Simulator(random_state=2).simulate(300, 60)
    frame = data.to_frame()
    attempt = frame.groupby(["learner", "skill"]).cumcount()
    first, later = frame["correct"][attempt == 0].mean(), frame["correct"][attempt >= 3].mean()
    assert 0.2 < data.correct.mean() < 0.9 and data.timestamp is not None
    assert later > first + 0.05  # practising a skill makes success more likely
