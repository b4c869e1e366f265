from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from metatutor.data.responses import Responses
from metatutor.data.splits import Split, kfold_splits
from metatutor.errors import ConfigError, NotFittedError
from metatutor.meta import BASELINES, OURS, Population, cold_start_episodes, make_method
from metatutor.meta.gradient import GradientMeta, adapt_block, support_loss

FAST_DKT = {"max_epochs": 6, "hidden": 32, "embed": 16, "lr": 5e-3}
FAST_META = {"meta_steps": 40, "eval_every": 20, "batch_size": 32}


@pytest.fixture(scope="module")
def split(simulated: Responses) -> Split:
    return kfold_splits(simulated, k=4, random_state=0)[0]


@pytest.fixture(scope="module")
def population(split: Split) -> Population:
    return Population(split.train, split.valid, dkt_settings=FAST_DKT)


def _fit(name: str, split: Split, population: Population):  # type: ignore[no-untyped-def]
    settings = {} if name in ("population", "irt", "map", "scratch") else FAST_META
    return make_method(name, **settings).fit(split.train, split.valid, population)


@pytest.mark.parametrize("name", [*BASELINES, *OURS])
def test_every_method_predicts_probabilities_for_new_learners(name: str, split: Split,
                                                               population: Population) -> None:
    method = _fit(name, split, population)
    for k in (0, 1, 5):
        ep = cold_start_episodes(split.test, k)
        p = method.predict_query(ep.support, ep.query)
        assert p.shape == (len(ep.query),) and np.all((p > 0) & (p < 1))
    # personalised methods react to the support; the population model must not
    ep = cold_start_episodes(split.test, 10)
    flipped = dataclasses.replace(ep.support, correct=(1 - ep.support.correct).astype(np.int8))
    changed = np.abs(method.predict_query(flipped, ep.query) - method.predict_query(ep.support, ep.query)).max()
    assert (changed < 1e-9) if name == "population" else (changed > 1e-3)


def test_adapting_on_support_helps_on_simulated_learners(split: Split, population: Population) -> None:
    ep0, ep10 = cold_start_episodes(split.test, 0), cold_start_episodes(split.test, 10)
    for name in ("irt", "map", "metasgd"):
        m = _fit(name, split, population)
        # same learners at k = 0 and k = 10 would differ in items; compare on the k = 10 learners' queries
        no_support = m.predict_query(ep0.support.select_rows(np.zeros(len(ep0.support), bool)), ep10.query)
        adapted = m.predict_query(ep10.support, ep10.query)
        assert roc_auc_score(ep10.answers, adapted) > roc_auc_score(ep10.answers, no_support) + 0.01, name
    assert len(ep0.query) > 0


def test_inner_step_matches_a_manual_gradient_step(split: Split, population: Population) -> None:
    m = GradientMeta("finetune", steps=1, inner_lr=0.5).fit(split.train, split.valid, population)
    ep = cold_start_episodes(split.test, 5)
    from metatutor.meta.episodes import episode_tensors

    batch = episode_tensors(ep.support, ep.query, m.backbone_.vocab, max_skills=m.backbone_.max_skills)
    support, _ = m.backbone_.features(batch)
    shared = {n: p.detach() for n, p in m.backbone_.head_params().items()}
    phi0 = {n: torch.randn(batch["q_item"].shape[0], *p.shape) * 0.1 for n, p in m.phi0_.items()}
    lr = {n: torch.full(p.shape, 0.5) for n, p in m.phi0_.items()}
    adapted = adapt_block(m.backbone_.head, shared, phi0, lr, support, steps=1, first_order=True)
    j = 3  # learner 3 by hand, with ordinary autograd
    mine = {n: v[j].clone().requires_grad_(True) for n, v in phi0.items()}
    loss = support_loss(m.backbone_.head, shared, mine, {n: v[j] for n, v in support.items()})
    grads = torch.autograd.grad(loss, list(mine.values()))
    for (n, v), g in zip(mine.items(), grads, strict=True):
        assert torch.allclose(adapted[n][j], v - 0.5 * g, atol=1e-5), n


def test_maml_differentiates_through_the_inner_loop(split: Split, population: Population) -> None:
    """Second-order MAML and first-order MAML give different meta-gradients for φ₀."""
    grads = {}
    for name in ("maml", "fomaml"):
        m = GradientMeta(name, meta_steps=0, steps=2, inner_lr=0.5).fit(split.train, split.valid, population)
        m.method = name
        from metatutor.meta.episodes import EpisodeSampler

        sampler = EpisodeSampler(split.train, m.backbone_.vocab, max_skills=m.backbone_.max_skills, ks=(5,),
                                 batch_size=16, random_state=0)
        m.backbone_.eval()
        loss = m._meta_loss(sampler.sample()[1])
        loss.backward()
        grads[name] = m.phi0_["skill"].grad.clone()
    assert grads["maml"].abs().sum() > 0 and not torch.allclose(grads["maml"], grads["fomaml"], atol=1e-6)


def test_meta_training_keeps_the_best_validation_checkpoint(split: Split, population: Population) -> None:
    m = make_method("metasgd", meta_steps=60, eval_every=20, batch_size=32).fit(split.train, split.valid, population)
    history = [h["valid_auc"] for h in m.history_]
    assert len(history) == 4
    assert m._validate(m._validation_episodes(split.valid)) == pytest.approx(max(history), abs=1e-9)


def test_prototype_profiles_are_readable(split: Split, population: Population) -> None:
    m = _fit("proto", split, population)
    profiles = m.profiles()
    assert profiles.shape[0] == 16 and ((profiles.values > 0) & (profiles.values < 1)).all()
    ep = cold_start_episodes(split.test, 5)
    w = m.membership(ep.support, ep.query)
    assert np.allclose(w.sum(axis=1), 1.0)


def test_errors() -> None:
    with pytest.raises(ConfigError, match="unknown cold-start method"):
        make_method("nope")
    with pytest.raises(ConfigError, match="unknown gradient"):
        GradientMeta("sgd")
    with pytest.raises(NotFittedError):
        make_method("irt").predict_query(None, None)  # type: ignore[arg-type]


def test_adapt_one_learner_at_a_time_matches_the_batch(split: Split, population: Population) -> None:
    m = make_method("metasgd", meta_steps=10, eval_every=10, batch_size=16).fit(split.train, split.valid, population)
    ep = cold_start_episodes(split.test, 4)
    together = m.predict_query(ep.support, ep.query)
    learner = ep.query.learners_present()[2]
    one = m.adapt(ep.support.select_learners([learner]))
    assert list(one.learner_ids) == [learner] and one.phi["skill"].shape[0] == 1
    alone = m.predict_adapted(one, ep.query.select_learners([learner]))
    rows = ep.query.learner_ids[ep.query.learner] == learner
    assert np.allclose(alone, together[rows], atol=1e-5)
    # a learner without responses gets the meta-learned prior (k = 0)
    codes = np.array([ep.query.learner[0]])
    empty = m.adapt(ep.support.select_rows(np.zeros(len(ep.support), bool)), codes)
    assert torch.allclose(empty.phi["bias"][0], m.phi0_["bias"])


@pytest.mark.parametrize("name", ["maml", "fomaml", "reptile", "metasgd"])
def test_gradient_methods_run_on_the_irt_backbone(name: str, split: Split, population: Population) -> None:
    m = make_method(name, backbone="irt", meta_steps=30, eval_every=10, batch_size=32)
    m.fit(split.train, split.valid, population)
    ep = cold_start_episodes(split.test, 10)
    p = m.predict_query(ep.support, ep.query)
    assert np.all((p > 0) & (p < 1)) and roc_auc_score(ep.answers, p) > 0.6
    assert set(m.phi0_) == {"theta", "skill"}


@pytest.mark.parametrize("backbone", ["dkt", "irt"])
def test_serving_path_equals_the_vmapped_path(split: Split, population: Population, backbone: str) -> None:
    """adapt_block on the whole batch at once, and with the backbone's closed-form gradient (serving),
    gives the same φ as under vmap (meta-training)."""
    m = GradientMeta("metasgd", backbone=backbone, meta_steps=0, steps=2, inner_lr=0.3)
    m.fit(split.train, split.valid, population)
    from metatutor.meta.episodes import episode_tensors

    ep = cold_start_episodes(split.test, 6)
    batch = episode_tensors(ep.support, ep.query, m.backbone_.vocab, max_skills=m.backbone_.max_skills)
    m.backbone_.eval()
    support, _ = m.backbone_.features(batch)
    shared = m.backbone_.head_params()
    phi0 = {n: torch.randn(batch["q_item"].shape[0], *p.shape) * 0.1 for n, p in m.phi0_.items()}
    a = adapt_block(m.backbone_.head, shared, phi0, m._lr(), support, steps=2, first_order=True, vectorised=True)
    b = adapt_block(m.backbone_.head, shared, phi0, m._lr(), support, steps=2, first_order=True, vectorised=False)
    with torch.no_grad():
        c = adapt_block(m.backbone_.head, shared, phi0, m._lr(), support, steps=2, first_order=True,
                        closed_form=m.backbone_.support_grad)
    for name in a:
        assert not torch.allclose(a[name], phi0[name]), name  # the steps moved φ
        assert torch.allclose(a[name], b[name], atol=1e-5), name
        assert torch.allclose(a[name], c[name], atol=1e-5), name
