"""Deep knowledge tracing: an LSTM over item, skill and response embeddings.

A question is embedded Rasch-style, as in AKT: q = mean of its skills' vectors c_s + μ_i · d_s, with a
scalar difficulty offset μ_i per item (unseen items: μ = 0, so they fall back on their skills). The
LSTM reads x_t = mean over skills of e_(s, y_t) + μ_i · f_(y_t). The logit of a response at t is
MLP(h_{t-1}, q_t) + h_{t-1} · w_s (a linear read-out per skill, averaged over the question's skills, as
in the original DKT's one-output-per-skill layer) + β_i, so every response is predicted from the
learner's earlier responses only.

Serving: `DKT.online()` gives a learner's `DKTOnlineState`: the LSTM state after their last response,
advanced by one LSTM step per new response; it scores the whole bank from precomputed per-item parts
of the head (`DKTBank`, exact and cheap through `readout.ReluBank`), never the history again.

Long sequences: training uses truncated back-propagation through time over windows of `window` steps
with the LSTM state carried from one window to the next (never restarted); prediction runs each
learner's whole sequence through the LSTM, so no context is lost at any length. The weights that
predict (and are saved) are an exponential moving average of the trained ones (`average_decay`). The
loss of a batch is summed over its responses and divided by the mean batch's count, so that batches of
short learners do not outweigh long ones (`training.response_weighted_bce`).

Glossary: B learners, T steps, K skills per response, D embedding size, H hidden size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import torch
from torch import nn

from metatutor.data.responses import Responses
from metatutor.models.base import LearnerModel, Vocabulary, sigmoid
from metatutor.models.readout import ReluBank
from metatutor.models.sequences import Encoded, candidate_skills, encode, item_skill_table, length_batches, make_batch
from metatutor.models.training import (
    BestEpoch,
    WeightAverage,
    eval_mode,
    init_item_bias,
    item_offset_optimizer,
    item_offset_penalty,
    response_weighted_bce,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DKTConfig:
    embed: int = 64  # D
    hidden: int = 128  # H
    dropout: float = 0.2
    lr: float = 1e-3
    batch_size: int | None = None  # learners per batch; None: 32, fewer (down to 8) when there are under
    # 40 batches of 32 learners, so that small cohorts of long sequences (statics) still get enough updates
    window: int = 200  # steps per truncated-BPTT window (state carried across windows)
    max_epochs: int = 40
    patience: int = 3  # epochs without a better validation AUC before stopping
    average_decay: float | None = 0.999  # predict with an exponential moving average of the
    # weights (decay per step; None: the weights themselves), see training.WeightAverage
    difficulty_l2: float = 1e-3  # L2 on the item offsets μ and β of the items in a batch
    max_skills: int = 4  # skills kept per response
    item_lr_scale: float = 0.5  # learning-rate factor of the item offsets (they overfit quickly)
    item_prior_count: float = 10.0  # pseudo-answers shrinking the initial item offsets toward 0
    random_state: int | None = 0
    device: str = "cpu"
    max_seconds: float | None = None  # stop training after this long (then keep the best epoch)


class DKTHead(nn.Module):
    """Logit without the item bias: MLP(h, q) + h · mean over the question's skills of w_s.

    The per-skill read-out lets each skill weigh the learner state its own way (the original DKT's
    output layer); on fold 1's validation learners it added 0.003 AUC on assist2009_pid, statics and
    pyKT's assist2015 over the MLP alone.
    """

    def __init__(self, n_skills: int, d: int, h: int, dropout: float) -> None:
        super().__init__()
        self.pad = n_skills + 1
        self.mlp = nn.Sequential(nn.Linear(h + d, h), nn.ReLU(), nn.Dropout(dropout), nn.Linear(h, 1))
        self.readout = nn.Embedding(n_skills + 2, h, padding_idx=self.pad)  # w_s
        nn.init.normal_(self.readout.weight, std=0.01)
        with torch.no_grad():
            self.readout.weight[self.pad].zero_()

    def forward(self, h: torch.Tensor, q: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
        """h (..., H), q (..., D), skill (..., K) -> logits (...). Few operations: the single-learner
        adaptation path calls this in every inner step, where each call's dispatch cost dominates."""
        count = (skill != self.pad).sum(-1).clamp(min=1)  # (...,) real skills
        w = self.readout(skill).sum(-2)  # (..., H): the padding row is zero and gets no gradient
        return self.mlp(torch.cat([h, q], dim=-1)).squeeze(-1) + (h * w).sum(-1) / count


class DKTNet(nn.Module):
    def __init__(self, n_items: int, n_skills: int, cfg: DKTConfig) -> None:
        super().__init__()
        d, h = cfg.embed, cfg.hidden
        self.n_skills = n_skills
        pad = n_skills + 1  # index of the padding skill (zero vector)
        self.skill = nn.Embedding(n_skills + 2, d, padding_idx=pad)  # c_s
        self.skill_var = nn.Embedding(n_skills + 2, d, padding_idx=pad)  # d_s
        self.inter = nn.Embedding(2 * (n_skills + 2), d)  # e_(s, y)
        self.resp_var = nn.Embedding(2, d)  # f_y
        self.difficulty = nn.Embedding(n_items + 1, 1, padding_idx=n_items)  # μ_i; unseen items stay 0
        nn.init.zeros_(self.difficulty.weight)
        self.item_bias = nn.Embedding(n_items + 1, 1, padding_idx=n_items)  # β_i on the output logit
        nn.init.zeros_(self.item_bias.weight)
        self.lstm = nn.LSTM(d, h, batch_first=True)
        self.h0 = nn.Parameter(torch.zeros(h))
        self.drop = nn.Dropout(cfg.dropout)
        self.out = DKTHead(n_skills, d, h, cfg.dropout)

    def question(self, item: torch.Tensor, skill: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Questions q (B, T, D) of items (B, T) with skills (B, T, K), and their offsets μ (B, T, 1)."""
        mu = self.difficulty(item)  # (B, T, 1)
        return self.question_at(skill, mu), mu

    def question_at(self, skill: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """q = mean_s c_s + μ · mean_s d_s: (..., D) from skills (..., K) and offsets μ (..., 1)."""
        count = (skill != self.n_skills + 1).float().sum(-1, keepdim=True).clamp(min=1.0)
        return self.skill(skill).sum(-2) / count + mu * self.skill_var(skill).sum(-2) / count

    def inputs(self, item: torch.Tensor, skill: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Questions q (B, T, D) and LSTM inputs x (B, T, D) = mean_s e_(s, y) + μ_i f_y."""
        q, mu = self.question(item, skill)
        real = (skill != self.n_skills + 1).float().unsqueeze(-1)
        inter = self.inter(skill * 2 + y.long().unsqueeze(-1)) * real  # (B, T, K, D)
        return q, inter.sum(2) / real.sum(2).clamp(min=1.0) + mu * self.resp_var(y.long())

    def forward(self, batch: dict[str, torch.Tensor], state: Any = None) -> tuple[torch.Tensor, Any, torch.Tensor]:
        """Logits (B, T), the state to carry into the next window, and hidden states (B, T, H)."""
        item, skill = batch["item"], batch["skill"]
        q, x = self.inputs(item, skill, batch["y"])
        lstm_state, last_h = (None, None) if state is None else state
        hs, lstm_state = self.lstm(self.drop(x), lstm_state)  # (B, T, H)
        if last_h is None:
            last_h = self.h0.expand(hs.shape[0], 1, -1)
        prev = torch.cat([last_h, hs[:, :-1]], dim=1)  # (B, T, H): state before each step
        logit = self.out(self.drop(prev), q, skill) + self.item_bias(item).squeeze(-1)  # (B, T)
        return logit, (lstm_state, hs[:, -1:]), hs

    def next_logits(self, h: torch.Tensor, item: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
        """(B, Q) logits of items (B, Q) with skills (B, Q, K), each as the next response from states h (B, H)."""
        q, _ = self.question(item, skill)
        return self.out(h[:, None, :].expand(-1, item.shape[1], -1), q, skill) + self.item_bias(item).squeeze(-1)

    def skill_logits(self, last_h: torch.Tensor) -> torch.Tensor:
        """(B, S+1) logits of a typical item (μ = 0) of each skill, from states (B, H)."""
        q = self.skill.weight[: self.n_skills + 1]  # (S+1, D)
        b = last_h.shape[0]
        skill = torch.arange(self.n_skills + 1, device=q.device)[None, :, None].expand(b, -1, 1)  # (B, S+1, 1)
        return self.out(last_h[:, None, :].expand(b, q.shape[0], -1), q[None].expand(b, -1, -1), skill)


def _detach(state: Any) -> Any:
    (h, c), last = state
    return (h.detach(), c.detach()), last.detach()


class DKT(LearnerModel):
    """Deep knowledge tracing with Rasch item offsets; see the module docstring."""

    name = "dkt"
    config_class = DKTConfig

    def _build(self) -> DKTNet:
        return DKTNet(self.vocab_.n_items, self.vocab_.n_skills, self.config).to(self.config.device)

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        cfg = self.config
        if cfg.random_state is not None:
            torch.manual_seed(cfg.random_state)
        rng = np.random.default_rng(cfg.random_state)
        self.vocab_ = Vocabulary.of(train)
        self.max_skills_ = int(min(cfg.max_skills, max(1, train.n_skills_per_response.max(initial=1))))
        net = self._build()  # the weights the optimiser steps
        enc = encode(train, self.vocab_, max_skills=self.max_skills_)
        self.item_skills_ = item_skill_table(enc, self.vocab_)  # so that a serving state can score the bank
        self.__dict__.pop("_bank", None)
        self.__dict__.pop("_cell", None)
        self.batch_size_ = cfg.batch_size or int(np.clip(train.n_learners // 40, 8, 32))
        pads = {"pad_item": self.vocab_.n_items, "pad_skill": self.vocab_.n_skills + 1}
        init_item_bias(net, enc, self.vocab_.n_items, cfg.item_prior_count)
        opt = item_offset_optimizer(net, lr=cfg.lr, item_lr_scale=cfg.item_lr_scale)
        average = WeightAverage(net, cfg.average_decay)
        self.net_ = average.module  # the weights that predict (and are kept)
        stopper = BestEpoch(self.net_, valid, self.predict_proba, patience=cfg.patience,
                            max_seconds=cfg.max_seconds, name="DKT")
        self.history_ = stopper.history
        for _ in range(cfg.max_epochs):
            net.train()
            total, count = 0.0, 0
            batches = length_batches(enc.lengths, batch_size=self.batch_size_, rng=rng)
            per_batch = float(enc.lengths.sum()) / len(batches)  # responses in a mean batch
            for learners in batches:
                batch = {k: v.to(cfg.device) for k, v in make_batch(enc, learners, **pads).items()}
                state = None
                for w0 in range(0, batch["y"].shape[1], cfg.window):
                    chunk = {k: v[:, w0 : w0 + cfg.window] for k, v in batch.items()}
                    logit, state, _ = net(chunk, state)
                    m = chunk["mask"]
                    loss = response_weighted_bce(logit[m], chunk["y"][m], per_batch)
                    loss = loss + cfg.difficulty_l2 * item_offset_penalty(net, chunk["item"][m])
                    opt.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                    opt.step()
                    average.update(net)
                    state = _detach(state)
                    total += float(loss.detach()) * per_batch
                    count += int(m.sum())
            if stopper.end_epoch(total / max(count, 1)):
                break
        stopper.restore()
        return self

    @torch.no_grad()
    def _run(self, responses: Responses) -> tuple[np.ndarray, np.ndarray]:
        """(N,) probabilities and (L, H) final states, learners in row order."""
        self.net_.eval()
        enc: Encoded = encode(responses, self.vocab_, max_skills=self.max_skills_)
        out = np.empty(len(responses))
        last = np.zeros((responses.n_learners, self.config.hidden), dtype=np.float32)
        pads = {"pad_item": self.vocab_.n_items, "pad_skill": self.vocab_.n_skills + 1}
        for learners in length_batches(enc.lengths, batch_size=64, max_tokens=64 * 400):
            batch = {k: v.to(self.config.device) for k, v in make_batch(enc, learners, **pads).items()}
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

    @torch.no_grad()
    def cell(self) -> DKTCell:
        """The LSTM step that `DKTOnlineState.update` takes, with its input projection precomputed per
        (skill, answer); computed once per model."""
        self._check_fitted()
        if "_cell" not in self.__dict__:
            net = eval_mode(self.net_)
            lstm = dict(net.lstm.named_parameters())
            w_ih = lstm["weight_ih_l0"]
            self._cell = DKTCell(
                inter=(net.inter.weight @ w_ih.T).numpy(),
                resp=(net.resp_var.weight @ w_ih.T).numpy(),
                mu=net.difficulty.weight[:, 0].clone().numpy(),
                bias=(lstm["bias_ih_l0"] + lstm["bias_hh_l0"]).numpy(),
                w_hh=lstm["weight_hh_l0"].clone().numpy(),
                pad=self.vocab_.n_skills + 1,
            )
        return self._cell

    @torch.no_grad()
    def bank(self) -> DKTBank:
        """The per-item parts of the head that `DKTOnlineState.predict()` uses; computed once per model."""
        self._check_fitted()
        if "_bank" not in self.__dict__:
            net = eval_mode(self.net_)
            first: nn.Linear = net.out.mlp[0]  # type: ignore[assignment]
            last: nn.Linear = net.out.mlp[3]  # type: ignore[assignment]
            hidden = self.config.hidden
            sets, group = np.unique(self.item_skills_, axis=0, return_inverse=True)  # items differ within a
            set_skill = torch.as_tensor(sets)  # skill set only by μ_i (in the question q) and β_i
            count = (set_skill != net.out.pad).sum(-1, keepdim=True).clamp(min=1)
            q0 = net.question_at(set_skill, torch.zeros(len(sets), 1))  # the question at μ = 0
            dq = net.question_at(set_skill, torch.ones(len(sets), 1)) - q0  # and its change per unit of μ
            item_weight = first.weight[:, hidden:]
            n = self.vocab_.n_items
            self._bank = DKTBank(
                level=(q0 @ item_weight.T + first.bias).double().numpy(),
                state_weight=first.weight[:, :hidden].clone(),
                readout=net.out.readout(set_skill).sum(1) / count,
                items=ReluBank.build(group.reshape(-1), net.difficulty.weight[:n, 0].double().numpy(),
                                     (net.item_bias.weight[:n, 0] + last.bias).double().numpy(),
                                     last.weight[0].double().numpy(), slope=(dq @ item_weight.T).double().numpy()),
            )
        return self._bank

    def _get_arrays(self) -> dict[str, np.ndarray]:
        arrays = {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        return {**arrays, "__item_skills": self.item_skills_}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.__dict__.pop("_bank", None)
        self.__dict__.pop("_cell", None)
        if "__item_skills" in arrays:  # absent from models saved before the online state
            self.item_skills_ = arrays["__item_skills"]
        self.net_ = self._build()
        self.net_.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays.items() if k != "__item_skills"})
        self.net_.eval()

    def _get_extra(self) -> dict[str, Any]:
        return {"max_skills": self.max_skills_}

    def _set_extra(self, extra: dict[str, Any]) -> None:
        self.max_skills_ = int(extra["max_skills"])


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

    def __init__(self, model: DKT) -> None:
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
        cell = self.model.cell()
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
        return self.model.bank().logits(self.state)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The state as plain arrays (for a database or safetensors)."""
        out = {"count": np.array([self.count])}
        if self.lstm is not None:
            out.update(h=self.lstm[0].numpy(), c=self.lstm[1].numpy())
        return out

    @classmethod
    def from_arrays(cls, model: DKT, arrays: dict[str, np.ndarray]) -> DKTOnlineState:
        state = cls(model)
        state.count = int(arrays["count"][0])
        if "h" in arrays:
            state.lstm = (torch.as_tensor(arrays["h"]), torch.as_tensor(arrays["c"]))
        return state
