from __future__ import annotations

import numpy as np

from metatutor.data.responses import Responses
from metatutor.meta.episodes import EpisodeSampler, cold_start_episodes, episode_tensors
from metatutor.models.base import Vocabulary


def test_cold_start_episodes_cut_support_and_hidden_query(simulated: Responses) -> None:
    ep = cold_start_episodes(simulated, 5, query=10)
    long_enough = int((simulated.lengths >= 15).sum())
    assert ep.support.n_learners == ep.query.n_learners == long_enough
    assert (ep.support.lengths == 5).all() and (ep.query.lengths == 10).all()
    assert (ep.query.order == np.tile(np.arange(10), long_enough)).all()
    assert not ep.query.correct.any(), "query answers must be hidden from the method"
    full = simulated.select_rows(np.repeat(simulated.lengths >= 15, simulated.lengths))
    expected = full.correct[(full.order >= 5) & (full.order < 15)]
    assert (ep.answers == expected).all() and ep.answers.any()


def test_k_zero_has_no_support(simulated: Responses) -> None:
    ep = cold_start_episodes(simulated, 0)
    assert len(ep.support) == 0 and ep.query.n_learners == simulated.n_learners


def test_episode_tensors_align_support_to_query_learners(simulated: Responses) -> None:
    vocab = Vocabulary.of(simulated)
    ep = cold_start_episodes(simulated, 3, query=4)
    t = episode_tensors(ep.support, ep.query, vocab, max_skills=2)
    assert t["s_item"].shape == (ep.query.n_learners, 3) and t["q_item"].shape == (ep.query.n_learners, 4)
    assert t["s_mask"].all() and t["q_mask"].all()
    # learner 2's support items are their first three items
    lo = ep.support.starts[2]
    assert t["s_item"][2].tolist() == vocab.items(ep.support)[lo : lo + 3].tolist()
    assert t["s_y"][2].tolist() == ep.support.correct[lo : lo + 3].astype(float).tolist()
    assert t["q_rows"][1].tolist() == list(range(4, 8))


def test_sampler_is_seeded_and_uses_only_its_learners(simulated: Responses) -> None:
    vocab = Vocabulary.of(simulated)
    a = EpisodeSampler(simulated, vocab, max_skills=2, ks=(0, 3, 5), batch_size=8, random_state=1)
    b = EpisodeSampler(simulated, vocab, max_skills=2, ks=(0, 3, 5), batch_size=8, random_state=1)
    for _ in range(3):
        (ka, ba), (kb, bb) = a.sample(), b.sample()
        assert ka == kb and all(bool((ba[n] == bb[n]).all()) for n in ba)
        assert ba["s_item"].shape == (8, ka) and ba["q_mask"].any(dim=1).all()
