"""Attention knowledge tracing with Rasch item embeddings and distance-decayed attention (AKT family):
the estimator (the network and its configuration: `metatutor.models.attention_net`; serving one
learner at a time: `metatutor.models.attention_serving`).

Long sequences: windows of `window` steps overlapping by half; a position is scored in the window
where it has at least window/2 steps of context (the first window scores all of its positions), in
training and in prediction alike — never independent restarts. The fit is the sequence models'
common one (`sequence_base.SequenceKT`).

Glossary: B windows, T steps, K skills per response, D embedding size, H heads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from metatutor.data.responses import Responses
from metatutor.models.attention_net import AttentionConfig, AttentionNet
from metatutor.models.attention_serving import (
    AttentionOnlineState,
    BankPlan,
    attention_plan,
    bank_plan,
    lagrange_weights,
)
from metatutor.models.base import sigmoid
from metatutor.models.sequence_base import Batch, SequenceKT, StepLoss
from metatutor.models.sequences import Encoded
from metatutor.models.training import response_weighted_bce

__all__ = ["AttentionConfig", "AttentionKT", "AttentionNet", "AttentionOnlineState", "BankPlan", "bank_plan",
           "batches_of", "lagrange_weights", "window_batch", "windows"]


def windows(lengths: np.ndarray, window: int) -> np.ndarray:
    """(W, 4) rows (learner, start, end, score_from): windows overlapping by half; `score_from` is the
    first position (relative to start) that this window scores, so every position is scored once."""
    stride = max(window // 2, 1)
    out = []
    for learner, n in enumerate(lengths):
        start = 0
        out.append((learner, 0, min(window, n), 0))
        while start + window < n:
            start += stride
            out.append((learner, start, min(start + window, n), window - stride))
    return np.asarray(out, dtype=np.int64).reshape(-1, 4)


def window_batch(enc: Encoded, rows: np.ndarray, *, pad_item: int, pad_skill: int) -> dict[str, torch.Tensor]:
    learner, start, end, score_from = rows.T
    lengths = end - start
    t = int(lengths.max())
    pos = np.arange(t)[None, :]
    mask = pos < lengths[:, None]
    index = np.where(mask, enc.starts[learner][:, None] + start[:, None] + pos, 0)
    return {
        "item": torch.from_numpy(np.where(mask, enc.item[index], pad_item).astype(np.int64)),
        "skill": torch.from_numpy(np.where(mask[..., None], enc.skill[index], pad_skill).astype(np.int64)),
        "y": torch.from_numpy(np.where(mask, enc.y[index], 0.0).astype(np.float32)),
        "mask": torch.from_numpy(mask),
        "score": torch.from_numpy(mask & (pos >= score_from[:, None])),
        "rows": torch.from_numpy(np.where(mask, index, -1)),
    }


def batches_of(wins: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Windows grouped by similar length (little padding), batch order shuffled when `rng` is given."""
    lengths = wins[:, 2] - wins[:, 1]
    noise = rng.random(len(wins)) if rng is not None else np.zeros(len(wins))
    order = np.lexsort((noise, -lengths))
    out = [wins[order[i : i + batch_size]] for i in range(0, len(order), batch_size)]
    if rng is not None:
        out = [out[i] for i in rng.permutation(len(out))]
    return out


class AttentionKT(SequenceKT[AttentionNet]):
    """Attention KT with Rasch item embeddings and distance decay; see the module docstring."""

    name = "attn"
    label = "attention"
    config_class = AttentionConfig

    def _build(self) -> AttentionNet:
        return AttentionNet(self.vocab_.n_items, self.vocab_.n_skills, self.config)

    def _planner(self, lengths: np.ndarray) -> Callable[[np.random.Generator], list[np.ndarray]]:
        """Batches of windows of similar length (`windows`, cut once per fit)."""
        wins = windows(lengths, self.config.window)
        return lambda rng: batches_of(wins, self.batch_size_, rng)

    def _make(self, enc: Encoded, rows: np.ndarray, *, steps: int = 0) -> Batch:
        return window_batch(enc, rows, **self._pads)

    def _steps(self, net: AttentionNet, batch: Batch, per_batch: float) -> Iterator[StepLoss]:
        """One step per batch of windows, scoring each position once; the train loss leaves out the penalty."""
        logit = net(batch)
        m = batch["score"]
        loss = response_weighted_bce(logit[m], batch["y"][m], per_batch)
        penalty = self.config.difficulty_l2 * self._offset_penalty(net, batch["item"][m])
        yield StepLoss(objective=loss + penalty, reported=loss, count=int(m.sum()))

    @torch.no_grad()
    def predict_proba(self, responses: Responses) -> np.ndarray:
        self._check_fitted()
        self.net_.eval()
        enc = self._encode(responses)
        out = np.empty(len(responses))
        for rows in batches_of(windows(enc.lengths, self.config.window), 64, None):
            batch = window_batch(enc, rows, **self._pads)
            logit = self.net_(batch)
            m = batch["score"]
            out[batch["rows"][m].numpy()] = sigmoid(logit[m].double().numpy())
        return out

    @torch.no_grad()
    def _skill_probabilities(self, responses: Responses) -> np.ndarray:
        """P(correct) on a typical item (μ = 0, β = 0) of each skill, asked right after the last response."""
        self._check_fitted()
        enc = self._encode(responses)
        n_skills = self.vocab_.n_skills
        out = np.zeros((responses.n_learners, n_skills + 1))
        w = self.config.window
        for learner in range(responses.n_learners):
            lo, hi = int(enc.starts[learner]), int(enc.starts[learner + 1])
            lo = max(lo, hi - (w - 1))
            item = torch.as_tensor(enc.item[lo:hi]).long()
            skill = torch.as_tensor(enc.skill[lo:hi]).long()
            y = torch.as_tensor(enc.y[lo:hi])
            probe_skill = torch.full((n_skills + 1, skill.shape[1]), n_skills + 1, dtype=torch.long)
            probe_skill[:, 0] = torch.arange(n_skills + 1)
            b = n_skills + 1
            batch = {
                "item": torch.cat([item[None].expand(b, -1), torch.full((b, 1), self.vocab_.n_items)], 1),
                "skill": torch.cat([skill[None].expand(b, -1, -1), probe_skill[:, None]], 1),
                "y": torch.cat([y[None].expand(b, -1), torch.zeros(b, 1)], 1),
                "mask": torch.ones(b, hi - lo + 1, dtype=torch.bool),
            }
            out[learner] = sigmoid(self.net_(batch)[:, -1].double().numpy())
        return out

    def online(self) -> AttentionOnlineState:
        """A fresh serving state for one learner (see `AttentionOnlineState`)."""
        self._check_fitted()
        return AttentionOnlineState(self)

    def bank_plan(self) -> BankPlan:
        """How `AttentionOnlineState.predict()` scores the whole bank (see `BankPlan`); computed once per model."""
        return attention_plan(self)
