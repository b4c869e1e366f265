"""Item response functions of the 1PL/2PL/3PL models, as pure numpy functions.

P(correct | θ) = c + (1 - c) · σ(a (θ - b)): a discrimination, b difficulty, c guessing (0 for 1PL/2PL).
Every function broadcasts: θ may be a scalar, a grid (G,) or (N, 1) against item arrays (I,).

Glossary: I items, G grid points, N responses.
"""

from __future__ import annotations

import numpy as np

GRID = np.linspace(-6.0, 6.0, 121)  # θ grid for EAP and the posterior of a session
THETA_BOUNDS = (-4.0, 4.0)  # bounded MLE and the range KL information integrates over


def p_correct(theta: np.ndarray | float, a: np.ndarray, b: np.ndarray, c: np.ndarray | float = 0.0) -> np.ndarray:
    """P(correct) of items (a, b, c) at ability θ."""
    return c + (1.0 - c) / (1.0 + np.exp(-a * (theta - b)))


def fisher_information(theta: np.ndarray | float, a: np.ndarray, b: np.ndarray,
                       c: np.ndarray | float = 0.0) -> np.ndarray:
    """Item information I(θ) = a² (P - c)² Q / ((1 - c)² P) (Birnbaum); a² P Q when c = 0."""
    p = p_correct(theta, a, b, c)
    return a**2 * (p - c) ** 2 * (1.0 - p) / ((1.0 - c) ** 2 * p)


def log_likelihood_grid(correct: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                        grid: np.ndarray = GRID) -> np.ndarray:
    """(G,) log-likelihood of answered items (N,) at every grid point."""
    p = p_correct(grid[None, :], a[:, None], b[:, None], c[:, None])  # (N, G)
    p = np.clip(p, 1e-12, 1.0 - 1e-12)
    y = correct[:, None].astype(np.float64)
    return np.asarray((y * np.log(p) + (1.0 - y) * np.log1p(-p)).sum(axis=0))


def kl_information(theta: float, a: np.ndarray, b: np.ndarray, c: np.ndarray, *, delta: float,
                   points: int = 9) -> np.ndarray:
    """Chang & Ying's KL index: the item's Kullback-Leibler divergence between θ̂ and θ, integrated
    over θ ∈ [θ̂ - δ, θ̂ + δ] (δ shrinks as the test lengthens, e.g. 3/√n)."""
    thetas = np.linspace(theta - delta, theta + delta, points)  # (P,)
    p0 = np.clip(p_correct(theta, a, b, c), 1e-12, 1 - 1e-12)[:, None]  # (I, 1)
    p1 = np.clip(p_correct(thetas[None, :], a[:, None], b[:, None], c[:, None]), 1e-12, 1 - 1e-12)  # (I, P)
    kl = p0 * np.log(p0 / p1) + (1 - p0) * np.log((1 - p0) / (1 - p1))
    return np.asarray(np.trapezoid(kl, thetas, axis=1))
