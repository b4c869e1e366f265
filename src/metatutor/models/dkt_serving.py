"""Serving DKT one learner at a time: `DKTOnlineState` holds the LSTM state after a learner's last
response, advanced by one LSTM step per new response (`DKTCell`, the step in numpy with its input
projection tabled); it scores the whole bank from precomputed per-item parts of the head (`DKTBank`,
exact and cheap through `readout.ReluBank`), never the history again. `dkt_cell(model)` and
`dkt_bank(model)` build those parts from a fitted `DKT`'s weights, once per model.

Glossary: S skill sets (banks) or skills (cells), I items, K skills per response, H hidden size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from metatutor.models.base import sigmoid
from metatutor.models.dkt_net import DKTNet
from metatutor.models.readout import ReluBank
from metatutor.models.sequence_base import SequenceKT
from metatutor.models.sequences import candidate_skills
from metatutor.models.training import eval_mode

DKTModel = SequenceKT[DKTNet]  # a fitted `metatutor.models.dkt.DKT`


def dkt_cell(model: DKTModel) -> DKTCell:
    """The LSTM step that `DKTOnlineState.update` takes, with its input projection precomputed per
    (skill, answer); computed once per model."""
    return model.serving_part("cell", lambda: _cell(eval_mode(model.net_), pad=model.vocab_.n_skills + 1))


def dkt_bank(model: DKTModel) -> DKTBank:
    """The per-item parts of the head that `DKTOnlineState.predict()` uses; computed once per model."""
    return model.serving_part("bank", lambda: _bank(eval_mode(model.net_), model.item_skills_,
                                                    n_items=model.vocab_.n_items, hidden=model.config.hidden))


@torch.no_grad()
def _cell(net: DKTNet, *, pad: int) -> DKTCell:
    lstm = dict(net.lstm.named_parameters())
    w_ih = lstm["weight_ih_l0"]
    return DKTCell(
        inter=(net.inter.weight @ w_ih.T).numpy(),
        resp=(net.resp_var.weight @ w_ih.T).numpy(),
        mu=net.difficulty.weight[:, 0].clone().numpy(),
        bias=(lstm["bias_ih_l0"] + lstm["bias_hh_l0"]).numpy(),
        w_hh=lstm["weight_hh_l0"].clone().numpy(),
        pad=pad,
    )


@torch.no_grad()
def _bank(net: DKTNet, item_skills: np.ndarray, *, n_items: int, hidden: int) -> DKTBank:
    first: nn.Linear = net.out.mlp[0]  # type: ignore[assignment]
    last: nn.Linear = net.out.mlp[3]  # type: ignore[assignment]
    sets, group = np.unique(item_skills, axis=0, return_inverse=True)  # items differ within a
    set_skill = torch.as_tensor(sets)  # skill set only by μ_i (in the question q) and β_i
    count = (set_skill != net.out.pad).sum(-1, keepdim=True).clamp(min=1)
    q0 = net.question_at(set_skill, torch.zeros(len(sets), 1))  # the question at μ = 0
    dq = net.question_at(set_skill, torch.ones(len(sets), 1)) - q0  # and its change per unit of μ
    item_weight = first.weight[:, hidden:]
    return DKTBank(
        level=(q0 @ item_weight.T + first.bias).double().numpy(),
        state_weight=first.weight[:, :hidden].clone(),
        readout=net.out.readout(set_skill).sum(1) / count,
        items=ReluBank.build(group.reshape(-1), net.difficulty.weight[:n_items, 0].double().numpy(),
                             (net.item_bias.weight[:n_items, 0] + last.bias).double().numpy(),
                             last.weight[0].double().numpy(), slope=(dq @ item_weight.T).double().numpy()),
    )


@dataclass(frozen=True)
class DKTBank:
    """The head's parts per skill set, so that scoring every item from a state h is exact and cheap: item
    i of set g has the read-out input level_g + W h + μ_i slope_g, so its logit is piecewise linear in μ_i
    and `ReluBank` evaluates it in a few passes over the items instead of one (N, H) product."""

    level: np.ndarray  # (S, H) the first layer's part of each set's question at μ = 0, plus its bias
    state_weight: torch.Tensor  # (H, H) the first layer's part of the state
    readout: torch.Tensor  # (S, H) mean of each skill set's read-out vectors w_s
    items: ReluBank  # each item's set, μ_i, β_i plus the last layer's bias; per set, the change of the
    # first layer's part of the question per unit of μ; the last layer's weights

    def logits(self, h: torch.Tensor) -> np.ndarray:
        """(N,) float32 logits of every item from the state h (H,)."""
        state = (self.state_weight @ h).double().numpy()
        return self.items.logits(self.level + state, (self.readout @ h).double().numpy())


@dataclass(frozen=True)
class DKTCell:
    """One LSTM step of `DKTNet` for one response, in float32 numpy: the input x = mean_s e_(s, y) + μ f_y
    enters the gates only through W_ih x, so W_ih e_(s, y) and W_ih f_y are tabled once and a step is a
    few small vector operations instead of the embedding layers and `nn.LSTM` call (whose dispatch cost
    dominates a single step). Gates in PyTorch's order: input, forget, cell, output."""

    inter: np.ndarray  # (2 (S + 2), 4H) W_ih e_(s, y), row 2 s + y
    resp: np.ndarray  # (2, 4H) W_ih f_y
    mu: np.ndarray  # (I + 1,) μ_i, the padding (unknown) item last
    bias: np.ndarray  # (4H,) b_ih + b_hh
    w_hh: np.ndarray  # (4H, H)
    pad: int  # the padding skill code

    def step(self, h: np.ndarray, c: np.ndarray, item: int, skills: np.ndarray, correct: int) -> tuple[np.ndarray, np.ndarray]:
        """(h, c) after one response from (h, c) (H,) each (zeros before the first response)."""
        y = int(correct)
        real = np.asarray(skills).reshape(-1)
        real = real[real != self.pad]
        mu = self.mu[item] if 0 <= item < len(self.mu) else np.float32(0.0)
        gates = self.bias + mu * self.resp[y] + self.w_hh @ h
        if len(real):
            gates += self.inter[real * 2 + y].sum(0) / np.float32(len(real))
        i, f, g, o = np.split(gates, 4)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)  # float32 in, float32 out
        return sigmoid(o) * np.tanh(c), c


class DKTOnlineState:
    """One learner's serving state for `DKT`: the LSTM state (h, c) after their last response. `update`
    runs one LSTM step; `predict` scores items as the next response from it. Predictions equal the batch
    `predict_proba` of the same history (the LSTM never forgets its start), up to float rounding.
    `to_arrays`/`from_arrays` let a service persist it."""

    def __init__(self, model: DKTModel) -> None:
        self.model, self.net = model, model.net_
        self.lstm: tuple[torch.Tensor, torch.Tensor] | None = None  # (1, 1, H) each; None: no response yet
        self.count = 0

    @property
    def state(self) -> torch.Tensor:
        """(H,) the hidden state that predicts the next response."""
        return self.net.h0 if self.lstm is None else self.lstm[0][0, 0]

    @torch.no_grad()
    def update(self, item: int, skills: np.ndarray, correct: int) -> None:
        """Add one response: model item code, its skill codes (padded, `max_skills_` long), 0/1."""
        cell = dkt_cell(self.model)
        if self.lstm is None:
            h = c = np.zeros(cell.w_hh.shape[1], dtype=np.float32)
        else:
            h, c = self.lstm[0].numpy().reshape(-1), self.lstm[1].numpy().reshape(-1)
        h, c = cell.step(h, c, item, skills, correct)
        self.lstm = (torch.from_numpy(h).view(1, 1, -1), torch.from_numpy(c).view(1, 1, -1))
        self.count += 1

    @torch.no_grad()
    def predict(self, items: np.ndarray | None = None, *, skills: np.ndarray | None = None) -> np.ndarray:
        """P(correct) on each item code in `items` as the next response (default: every known item);
        `skills` (M, K): the items' skill codes, used for items the model has not seen."""
        if items is None:
            return sigmoid(self.predict_logit().astype(np.float64))
        net, model, h = eval_mode(self.net), self.model, self.state
        codes = np.asarray(items)
        skills = candidate_skills(codes, model.item_skills_, model.vocab_, skills)
        logit = net.next_logits(h[None], torch.as_tensor(codes).long()[None], torch.as_tensor(skills)[None])
        return sigmoid(logit[0].double().numpy())

    @torch.no_grad()
    def predict_logit(self) -> np.ndarray:
        """(N,) float32 logits of every known item as the next response."""
        return dkt_bank(self.model).logits(self.state)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The state as plain arrays (for a database or safetensors)."""
        out = {"count": np.array([self.count])}
        if self.lstm is not None:
            out.update(h=self.lstm[0].numpy(), c=self.lstm[1].numpy())
        return out

    @classmethod
    def from_arrays(cls, model: DKTModel, arrays: dict[str, np.ndarray]) -> DKTOnlineState:
        state = cls(model)
        state.count = int(arrays["count"][0])
        if "h" in arrays:
            state.lstm = (torch.as_tensor(arrays["h"]), torch.as_tensor(arrays["c"]))
        return state
