"""The best ability RMSE a short Rasch CAT can reach in expectation, computed exactly (no sampling).

Setting of `benchmark cat --simulation`: θ ~ N(0, 1), Rasch items, the EAP estimate. For the EAP
estimate the expected squared error over examinees equals the expected posterior variance, which this
script sums exactly over every response pattern (2^n of them) of two selection rules, each given a
perfect bank (an item at any difficulty one asks for, so no real bank of the same model does better):
  * `mfi`: the next item's difficulty equals the current EAP (maximum Fisher information there);
  * `mepv`: greedy minimum expected posterior variance (the difficulty searched on a fine grid);
  * `lookahead`: two items ahead: the next item minimises the variance expected after it and the best
    following item for either answer (difficulties on a grid of 0.2); the last item is chosen greedily.
The posterior is held on a fine grid of θ. Prints and optionally saves E[posterior variance] and its
square root (the RMSE one expects from a large simulation) for tests of 1..n items.

Usage: python benchmarks/cat_bound.py --items 10 --json docs/results/cat_bound.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

GRID = np.linspace(-6.0, 6.0, 1201)
DIFFICULTIES = np.linspace(-4.0, 4.0, 321)


def moments(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mass and posterior variance times mass of each row of unnormalised posteriors (R, G)."""
    mass = weights.sum(-1)
    mean = (weights * GRID).sum(-1) / mass
    return mass, (weights * GRID**2).sum(-1) - mass * mean**2


def next_item(weights: np.ndarray, rule: str) -> np.ndarray:
    """(G,) P(correct | θ) of the item the rule asks next, given an unnormalised posterior (G,)."""
    if rule == "mfi":
        mass, _ = moments(weights)
        return 1.0 / (1.0 + np.exp(-(GRID - (weights * GRID).sum() / mass)))
    p = 1.0 / (1.0 + np.exp(-(GRID[None, :] - DIFFICULTIES[:, None])))  # (B, G)
    if rule == "mepv":
        expected = moments(p * weights)[1] + moments((1 - p) * weights)[1]
        return np.asarray(p[np.argmin(expected)])
    # "lookahead": the first of two items chosen to minimise the variance expected after both, the
    # second chosen best for each answer to the first (on a coarser grid of difficulties)
    q = p[::8]  # (B', G)
    after = np.concatenate([q * weights, (1 - q) * weights])  # (2B', G): each first item and answer
    best = np.array([min(moments(q * a)[1] + moments((1 - q) * a)[1]) for a in after])  # (2B',)
    return np.asarray(q[np.argmin(best[: len(q)] + best[len(q):])])


def expected_rmse(items: int, rule: str) -> list[float]:
    """sqrt(E[posterior variance]) after 1..items items, exact over all response patterns."""
    prior = np.exp(-(GRID**2) / 2)
    leaves, out = [prior / prior.sum()], []
    for step in range(items):
        grown = []
        for w in leaves:
            p = next_item(w, "mepv" if rule == "lookahead" and step == items - 1 else rule)  # nothing after the last
            grown += [w * p, w * (1 - p)]
        leaves = grown
        out.append(float(np.sqrt(moments(np.array(leaves))[1].sum())))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = {"setting": "Rasch, theta ~ N(0, 1), EAP, a perfect bank; exact over all response patterns",
              "rmse": {rule: expected_rmse(args.items, rule) for rule in ("mfi", "mepv", "lookahead")}}
    for rule, values in result["rmse"].items():
        print(rule, " ".join(f"{n + 1}:{v:.4f}" for n, v in enumerate(values)))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
