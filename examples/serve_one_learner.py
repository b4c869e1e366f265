"""Serve one learner online: a fitted model's state, updated answer by answer, stored between requests.

This is what the web service does for each learner: it keeps a small state per learner (bytes in a
database row), steps it with each new answer in O(1), and asks it for P(correct) of the items it might
show next. Here a simulated learner practises: each turn the item whose predicted P(correct) is closest
to 70% is shown (a "desirable difficulty" rule), the learner answers, the state moves.

    python examples/serve_one_learner.py
"""

from __future__ import annotations

import numpy as np

from metatutor.data import holdout_split
from metatutor.data.simulator import Simulator
from metatutor.models import make_model
from metatutor.models.serving import ServedModel

TARGET = 0.7


def main(turns: int = 25) -> list[float]:
    sim = Simulator(random_state=1)
    logs = sim.simulate(300, (30, 80))  # the course's past learners
    train, valid = holdout_split(logs, valid_fraction=0.2, random_state=0)
    served = ServedModel(make_model("dkt", random_state=0, max_epochs=8).fit(train, valid))
    course = sim.course
    items = [str(i) for i in course.item_ids]

    def skills_of(item: int) -> list[str]:
        return [str(course.skill_ids[s]) for s in course.item_skills[item]]

    learner = sim.new_learner()  # a new learner: not among the ones the model was fitted on
    stored = served.state_to_bytes(served.new_state())  # what a database row holds between requests
    asked: list[float] = []
    for turn in range(1, turns + 1):
        state = served.state_from_bytes(stored)  # a request arrives: load the learner's state
        p = served.predict(state, items)  # P(correct) of every item as the next answer
        choice = int(np.argmin(np.abs(p - TARGET)))
        correct = learner.answer(choice)  # the learner answers (the simulator knows the truth)
        served.step(state, items[choice], skills_of(choice), correct)
        stored = served.state_to_bytes(state)  # ... and store it again
        asked.append(float(p[choice]))
        if turn <= 5 or turn % 5 == 0:
            print(f"turn {turn:>2}: item {items[choice]:>6} (skills {', '.join(skills_of(choice))}), "
                  f"predicted {p[choice]:.2f}, answered {'right' if correct else 'wrong'}; "
                  f"mean P(correct) over the bank now {served.predict(state, items).mean():.2f}")

    # the stored bytes are the whole state: reloading gives the same predictions
    reloaded = served.state_from_bytes(stored)
    assert reloaded.count == state.count == turns
    assert np.allclose(served.predict(reloaded, items), served.predict(state, items), atol=1e-6)
    # an item the model never saw is predicted from its skills
    p_new = served.predict(state, ["new-item"], skills_of=lambda item: skills_of(0))
    print(f"{state.count} answers stored in {len(stored)} bytes; a new item on skill "
          f"{skills_of(0)[0]}: P(correct) {p_new[0]:.2f}")
    return asked


if __name__ == "__main__":
    main()
