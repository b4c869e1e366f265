"""Deep knowledge tracing: an LSTM over item, skill and response embeddings (the network and its
configuration: `metatutor.models.dkt_net`).

Serving: `DKT.online()` gives a learner's `DKTOnlineState` (`metatutor.models.dkt_serving`): the LSTM
state after their last response, advanced by one LSTM step per new response; it scores the whole bank
from precomputed per-item parts of the head, never the history again.

Long sequences: training uses truncated back-propagation through time over windows of `window` steps
with the LSTM state carried from one window to the next (never restarted); prediction runs each
learner's whole sequence through the LSTM, so no context is lost at any length. The weights that
predict (and are saved) are an exponential moving average of the trained ones (`average_decay`). The
loss of a batch is summed over its responses and divided by the mean batch's count, so that batches of
short learners do not outweigh long ones (`training.response_weighted_bce`). The fit itself is the
sequence models' common one (`sequence_base.SequenceKT`).

Glossary: B learners, T steps, K skills per response, D embedding size, H hidden size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from metatutor.data.responses import Responses
from metatutor.models.base import sigmoid
from metatutor.models.dkt_net import DKTConfig, DKTNet
from metatutor.models.dkt_serving import DKTBank, DKTCell, DKTOnlineState, dkt_bank, dkt_cell
from metatutor.models.sequence_base import Batch, SequenceKT, StepLoss
from metatutor.models.sequences import Encoded, length_batches, make_batch
from metatutor.models.training import response_weighted_bce

__all__ = ["DKT", "DKTBank", "DKTCell", "DKTConfig", "DKTNet", "DKTOnlineState"]


def _detach(state: Any) -> Any:
    (h, c), last = state
    return (h.detach(), c.detach()), last.detach()


class DKT(SequenceKT[DKTNet]):
    """Deep knowledge tracing with Rasch item offsets; see the module docstring."""

    name = "dkt"
    label = "DKT"
    config_class = DKTConfig
    item_skills_optional = True  # models saved before the online state have no item-skill table

    def _build(self) -> DKTNet:
        return DKTNet(self.vocab_.n_items, self.vocab_.n_skills, self.config).to(self.config.device)

    def _batch(self, enc: Encoded, learners: np.ndarray, steps: int = 0) -> Batch:
        batch = make_batch(enc, learners, steps=steps, **self._pads)
        return {k: v.to(self.config.device) for k, v in batch.items()}

    def _planner(self, lengths: np.ndarray) -> Callable[[np.random.Generator], list[np.ndarray]]:
        """Batches of whole learners of similar length, each row (learner, 0, length, 0)."""

        def plan(rng: np.random.Generator) -> list[np.ndarray]:
            return [np.stack([b, np.zeros_like(b), lengths[b], np.zeros_like(b)], axis=1)
                    for b in length_batches(lengths, batch_size=self.batch_size_, rng=rng)]

        return plan

    def _make(self, enc: Encoded, rows: np.ndarray, *, steps: int = 0) -> Batch:
        return self._batch(enc, rows[:, 0], steps)

    def _steps(self, net: DKTNet, batch: Batch, per_batch: float) -> Iterator[StepLoss]:
        """One step per window of `window` steps, the LSTM state carried from one window to the next."""
        cfg, state = self.config, None
        for w0 in range(0, batch["y"].shape[1], cfg.window):
            chunk = {k: v[:, w0 : w0 + cfg.window] for k, v in batch.items()}
            logit, state, _ = net(chunk, state)
            m = chunk["mask"]
            loss = response_weighted_bce(logit[m], chunk["y"][m], per_batch)
            loss = loss + cfg.difficulty_l2 * self._offset_penalty(net, chunk["item"][m])
            yield StepLoss(objective=loss, reported=loss, count=int(m.sum()))
            state = _detach(state)

    @torch.no_grad()
    def _run(self, responses: Responses) -> tuple[np.ndarray, np.ndarray]:
        """(N,) probabilities and (L, H) final states, learners in row order."""
        self.net_.eval()
        enc = self._encode(responses)
        out = np.empty(len(responses))
        last = np.zeros((responses.n_learners, self.config.hidden), dtype=np.float32)
        for learners in length_batches(enc.lengths, batch_size=64, max_tokens=64 * 400):
            batch = self._batch(enc, learners)
            logit, _, hs = self.net_(batch)
            m = batch["mask"]
            out[batch["rows"][m].cpu().numpy()] = sigmoid(logit[m].cpu().numpy().astype(np.float64))
            ends = torch.as_tensor(enc.lengths[learners] - 1)
            last[learners] = hs[torch.arange(len(learners)), ends].cpu().numpy()
        return out, last

    def predict_proba(self, responses: Responses) -> np.ndarray:
        self._check_fitted()
        return self._run(responses)[0]

    def _skill_probabilities(self, responses: Responses) -> np.ndarray:
        _, last = self._run(responses)
        with torch.no_grad():
            logits = self.net_.skill_logits(torch.from_numpy(last).to(self.config.device))
        return sigmoid(logits.cpu().numpy().astype(np.float64))

    def online(self) -> DKTOnlineState:
        """A fresh serving state for one learner (see `DKTOnlineState`)."""
        self._check_fitted()
        return DKTOnlineState(self)

    def cell(self) -> DKTCell:
        """The LSTM step of a serving state (see `dkt_serving.dkt_cell`); computed once per model."""
        return dkt_cell(self)

    def bank(self) -> DKTBank:
        """The per-item parts of the head a serving state scores the bank with; computed once per model."""
        return dkt_bank(self)
