from __future__ import annotations

import numpy as np
import pytest

from metatutor.models.mml_steps import ItemParams, ItemPrior, _objective, item_curves, m_step


def _tables(seed: int, n_items: int, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected counts (I, G) as an E-step would give them: seen, and right <= seen."""
    rng = np.random.default_rng(seed)
    seen = rng.uniform(0.0, 30.0, (n_items, len(z))) * np.exp(-0.5 * z**2)
    p = 1 / (1 + np.exp(-(z[None, :] - rng.normal(size=(n_items, 1)))))
    return seen, seen * np.clip(p + rng.normal(0, 0.05, p.shape), 0.01, 0.99)


def _total(params: ItemParams, z: np.ndarray, seen: np.ndarray, right: np.ndarray, prior: ItemPrior,
           kind: str) -> float:
    return float(_objective(item_curves(params, z), seen, right, params, prior, kind=kind).sum())


@pytest.mark.parametrize(("kind", "learn_sd"), [("1pl", False), ("1pl", True), ("2pl", False), ("3pl", False)])
def test_m_step_reaches_a_stationary_point_of_its_objective(kind: str, learn_sd: bool) -> None:
    z = np.linspace(-5, 5, 21)
    n = 6
    seen, right = _tables(1, n, z)
    prior = ItemPrior(b0=np.zeros(n), sd_b=np.full(n, 2.0), log_a0=np.zeros(n), sd_log_a=0.5, alpha=5.0, beta=17.0)
    params = ItemParams(np.zeros(n), np.zeros(n), np.full(n, -1.4) if kind == "3pl" else None, 0.0)
    start = _total(params, z, seen, right, prior, kind)
    m_step(params, z, seen, right, prior, kind=kind, learn_sd=learn_sd, steps=200)
    assert _total(params, z, seen, right, prior, kind) > start
    # central differences of the objective in every parameter the step moves: all ~0 at the maximum
    names = ["b"] + (["log_a"] if kind != "1pl" else []) + (["logit_c"] if kind == "3pl" else [])
    h = 1e-5
    for name in names:
        for i in range(n):
            up, down = params.copy(), params.copy()
            getattr(up, name)[i] += h
            getattr(down, name)[i] -= h
            grad = (_total(up, z, seen, right, prior, kind) - _total(down, z, seen, right, prior, kind)) / (2 * h)
            assert abs(grad) < 1e-4, (name, i, grad)
    if learn_sd:
        up, down = params.copy(), params.copy()
        up.log_sd += h
        down.log_sd -= h
        grad = (_total(up, z, seen, right, prior, kind) - _total(down, z, seen, right, prior, kind)) / (2 * h)
        assert abs(grad) < 1e-4
    else:
        assert params.log_sd == 0.0
