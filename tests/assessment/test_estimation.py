from __future__ import annotations

import numpy as np
import pytest

from metatutor.assessment.estimation import eap, estimate, map_estimate, mle
from metatutor.assessment.irt import THETA_BOUNDS, fisher_information, kl_information, p_correct
from metatutor.errors import ConfigError

B = np.array([-1.5, -0.5, 0.0, 0.7, 1.4])
A = np.array([0.8, 1.2, 1.0, 1.5, 0.9])
C0 = np.zeros(5)
PATTERNS = [np.array(p) for p in ([1, 0, 1, 0, 0], [1, 1, 1, 0, 1], [1, 1, 0, 0, 0])]


def test_fisher_information_matches_catsim_3pl() -> None:
    irt = pytest.importorskip("catsim.irt")
    c = np.array([0.0, 0.2, 0.25, 0.1, 0.3])
    for theta in (-2.0, 0.0, 1.3):
        ours = fisher_information(theta, A, B, c)
        ref = [irt.inf(theta, a, b, cc) for a, b, cc in zip(A, B, c, strict=True)]
        np.testing.assert_allclose(ours, ref, rtol=1e-6)
        np.testing.assert_allclose(p_correct(theta, A, B, c),
                                   [irt.icc(theta, a, b, cc) for a, b, cc in zip(A, B, c, strict=True)], rtol=1e-9)


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
def test_eap_map_mle_match_girth(pattern: np.ndarray) -> None:
    girth = pytest.importorskip("girth")
    data = pattern[:, None]
    assert eap(pattern, A, B, C0).theta == pytest.approx(float(girth.ability_eap(data, B, A)[0]), abs=2e-3)
    assert map_estimate(pattern, A, B, C0).theta == pytest.approx(float(girth.ability_map(data, B, A)[0]), abs=2e-3)
    assert mle(pattern, A, B, C0).theta == pytest.approx(float(girth.ability_mle(data, B, A)[0]), abs=2e-3)


def test_map_is_the_posterior_mode_and_se_from_information() -> None:
    pattern = PATTERNS[0]
    est = map_estimate(pattern, A, B, C0)
    grid = np.linspace(-3, 3, 60001)
    p = p_correct(grid[:, None], A, B, C0)
    logpost = (pattern * np.log(p) + (1 - pattern) * np.log1p(-p)).sum(1) - 0.5 * grid**2
    assert est.theta == pytest.approx(grid[np.argmax(logpost)], abs=1e-3)
    info = fisher_information(est.theta, A, B, C0).sum()
    assert est.se == pytest.approx(1 / np.sqrt(info + 1.0), rel=1e-6)


@pytest.mark.parametrize("value", [0, 1])
def test_stable_on_all_right_and_all_wrong(value: int) -> None:
    pattern = np.full(5, value)
    sign = 1 if value else -1
    m = mle(pattern, A, B, C0)
    assert m.theta == THETA_BOUNDS[1 if value else 0] and np.isfinite(m.se)
    for est in (eap(pattern, A, B, C0), map_estimate(pattern, A, B, C0)):
        assert np.isfinite(est.theta) and np.isfinite(est.se) and sign * est.theta > 0.5
        assert abs(est.theta) < THETA_BOUNDS[1]


def test_se_shrinks_with_more_items_and_empty_pattern_gives_prior() -> None:
    empty = eap(np.array([]), np.array([]), np.array([]), np.array([]), prior_mean=0.3, prior_sd=0.8)
    assert empty.theta == pytest.approx(0.3, abs=1e-6) and empty.se == pytest.approx(0.8, abs=1e-3)
    few = eap(PATTERNS[0][:2], A[:2], B[:2], C0[:2])
    more = eap(PATTERNS[0], A, B, C0)
    assert more.se < few.se < 1.0
    assert mle(np.array([]), A[:0], B[:0], C0[:0]).se == np.inf


def test_kl_information_is_zero_width_zero_and_grows_with_discrimination() -> None:
    assert np.allclose(kl_information(0.0, A, B, C0, delta=0.0), 0.0)
    kl = kl_information(0.0, np.array([0.5, 2.0]), np.zeros(2), np.zeros(2), delta=1.0)
    assert kl[1] > kl[0] > 0


def test_unknown_estimator_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown estimator"):
        estimate("wle", PATTERNS[0], A, B, C0)
