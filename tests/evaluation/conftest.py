from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from metatutor.data.responses import Responses
from metatutor.data.simulator import SimulatedLearner, Simulator, skill_builder_policy


@pytest.fixture(scope="module")
def csv_path(simulated: Responses, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulated cohort as a long CSV (test_benchmark.py overrides it with ASSISTments column names)."""
    path = tmp_path_factory.mktemp("sim") / "cohort.csv"
    simulated.to_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def simulated_truth(simulated: Responses) -> np.ndarray:
    """(N,) the simulator's true P(correct) of each response of `simulated` (same seed, same learners),
    recorded as each answer was drawn: the AUC it reaches on any set of responses is what a model that
    knew every learner's hidden state could reach there (the achievable AUC)."""
    truth: list[float] = []

    def recording(learner: SimulatedLearner, rng: np.random.Generator) -> int:
        if "recording" not in learner.policy_state:
            exact = learner.p_correct

            def p_correct(item: int) -> float:  # `answer` calls it once per response, to draw the answer
                p = exact(item)
                truth.append(p)
                return p

            learner.p_correct = p_correct  # type: ignore[method-assign]
        item = skill_builder_policy(learner, rng)
        learner.policy_state["recording"] = 1
        return item

    again = Simulator(random_state=7).simulate(240, (30, 90), policy=recording)
    assert np.array_equal(again.correct, simulated.correct) and np.array_equal(again.item, simulated.item)
    return np.asarray(truth)



class Achievable:
    """The simulator's truth on any subset of `simulated`: the true P(correct) of its rows, and the best an
    item-only predictor can do."""

    def __init__(self, simulated: Responses, truth: np.ndarray) -> None:
        import pandas as pd

        learners = simulated.learner_ids[simulated.learner]
        items = simulated.item_ids[simulated.item]
        self.by_order = pd.Series(truth, index=pd.MultiIndex.from_arrays([learners, simulated.order]))
        first = pd.Series(truth, index=pd.MultiIndex.from_arrays([learners, items]))
        self.by_item = first[~first.index.duplicated(keep="first")]
        self.item_mean = pd.Series(truth).groupby(items).mean()

    def truth(self, responses: Responses, *, by: str = "order", offset: int = 0) -> np.ndarray:
        """True P(correct) of each row, matched by (learner, position + `offset`: a cold-start query's rows
        start at position k), or with `by="item"` by (learner, item) at its first attempt (the adaptive test
        keeps first attempts only)."""
        learners = responses.learner_ids[responses.learner]
        second = responses.order + offset if by == "order" else responses.item_ids[responses.item]
        table = self.by_order if by == "order" else self.by_item
        return table.loc[list(zip(learners, second, strict=True))].to_numpy()

    def item_only(self, item_ids: np.ndarray) -> np.ndarray:
        """The mean true P(correct) of each item over all simulated learners: the best a predictor that
        knows the items but nothing about the learner can do."""
        return self.item_mean.reindex(np.asarray(item_ids)).to_numpy()


@pytest.fixture(scope="session")
def achievable(simulated: Responses, simulated_truth: np.ndarray) -> Achievable:
    return Achievable(simulated, simulated_truth)
