"""Run an adaptive test: calibrate an item bank from response logs, then ask each examinee one question
at a time, the most informative at their current ability estimate, until the estimate is precise enough.

The test's whole state is a small JSON document (`CATSession.to_dict`), so a web service can answer one
request per question and pick up where it left off; the script stores and reloads it after every answer.

    python examples/adaptive_test.py
"""

from __future__ import annotations

import json

import numpy as np

from metatutor.assessment.bank import ItemBank
from metatutor.assessment.selection import SelectorConfig
from metatutor.assessment.session import CATSession
from metatutor.assessment.stopping import StoppingRule
from metatutor.data.simulator import Simulator

RULE = StoppingRule(max_items=30, min_items=5, se_target=0.35)  # stop at SE <= 0.35, or after 30 items
SELECTOR = SelectorConfig(criterion="mfi", randomesque=3)  # best of 3 by Fisher information: less exposure


def run_test(bank: ItemBank, theta: float, seed: int, *, verbose: bool = False) -> dict[str, float]:
    """One examinee of true ability `theta` sits the test; answers are drawn from the bank's 2PL."""
    rng = np.random.default_rng(seed)
    stored = json.dumps(CATSession(bank, selector=SELECTOR, stopping=RULE, seed=seed).to_dict())
    while True:
        session = CATSession.from_dict(json.loads(stored), bank)  # a request arrives: resume the test
        item = session.next_item()
        if item is None:
            break
        p = float(bank.probability(theta, bank.codes([item]))[0])
        est = session.answer(item, int(rng.random() < p))
        stored = json.dumps(session.to_dict())  # ... and store it again
        if verbose:
            print(f"  item {len(session.items):>2}: {item:>6} answered {session.responses[-1]}, "
                  f"θ̂ = {est.theta:+.2f} ± {est.se:.2f}")
    result = session.result()
    if verbose:
        print(f"  stopped ({result['stop_reason']}) after {result['n_items']} items: "
              f"θ̂ = {result['theta']:+.2f} ± {result['se']:.2f}, true θ = {theta:+.2f}")
    return result


def main(examinees: int = 60) -> dict[str, float]:
    # 1. calibrate a 2PL bank from a response log (here the simulator's learners; your log works the same)
    logs = Simulator(random_state=2).simulate(500, (40, 100), policy="random")
    calibrated = ItemBank.calibrate(logs, kind="2pl")
    print(f"calibrated {len(calibrated)} items from {len(logs)} responses of {logs.n_learners} learners: "
          f"difficulty {calibrated.b.min():+.2f} to {calibrated.b.max():+.2f}")
    print("one examinee on the calibrated bank:")
    run_test(calibrated, theta=0.8, seed=0, verbose=True)

    # 2. how well it measures: examinees of known ability on a bank of known parameters
    rng = np.random.default_rng(0)
    bank = ItemBank.from_parameters(a=rng.lognormal(0.0, 0.3, 300), b=rng.normal(0.0, 1.0, 300))
    thetas = rng.normal(0.0, 1.0, examinees)
    results = [run_test(bank, float(t), seed=i) for i, t in enumerate(thetas)]
    estimates = np.array([r["theta"] for r in results])
    summary = {"correlation": float(np.corrcoef(thetas, estimates)[0, 1]),
               "rmse": float(np.sqrt(np.mean((estimates - thetas) ** 2))),
               "mean_items": float(np.mean([r["n_items"] for r in results]))}
    print(f"{examinees} simulated examinees: correlation of θ̂ with θ {summary['correlation']:.3f}, "
          f"RMSE {summary['rmse']:.3f}, {summary['mean_items']:.1f} items on average")
    return summary


if __name__ == "__main__":
    main()
