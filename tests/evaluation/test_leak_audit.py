"""The leak audit: it must catch the sparseKT masking bug, pass its corrected twin and every registered model.

pyKT's sparseKT (2023) picked each attention row's top-k weights after a first softmax over causally masked
scores, then ran a second softmax over the kept weights with the others set to 0 instead of -inf (fixed
upstream in June 2024). In a row with fewer than k earlier positions the k-th largest weight is 0, so every
masked *future* position (weight 0) was kept, at exp(0) in the second softmax: early positions saw their own
answer and all later ones. `TinySparseKT(leak=True)` reproduces that; `leak=False` is the fix.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from metatutor.data.responses import Responses
from metatutor.data.splits import kfold_splits
from metatutor.errors import LeakAuditError
from metatutor.evaluation import benchmark, coldstart
from metatutor.evaluation.leak_audit import TOLERANCE, audit_causal, audit_no_feedback, flip_from
from metatutor.meta import BASELINES, OURS, make_method
from metatutor.meta.base import ColdStartMethod, Population
from metatutor.meta.episodes import cold_start_episodes
from metatutor.models import REGISTRY, make_model


class SparseAttention(nn.Module):
    """One head of attention over (a null slot, earlier interactions), sparsified to the top k per row."""

    def __init__(self, n_items: int, *, dim: int = 16, top_k: int = 5, leak: bool) -> None:
        super().__init__()
        self.item = nn.Embedding(n_items + 1, dim)
        self.answer = nn.Embedding(2, dim)
        self.null = nn.Parameter(torch.zeros(1, 1, dim))
        self.out = nn.Linear(2 * dim, 1)
        self.top_k, self.leak = top_k, leak

    def forward(self, item: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # (B, T) each -> (B, T) logits
        b, t = item.shape
        q = self.item(item)  # (B, T, D): the question at position t
        kv = torch.cat([self.null.expand(b, 1, -1), self.item(item) + self.answer(y)], dim=1)  # (B, T+1, D)
        scores = q @ kv.transpose(1, 2) / math.sqrt(q.shape[-1])  # (B, T, T+1)
        allowed = torch.ones(t, t + 1, dtype=torch.bool).tril(0)  # slot 0 (null) and slots s+1 for s < t
        p = torch.softmax(scores.masked_fill(~allowed, -1e32), dim=-1)
        kth = p.topk(min(self.top_k, t + 1), dim=-1).values[..., -1:]
        keep = p >= kth
        if not self.leak:
            keep = keep & allowed  # the fix: masked positions never come back
        weights = torch.softmax(p.masked_fill(~keep, -1e32), dim=-1)  # the bug: future weights are 0, not -inf
        return self.out(torch.cat([weights @ kv, q], dim=-1)).squeeze(-1)


class TinySparseKT:
    """A learner model around `SparseAttention` (fit / predict_proba on `Responses`)."""

    def __init__(self, *, leak: bool, steps: int = 60, seed: int = 0) -> None:
        self.leak, self.steps, self.seed = leak, steps, seed

    @staticmethod
    def _batch(responses: Responses) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        t = int(responses.lengths.max())
        rows = responses.starts[:-1, None] + np.arange(t)[None, :]
        mask = np.arange(t)[None, :] < responses.lengths[:, None]
        safe = np.where(mask, rows, 0)
        item = np.where(mask, responses.item[safe], len(responses.item_ids))
        y = np.where(mask, responses.correct[safe], 0)
        return torch.from_numpy(item).long(), torch.from_numpy(y.astype(np.int64)), mask

    def fit(self, train: Responses, valid: Responses | None = None) -> TinySparseKT:
        torch.manual_seed(self.seed)
        self.net_ = SparseAttention(len(train.item_ids), leak=self.leak)
        item, y, mask = self._batch(train)
        target, m = y.float(), torch.from_numpy(mask)
        opt = torch.optim.Adam(self.net_.parameters(), lr=0.02)
        for _ in range(self.steps):
            opt.zero_grad()
            loss = nn.functional.binary_cross_entropy_with_logits(self.net_(item, y)[m], target[m])
            loss.backward()
            opt.step()
        return self

    @torch.no_grad()
    def predict_proba(self, responses: Responses) -> np.ndarray:
        item, y, mask = self._batch(responses)
        return torch.sigmoid(self.net_(item, y)).numpy()[mask].astype(np.float64)


@pytest.fixture(scope="module")
def split(simulated: Responses):  # type: ignore[no-untyped-def]
    return kfold_splits(simulated, k=5, random_state=0)[0]


def test_flip_from_flips_exactly_the_answers_from_each_cut(simulated: Responses) -> None:
    part = simulated.select_learners(simulated.learners_present()[:3])
    cuts = np.array([0, 5, 100])
    flipped = flip_from(part, cuts)
    changed = flipped.correct != part.correct
    expected = part.order >= np.repeat(cuts, part.lengths)
    assert np.array_equal(changed, expected) and changed[: part.lengths[0]].all()
    assert np.array_equal(flipped.item, part.item) and np.array_equal(flipped.learner, part.learner)


def test_audit_catches_the_sparsekt_masking_bug_and_passes_its_fix(split) -> None:  # type: ignore[no-untyped-def]
    leaky = TinySparseKT(leak=True).fit(split.train)
    fixed = TinySparseKT(leak=False).fit(split.train)
    bad = audit_causal(leaky.predict_proba, split.test)
    good = audit_causal(fixed.predict_proba, split.test)
    assert bad.max_change > 1e-3  # far above any rounding: early positions read their own and later answers
    assert bad.worst is not None and bad.worst["position"] <= bad.worst["cut"]
    assert bad.worst["position"] < 4  # only rows with fewer than top_k earlier slots leak, as in sparseKT
    assert good.max_change == 0.0 and good.checked > 100
    with pytest.raises(LeakAuditError, match="leak audit failed"):
        bad.check("sparseKT-style model")
    good.check("its fixed twin")


def test_benchmark_kt_fails_loudly_on_a_leaking_model(csv_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(benchmark, "make_model", lambda name, **settings: TinySparseKT(leak=True, steps=5))
    with pytest.raises(LeakAuditError, match="irt on fold 1"):
        benchmark.run_kt_benchmark(csv_path, protocol="kfold", models=["irt"], folds=[1])
    monkeypatch.setattr(benchmark, "make_model", lambda name, **settings: TinySparseKT(leak=False, steps=5))
    result = benchmark.run_kt_benchmark(csv_path, protocol="kfold", models=["irt"], folds=[1])
    assert result.rows[0]["leak_max_change"] == 0.0 and result.to_json()["leak_audit"]["max_change"] == {"irt": 0.0}


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registered_model_passes_the_audit(name: str, split) -> None:  # type: ignore[no-untyped-def]
    model = make_model(name, random_state=0, max_epochs=2, hidden=16, embed=8).fit(split.train, split.valid)
    audit = audit_causal(model.predict_proba, split.test, learners=24)
    assert audit.checked > 100
    assert audit.max_change <= TOLERANCE, audit.worst  # float32 models: exactly 0; IRT's float64 sums: ~1e-14


class PeekingMethod(ColdStartMethod):
    """A cold-start method that reads the query's answers (what the harness hides): must be caught."""

    name = "peeking"

    def predict_query(self, support: Responses, query: Responses) -> np.ndarray:
        return np.where(query.correct > 0, 0.9, 0.3)


def test_coldstart_audit_catches_a_method_that_reads_query_answers(split) -> None:  # type: ignore[no-untyped-def]
    ep = cold_start_episodes(split.test, 3)
    population = Population(split.train, split.valid)
    honest = make_method("irt").fit(split.train, split.valid, population)
    peeking = PeekingMethod().fit(split.train, split.valid, population)
    assert audit_no_feedback(honest.predict_query, ep.support, ep.query, ep.answers).max_change <= TOLERANCE
    caught = audit_no_feedback(peeking.predict_query, ep.support, ep.query, ep.answers)
    assert caught.max_change == pytest.approx(0.6)
    online = audit_causal(lambda r: coldstart.online_predictions(peeking, r, show_answers=True),
                          split.test.first_k(10), horizon=10)
    assert online.max_change == pytest.approx(0.6)
    # the harness hides the answers from the method, so its own predictions never depended on them
    hidden = coldstart.online_predictions(peeking, split.test.first_k(10))
    assert np.allclose(hidden, 0.3)
    with pytest.raises(LeakAuditError, match="query"):
        caught.check("peeking")


def test_benchmark_coldstart_fails_loudly_on_a_peeking_method(csv_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coldstart, "make_method", lambda name, **settings: PeekingMethod())
    with pytest.raises(LeakAuditError, match="population"):
        coldstart.run_coldstart_benchmark(csv_path, protocol="kfold", models=["population"], folds=[1], timing=False)


def test_online_predictions_match_the_episodes_they_replace(split) -> None:  # type: ignore[no-untyped-def]
    method = make_method("irt").fit(split.train, split.valid, Population(split.train, split.valid))
    first = split.test.first_k(10)
    p = coldstart.online_predictions(method, first)
    t = 4
    ep = cold_start_episodes(first, t, query=1)
    at_t = first.order == t
    assert np.allclose(p[at_t], method.predict_query(ep.support, ep.query))
    assert not np.isnan(p).any()
    shown = coldstart.online_predictions(method, dataclasses.replace(first, correct=1 - first.correct), horizon=1)
    assert np.isnan(shown[first.order >= 1]).all()


@pytest.fixture(scope="module")
def population(split):  # type: ignore[no-untyped-def]
    return Population(split.train, split.valid, dkt_settings={"max_epochs": 2, "hidden": 16, "embed": 8})


@pytest.mark.parametrize("name", [*BASELINES, *OURS])
def test_every_cold_start_method_passes_the_audit(name: str, split, population) -> None:  # type: ignore[no-untyped-def]
    settings = {"meta_steps": 10, "eval_every": 5} if name in OURS else {}
    method = make_method(name, **settings).fit(split.train, split.valid, population)
    episodes = [cold_start_episodes(split.test, k) for k in (0, 3, 10)]
    changes = coldstart.audit_method(method, split.test, episodes, name=name, learners=16)
    assert set(changes) == {"k=0", "k=3", "k=10", "online", "online_cross_learner"}
    assert max(v for k, v in changes.items() if "cross" not in k) <= TOLERANCE


def test_coupling_between_learners_is_reported_and_does_not_fail(split) -> None:  # type: ignore[no-untyped-def]
    def predict(r: Responses) -> np.ndarray:  # each learner's prediction moves with the *other* learners' answers
        seg = np.repeat(np.arange(r.n_learners), r.lengths)
        totals = np.bincount(seg, weights=r.correct, minlength=r.n_learners)
        others = (r.correct.sum() - totals[seg]) / (len(r) - r.lengths[seg])
        return 0.3 + 0.4 * others

    audit = audit_causal(predict, split.test)
    assert audit.max_change == 0.0 and audit.cross_learner_change > 1e-4
    audit.check("a coupled predictor")
