from __future__ import annotations

import numpy as np
import pytest

from metatutor.assessment.estimation import eap, eap_cohort, estimate, map_estimate, mle
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


def _cohort(seed: int, *, n_learners: int = 60, n_items: int = 12, answered: float = 0.5, guessing: bool = True,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sparse 3PL (2PL without `guessing`) triples (learner, item, correct) and the items' a, b, c; learner 0
    answers nothing."""
    rng = np.random.default_rng(seed)
    a, b = rng.lognormal(0, 0.3, n_items), rng.normal(size=n_items)
    c = rng.uniform(0, 0.25, n_items) if guessing else np.zeros(n_items)
    theta = rng.normal(size=n_learners)
    learner, item = np.nonzero(rng.random((n_learners, n_items)) < answered)
    keep = learner > 0
    learner, item = learner[keep], item[keep]
    y = (rng.random(len(item)) < p_correct(theta[learner], a[item], b[item], c[item])).astype(int)
    return learner, item, y, a, b, c


@pytest.mark.parametrize("guessing", [True, False])
def test_cohort_eap_equals_each_examinees_eap(guessing: bool) -> None:
    learner, item, y, a, b, c = _cohort(11, guessing=guessing)
    prior_mean = np.linspace(-0.5, 0.5, 60)  # one prior each
    theta, se = eap_cohort(learner, item, y, a, b, c, n_learners=60, prior_mean=prior_mean, prior_sd=0.9)
    for j in range(60):
        mine = learner == j
        one = eap(y[mine].astype(float), a[item[mine]], b[item[mine]], c[item[mine]], prior_mean=prior_mean[j],
                  prior_sd=0.9)
        assert theta[j] == pytest.approx(one.theta, abs=1e-10) and se[j] == pytest.approx(one.se, abs=1e-10)
    assert theta[0] == pytest.approx(-0.5, abs=1e-6) and se[0] == pytest.approx(0.9, abs=1e-3)  # nothing answered


@pytest.mark.parametrize("guessing", [True, False])
def test_cohort_eap_counts_a_repeated_answer_twice(guessing: bool) -> None:
    learner, item, y, a, b, c = _cohort(12, n_learners=5, guessing=guessing)
    twice = eap_cohort(np.r_[learner, learner], np.r_[item, item], np.r_[y, y], a, b, c, n_learners=5)[0]
    j = int(learner[0])
    mine = learner == j
    doubled = eap(np.r_[y[mine], y[mine]].astype(float), *(np.r_[v[item[mine]], v[item[mine]]] for v in (a, b, c)))
    assert twice[j] == pytest.approx(doubled.theta, abs=1e-10)


def test_cohort_eap_matches_girth() -> None:
    girth = pytest.importorskip("girth")
    from girth.utilities import INVALID_RESPONSE

    learner, item, y, a, b, c = _cohort(13, n_learners=200, n_items=20, answered=0.6, guessing=False)
    matrix = np.full((20, 200), INVALID_RESPONSE, dtype=int)
    matrix[item, learner] = y
    ours = eap_cohort(learner, item, y, a, b, c, n_learners=200)[0]
    ref = girth.ability_eap(matrix, b, a)
    np.testing.assert_allclose(ours, ref, atol=2e-3)  # learner 0, with no answers: the prior mean, 0, in both


def test_cohort_eap_of_a_complete_matrix() -> None:
    rng = np.random.default_rng(14)
    y = rng.integers(0, 2, (30, 5))
    learner, item = np.divmod(np.arange(150), 5)
    theta, se = eap_cohort(learner, item, y.ravel(), A, B, C0, n_learners=30)
    for j in (0, 17, 29):
        one = eap(y[j].astype(float), A, B, C0)
        assert theta[j] == pytest.approx(one.theta, abs=1e-10) and se[j] == pytest.approx(one.se, abs=1e-10)
