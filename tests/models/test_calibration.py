from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import metatutor.models.calibration as calibration
import metatutor.models.response_matrix as response_matrix
from metatutor.errors import ConfigError
from metatutor.models.calibration import CalibrationConfig, calibrate
from metatutor.models.response_matrix import ResponseMatrix, fills_every_cell_once

# effectively flat priors: marginal maximum likelihood, as girth estimates it
FLAT = {"difficulty_sd": 1e3, "log_discrimination_sd": 1e3}


def simulate(n_learners: int, n_items: int, *, seed: int, answered: float = 1.0,
             one_pl: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(learner, item, correct) triples of a 2PL (a ≡ 1 for `one_pl`) cohort, each cell kept with
    probability `answered`; and the generating a, b."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_learners)
    a = np.ones(n_items) if one_pl else rng.lognormal(0.0, 0.3, n_items)
    b = rng.normal(size=n_items)
    y = (rng.random((n_learners, n_items)) < 1 / (1 + np.exp(-a * (theta[:, None] - b)))).astype(int)
    learner, item = np.nonzero(rng.random((n_learners, n_items)) < answered)
    return learner, item, y[learner, item], a, b


def girth_matrix(learner: np.ndarray, item: np.ndarray, correct: np.ndarray, n_learners: int,
                 n_items: int) -> np.ndarray:
    from girth.utilities import INVALID_RESPONSE

    out = np.full((n_items, n_learners), INVALID_RESPONSE, dtype=int)
    out[item, learner] = correct
    return out


def test_rasch_matches_girth() -> None:
    girth = pytest.importorskip("girth")
    learner, item, y, _, _ = simulate(800, 15, seed=1, one_pl=True)
    ours = calibrate(learner, item, y, n_learners=800, n_items=15,
                     config=CalibrationConfig(kind="1pl", ability_sd=1.0, **FLAT))
    ref = girth.rasch_mml(girth_matrix(learner, item, y, 800, 15))["Difficulty"]
    assert ours.sd == 1.0 and np.all(ours.a == 1.0)
    np.testing.assert_allclose(ours.b, ref, atol=0.02)


def test_1pl_with_learned_spread_matches_girth_onepl() -> None:
    girth = pytest.importorskip("girth")
    learner, item, y, _, _ = simulate(800, 15, seed=2, one_pl=True)
    ours = calibrate(learner, item, y, n_learners=800, n_items=15, config=CalibrationConfig(kind="1pl", **FLAT))
    ref = girth.onepl_mml(girth_matrix(learner, item, y, 800, 15))
    # girth fixes θ ~ N(0, 1) and learns one discrimination; ours fixes a ≡ 1 and learns sd: the same model
    assert ours.sd == pytest.approx(ref["Discrimination"], abs=0.03)
    np.testing.assert_allclose(ours.b / ours.sd, ref["Difficulty"], atol=0.03)


def test_2pl_matches_girth() -> None:
    girth = pytest.importorskip("girth")
    learner, item, y, _, _ = simulate(600, 12, seed=3)
    ours = calibrate(learner, item, y, n_learners=600, n_items=12, config=CalibrationConfig(kind="2pl", **FLAT))
    ref = girth.twopl_mml(girth_matrix(learner, item, y, 600, 12))
    np.testing.assert_allclose(ours.b, ref["Difficulty"], atol=0.03)
    np.testing.assert_allclose(ours.a, ref["Discrimination"], atol=0.03)


def test_sparse_and_dense_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    learner, item, y, a, b = simulate(1200, 40, seed=4, answered=0.3)
    assert ResponseMatrix.from_triples(learner, item, y, n_learners=1200, n_items=40).is_sparse is False
    dense = calibrate(learner, item, y, n_learners=1200, n_items=40)
    monkeypatch.setattr(response_matrix, "DENSE_FRACTION", 2.0)  # nothing counts as dense now
    assert ResponseMatrix.from_triples(learner, item, y, n_learners=1200, n_items=40).is_sparse is True
    sparse = calibrate(learner, item, y, n_learners=1200, n_items=40)
    np.testing.assert_allclose(sparse.b, dense.b, atol=1e-8)
    np.testing.assert_allclose(sparse.a, dense.a, atol=1e-8)
    np.testing.assert_allclose(sparse.se_b, dense.se_b, atol=1e-8)
    assert np.corrcoef(sparse.b, b)[0, 1] > 0.97 and np.corrcoef(sparse.a, a)[0, 1] > 0.7


def test_score_groups_give_the_learner_level_estimates(monkeypatch: pytest.MonkeyPatch) -> None:
    learner, item, y, _, _ = simulate(700, 20, seed=5, one_pl=True)
    assert fills_every_cell_once(learner, item, n_learners=700, n_items=20)
    cfg = CalibrationConfig(kind="1pl", tol=1e-9)
    grouped = calibrate(learner, item, y, n_learners=700, n_items=20, config=cfg)
    monkeypatch.setattr(calibration, "fills_every_cell_once", lambda *args, **kwargs: False)
    per_learner = calibrate(learner, item, y, n_learners=700, n_items=20, config=cfg)
    np.testing.assert_allclose(grouped.b, per_learner.b, atol=1e-6)
    assert grouped.sd == pytest.approx(per_learner.sd, abs=1e-6)
    assert grouped.log_marginal == pytest.approx(per_learner.log_marginal, abs=1e-6)


@pytest.mark.parametrize("kind", ["1pl", "2pl", "3pl"])
def test_squarem_reaches_the_plain_em_fixed_point(kind: str) -> None:
    learner, item, y, _, _ = simulate(1500, 40, seed=6, answered=0.2)
    runs = {acc: calibrate(learner, item, y, n_learners=1500, n_items=40,
                           config=CalibrationConfig(kind=kind, tol=1e-10, max_iter=2000, accelerate=acc))
            for acc in (False, True)}
    assert runs[False].iterations < 2000 and runs[True].iterations < 2000
    np.testing.assert_allclose(runs[True].b, runs[False].b, atol=2e-3)
    np.testing.assert_allclose(runs[True].a, runs[False].a, atol=2e-3)
    np.testing.assert_allclose(runs[True].c, runs[False].c, atol=2e-3)
    assert runs[True].log_marginal == pytest.approx(runs[False].log_marginal, abs=0.01)


def test_response_matrix_products_match_a_loop_over_responses() -> None:
    rng = np.random.default_rng(7)
    learner, item = rng.integers(0, 6, 40), rng.integers(0, 5, 40)  # repeats: an item answered twice counts twice
    y = rng.integers(0, 2, 40).astype(float)
    log_p = np.log(rng.uniform(0.05, 0.95, (5, 3)))
    log_q = np.log1p(-np.exp(log_p))
    post = rng.dirichlet(np.ones(3), size=6)
    want_ll = np.zeros((6, 3))
    want_seen, want_right = np.zeros((5, 3)), np.zeros((5, 3))
    for lr, it, yy in zip(learner, item, y, strict=True):
        want_ll[lr] += log_p[it] if yy else log_q[it]
        want_seen[it] += post[lr]
        want_right[it] += yy * post[lr]
    for fraction in (0.0, 2.0):  # dense, then sparse
        response_matrix.DENSE_FRACTION, saved = fraction, response_matrix.DENSE_FRACTION
        try:
            m = ResponseMatrix.from_triples(learner, item, y, n_learners=6, n_items=5)
        finally:
            response_matrix.DENSE_FRACTION = saved
        assert m.is_sparse is (fraction > 1)
        np.testing.assert_allclose(m.log_likelihood(log_p, log_q), want_ll)
        seen, right = m.expected_counts(post)
        np.testing.assert_allclose(seen, want_seen)
        np.testing.assert_allclose(right, want_right)
        np.testing.assert_allclose(m.answers_per_item(), np.bincount(item, minlength=5))


def test_complete_matrix_keeps_only_the_right_answers() -> None:
    learner, item = np.divmod(np.arange(12), 4)
    y = np.arange(12) % 2
    m = ResponseMatrix.from_triples(learner, item, y, n_learners=3, n_items=4)
    assert m.answered is None and not m.is_sparse
    assert not fills_every_cell_once(np.r_[learner[:-1], 0], np.r_[item[:-1], 0], n_learners=3, n_items=4)


def test_items_nobody_answered_keep_their_prior() -> None:
    learner, item, y, _, _ = simulate(300, 10, seed=8)
    cal = calibrate(learner, item, y, n_learners=300, n_items=12)  # items 10 and 11: no responses
    assert cal.b[10:] == pytest.approx([0.0, 0.0], abs=1e-6) and cal.a[10:] == pytest.approx([1.0, 1.0], abs=1e-6)
    assert cal.se_b[10:] == pytest.approx([2.0, 2.0])


def test_ability_sd_is_for_1pl_only() -> None:
    with pytest.raises(ConfigError, match="ability_sd"):
        calibrate(np.zeros(3, dtype=int), np.arange(3), np.ones(3), n_learners=1, n_items=3,
                  config=CalibrationConfig(kind="2pl", ability_sd=1.0))


def test_models_never_import_higher_layers() -> None:
    higher = ("metatutor.meta", "metatutor.policy", "metatutor.assessment", "metatutor.feedback",
              "metatutor.evaluation", "metatutor.service", "metatutor.cli")
    models = Path(calibration.__file__).parent
    offenders = []
    for path in sorted(models.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(higher)]
    assert offenders == []
