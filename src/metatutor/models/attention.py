"""Attention knowledge tracing with Rasch item embeddings and distance-decayed attention (AKT family).

Question at step t (as in AKT): x_t = mean_s c_s + μ_i · mean_s d_s, one scalar difficulty offset μ_i
per item on top of its skills' vectors, so rare problems generalise through their skills. Interaction:
y_t = mean_s e_(s, r_t) + μ_i · f_(r_t), contextualised by a knowledge encoder (attention of each
interaction on itself and the earlier ones). Each retriever layer lets step t attend to the interactions of
STRICTLY EARLIER steps τ < t (keys x_τ, values y_τ) or to a learned "nothing yet" slot, with scores

    q_t · k_τ / √d_h  -  ρ_h · (t - τ)              (ρ_h ≥ 0 learned per head: forgetting)

so recent answers weigh more. Layer 1 queries with x_t, later layers with the previous layer's output.
P(correct at t) = σ(MLP(h_t, x_t) + β_i). Keys and values never depend on the query stream and an
encoded interaction never changes once computed, which is what makes a cheap online state possible.

Long sequences: windows of `window` steps overlapping by half; a position is scored in the window
where it has at least window/2 steps of context (the first window scores all of its positions), in
training and in prediction alike — never independent restarts.

Glossary: B windows, T steps, K skills per response, D embedding size, H heads.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Self, cast

import numpy as np
import torch
from torch import nn

from metatutor.data.responses import Responses
from metatutor.models.base import LearnerModel, Vocabulary, sigmoid
from metatutor.models.readout import ReluBank
from metatutor.models.sequences import Encoded, candidate_skills, encode, item_skill_table
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
class AttentionConfig:
    embed: int = 64  # D
    heads: int = 4  # H
    layers: int = 2  # retriever layers (queries: the question at t; keys: questions; values: interactions)
    encoder_layers: int = 0  # knowledge-encoder layers over the interactions (τ ≤ t); 1 gave +0.0004 valid AUC on assist2009_pid fold 1 at 1.7x the time
    dropout: float = 0.2
    lr: float = 1e-3
    batch_size: int | None = None  # windows per batch; None: 32, down to 8 for small cohorts
    window: int = 200  # steps per window; windows overlap by half
    max_epochs: int = 30
    patience: int = 3
    average_decay: float | None = 0.999  # predict with a moving average of the weights (see DKTConfig); +0.0017 / +0.001 valid AUC, assist2009_pid / statics fold 1
    difficulty_l2: float = 1e-2  # L2 on the item offsets μ and β of the items in a batch
    max_skills: int = 4
    item_lr_scale: float = 0.2
    item_prior_count: float = 10.0
    random_state: int | None = 0
    max_seconds: float | None = None


class DecayAttention(nn.Module):
    """Multi-head attention of each query step on strictly earlier key steps, plus a learned null slot."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.null_k = nn.Parameter(torch.zeros(d))
        self.null_v = nn.Parameter(torch.zeros(d))
        self.rate = nn.Parameter(torch.linspace(-4.0, 0.0, heads))  # ρ_h = softplus(rate)
        self.drop = nn.Dropout(dropout)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, key_mask: torch.Tensor,
                include_self: bool = False, query_pos: torch.Tensor | None = None,
                key_pos: torch.Tensor | None = None) -> torch.Tensor:
        """query (B, Tq, D), key/value (B or 1, Tk, D), key_mask (B or 1, Tk) -> (B, Tq, D).

        A query at position t attends to keys at positions τ < t (τ ≤ t with `include_self`); positions
        default to 0..T-1 for both (self-attention over one sequence)."""
        b, tq, d = query.shape
        bk, tk, _ = key.shape
        q = self.q(query).view(b, tq, self.h, self.dh).transpose(1, 2)  # (B, H, Tq, dh)
        k = self.k(key).view(bk, tk, self.h, self.dh).transpose(1, 2)  # (Bk, H, Tk, dh)
        v = self.v(value).view(bk, tk, self.h, self.dh).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.dh)  # (B, H, Tq, Tk)
        qp = torch.arange(tq, device=query.device) if query_pos is None else query_pos
        kp = torch.arange(tk, device=query.device) if key_pos is None else key_pos
        dist = (qp[:, None] - kp[None, :]).float()  # t - τ
        scores = scores - nn.functional.softplus(self.rate)[None, :, None, None] * dist
        allowed = ((dist >= 0) if include_self else (dist > 0))[None, None] & key_mask[:, None, None, :]
        scores = scores.masked_fill(~allowed, float("-inf"))
        null_k = self.k(self.null_k).view(self.h, self.dh)
        null_score = (q * null_k[None, :, None, :]).sum(-1, keepdim=True) / math.sqrt(self.dh)  # (B, H, Tq, 1)
        weights = self.drop(torch.softmax(torch.cat([null_score, scores], dim=-1), dim=-1))
        null_v = self.v(self.null_v).view(1, self.h, 1, self.dh)
        out = weights[..., :1] * null_v + weights[..., 1:] @ v  # (B, H, Tq, dh)
        return self.o(out.transpose(1, 2).reshape(b, tq, d))


class Block(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attn = DecayAttention(d, heads, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, key: torch.Tensor, value: torch.Tensor, key_mask: torch.Tensor,
                include_self: bool = False, query_pos: torch.Tensor | None = None,
                key_pos: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(h + self.drop(self.attn(h, key, value, key_mask, include_self, query_pos, key_pos)))
        return self.norm2(h + self.drop(self.ff(h)))


class AttentionNet(nn.Module):
    def __init__(self, n_items: int, n_skills: int, cfg: AttentionConfig) -> None:
        super().__init__()
        d = cfg.embed
        self.n_skills = n_skills
        pad = n_skills + 1
        self.skill = nn.Embedding(n_skills + 2, d, padding_idx=pad)  # c_s
        self.skill_var = nn.Embedding(n_skills + 2, d, padding_idx=pad)  # d_s
        self.inter = nn.Embedding(2 * (n_skills + 2), d)  # e_(s, r)
        self.resp_var = nn.Embedding(2, d)  # f_r
        self.difficulty = nn.Embedding(n_items + 1, 1, padding_idx=n_items)  # μ_i
        nn.init.zeros_(self.difficulty.weight)
        self.item_bias = nn.Embedding(n_items + 1, 1, padding_idx=n_items)  # β_i
        nn.init.zeros_(self.item_bias.weight)
        self.encoders = nn.ModuleList(Block(d, cfg.heads, cfg.dropout) for _ in range(cfg.encoder_layers))
        self.blocks = nn.ModuleList(Block(d, cfg.heads, cfg.dropout) for _ in range(cfg.layers))
        self.out = nn.Sequential(nn.Linear(2 * d, d), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(d, 1))

    def question(self, skill: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """x = mean_s c_s + μ · mean_s d_s: (..., D) from skills (..., K) and offsets μ (..., 1)."""
        count = (skill != self.n_skills + 1).float().sum(-1, keepdim=True).clamp(min=1.0)
        return self.skill(skill).sum(-2) / count + mu * self.skill_var(skill).sum(-2) / count

    def embed(self, item: torch.Tensor, skill: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Question x (B, T, D) and interaction y (B, T, D) embeddings."""
        real = (skill != self.n_skills + 1).float().unsqueeze(-1)  # (B, T, K, 1)
        count = real.sum(2).clamp(min=1.0)
        mu = self.difficulty(item)  # (B, T, 1)
        x = self.question(skill, mu)
        yl = y.long()
        inter = (self.inter(skill * 2 + yl.unsqueeze(-1)) * real).sum(2) / count + mu * self.resp_var(yl)
        return x, inter

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, T) logits; position t sees only the answers of positions < t."""
        x, inter = self.embed(batch["item"], batch["skill"], batch["y"])
        for encoder in self.encoders:  # knowledge encoder: each interaction in the light of the earlier ones
            inter = encoder(inter, inter, inter, batch["mask"], include_self=True)
        h = x
        for block in self.blocks:
            h = block(h, x, inter, batch["mask"])
        return (self.out(torch.cat([h, x], dim=-1)) + self.item_bias(batch["item"])).squeeze(-1)


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


class AttentionKT(LearnerModel):
    """Attention KT with Rasch item embeddings and distance decay; see the module docstring."""

    name = "attn"
    config_class = AttentionConfig

    def _build(self) -> AttentionNet:
        return AttentionNet(self.vocab_.n_items, self.vocab_.n_skills, self.config)

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        cfg = self.config
        if cfg.random_state is not None:
            torch.manual_seed(cfg.random_state)
        rng = np.random.default_rng(cfg.random_state)
        self.__dict__.pop("_plan", None)
        self.vocab_ = Vocabulary.of(train)
        self.max_skills_ = int(min(cfg.max_skills, max(1, train.n_skills_per_response.max(initial=1))))
        net = self._build()  # the weights the optimiser steps
        enc = encode(train, self.vocab_, max_skills=self.max_skills_)
        batch_size = cfg.batch_size or int(np.clip(train.n_learners // 40, 8, 32))
        self.item_skills_ = item_skill_table(enc, self.vocab_)  # so that a serving state can score the bank
        init_item_bias(net, enc, self.vocab_.n_items, cfg.item_prior_count)
        opt = item_offset_optimizer(net, lr=cfg.lr, item_lr_scale=cfg.item_lr_scale)
        average = WeightAverage(net, cfg.average_decay)
        self.net_ = average.module  # the weights that predict (and are kept)
        wins = windows(enc.lengths, cfg.window)
        pads = {"pad_item": self.vocab_.n_items, "pad_skill": self.vocab_.n_skills + 1}
        stopper = BestEpoch(self.net_, valid, self.predict_proba, patience=cfg.patience,
                            max_seconds=cfg.max_seconds, name="attention")
        self.history_ = stopper.history
        for _ in range(cfg.max_epochs):
            net.train()
            total, count = 0.0, 0
            batches = batches_of(wins, batch_size, rng)
            per_batch = float(enc.lengths.sum()) / len(batches)  # scored positions in a mean batch
            for rows in batches:
                batch = window_batch(enc, rows, **pads)
                logit = net(batch)
                m = batch["score"]
                loss = response_weighted_bce(logit[m], batch["y"][m], per_batch)
                opt.zero_grad()
                (loss + cfg.difficulty_l2 * item_offset_penalty(net, batch["item"][m])).backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                average.update(net)
                total += float(loss.detach()) * per_batch
                count += int(m.sum())
            if stopper.end_epoch(total / max(count, 1)):
                break
        stopper.restore()
        return self

    @torch.no_grad()
    def predict_proba(self, responses: Responses) -> np.ndarray:
        self._check_fitted()
        self.net_.eval()
        enc = encode(responses, self.vocab_, max_skills=self.max_skills_)
        out = np.empty(len(responses))
        pads = {"pad_item": self.vocab_.n_items, "pad_skill": self.vocab_.n_skills + 1}
        for rows in batches_of(windows(enc.lengths, self.config.window), 64, None):
            batch = window_batch(enc, rows, **pads)
            logit = self.net_(batch)
            m = batch["score"]
            out[batch["rows"][m].numpy()] = sigmoid(logit[m].double().numpy())
        return out

    @torch.no_grad()
    def _skill_probabilities(self, responses: Responses) -> np.ndarray:
        """P(correct) on a typical item (μ = 0, β = 0) of each skill, asked right after the last response."""
        self._check_fitted()
        enc = encode(responses, self.vocab_, max_skills=self.max_skills_)
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

    def online(self) -> OnlineState:
        """A fresh serving state for one learner (see `OnlineState`)."""
        self._check_fitted()
        return OnlineState(self)

    @torch.no_grad()
    @torch.no_grad()
    def bank_plan(self) -> BankPlan:
        """How `OnlineState.predict()` scores the whole bank (see `BankPlan`); computed once per model."""
        self._check_fitted()
        if "_plan" not in self.__dict__:
            self._plan = bank_plan(self.net_.eval(), self.item_skills_)
        return self._plan

    def _get_arrays(self) -> dict[str, np.ndarray]:
        arrays = {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        return {**arrays, "__item_skills": self.item_skills_}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.__dict__.pop("_plan", None)
        self.item_skills_ = arrays["__item_skills"]
        self.net_ = self._build()
        self.net_.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays.items() if k != "__item_skills"})
        self.net_.eval()

    def _get_extra(self) -> dict[str, Any]:
        return {"max_skills": self.max_skills_}

    def _set_extra(self, extra: dict[str, Any]) -> None:
        self.max_skills_ = int(extra["max_skills"])


@dataclass(frozen=True)
class BankPlan:
    """How a serving state scores the whole bank in a few hundred questions instead of one per item.

    Items that share a skill set differ only by their offset μ_i (in the question x) and their bias β_i
    (added to the logit). So each skill set is run through the attention layers at a few offsets only,
    its nodes (Chebyshev points over the set's range of μ, or the set's own offsets when it has no
    more distinct ones than that), and each item's input to the read-out's ReLU is interpolated from its
    set's nodes (Lagrange weights); the ReLU and the last layer run per item. That input is exact in x
    (linear in μ, which the weights reproduce) and smooth in μ through the attention layers, and trained
    offsets span a narrow range, so the error is small; it is measured in tests and by
    benchmarks/serving_latency.py. `OnlineState.predict(exact=True)` runs every item.

    A set with at most two nodes (on trained models, nearly all) interpolates along a line, so its items'
    logits are piecewise linear in their weight on the second node: `linear` scores them without an
    (N, D) pass (see `readout.ReluBank`), with the same values. The other sets' items go through the
    sparse N x M matrix of weights (CSR form over `rest`)."""

    x: torch.Tensor  # (M, D) the question at each node
    linear: ReluBank  # items of sets with at most two nodes: group = set, u = weight on its second node
    left: np.ndarray  # (G,) each such set's first node
    right: np.ndarray  # (G,) and its second (the first again for a set with one node)
    rest: torch.Tensor  # (R,) the other items
    node: torch.Tensor  # (nnz,) their node columns, item by item
    offsets: torch.Tensor  # (R,) where each item's columns start
    weight: torch.Tensor  # (nnz,) Lagrange weights
    bias: torch.Tensor  # (R,) their β_i

    def combine(self, at_nodes: torch.Tensor) -> torch.Tensor:
        """(R, D) each of the other items' weighted sum of node rows (M, D)."""
        return nn.functional.embedding_bag(self.node, at_nodes, self.offsets, mode="sum",
                                           per_sample_weights=self.weight)


def lagrange_weights(at: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """(P, G) weights w with Σ_j w_j f(nodes_j) = the polynomial through the nodes, at each point."""
    diff = at[:, None, None] - nodes[None, None, :]  # (P, 1, G): at - t_m
    gap = nodes[:, None] - nodes[None, :]  # (G, G): t_j - t_m
    eye = np.eye(len(nodes), dtype=bool)
    terms = np.where(eye[None], 1.0, diff / np.where(eye, 1.0, gap)[None])  # (P, G, G) over m ≠ j
    return np.asarray(terms.prod(axis=2))


@torch.no_grad()
def bank_plan(net: AttentionNet, item_skills: np.ndarray, nodes: int = 2, spacing: float = 0.1) -> BankPlan:
    """The `BankPlan` of a trained network; `item_skills` (N, K) the skills of each item code. Each skill
    set gets at least `nodes` nodes, and more where its offsets span a wider range, so that neighbouring
    nodes lie at most about `spacing` apart."""
    if nodes < 1 or spacing <= 0:
        raise ValueError("a bank plan needs at least one node per skill set and a positive spacing")
    n = len(item_skills)
    mu = net.difficulty.weight[:n, 0].double().numpy()
    sets, group = np.unique(item_skills, axis=0, return_inverse=True)
    group = group.reshape(-1)
    node_skills: list[np.ndarray] = []
    node_mu: list[np.ndarray] = []
    rows, cols, vals = [], [], []  # the other sets' items: Lagrange weights
    line_items: list[np.ndarray] = []  # sets with at most two nodes: their items, set, u, and nodes
    line_group: list[np.ndarray] = []
    line_u: list[np.ndarray] = []
    left: list[int] = []
    right: list[int] = []
    first = 0
    for g in range(len(sets)):
        members = np.flatnonzero(group == g)
        distinct = np.unique(mu[members])
        lo, hi = distinct[0], distinct[-1]
        size = max(nodes, int(np.ceil((hi - lo) / spacing)) + 1)
        if len(distinct) <= size:  # evaluate the set's own offsets: exact
            at = distinct
            w = (mu[members][:, None] == at[None]).astype(float)
        else:
            at = (lo + hi) / 2 + (hi - lo) / 2 * np.cos((2 * np.arange(size) + 1) * np.pi / (2 * size))
            w = lagrange_weights(mu[members], at)
        if len(at) <= 2:
            line_items.append(members)
            line_group.append(np.full(len(members), len(left)))
            line_u.append(w[:, -1] if len(at) == 2 else np.zeros(len(members)))
            left.append(first)
            right.append(first + len(at) - 1)
        else:
            r, c = np.nonzero(w)
            rows.append(members[r])
            cols.append(first + c)
            vals.append(w[r, c])
        node_mu.append(at)
        node_skills.append(np.repeat(sets[g][None], len(at), axis=0))
        first += len(at)
    skills = torch.as_tensor(np.concatenate(node_skills)).long()
    x = net.question(skills, torch.as_tensor(np.concatenate(node_mu), dtype=torch.float32)[:, None])
    last: nn.Linear = net.out[3]  # type: ignore[assignment]
    beta = (net.item_bias.weight[:n, 0] + last.bias).double().numpy()
    items, line, u = _cat(line_items, np.int64), _cat(line_group, np.int64), _cat(line_u, np.float64)
    linear = ReluBank.build(line, u, beta[items], last.weight[0].double().numpy(), n_groups=len(left), codes=items, size=n)
    row, col, val = _cat(rows, np.int64), _cat(cols, np.int64), _cat(vals, np.float64)
    rest = np.unique(row)
    order = np.argsort(row, kind="stable")
    offsets = np.searchsorted(row[order], rest)
    return BankPlan(x.detach(), linear, np.array(left, dtype=np.int64), np.array(right, dtype=np.int64),
                    torch.as_tensor(rest), torch.as_tensor(col[order]), torch.as_tensor(offsets),
                    torch.as_tensor(val[order], dtype=torch.float32), torch.as_tensor(beta[rest], dtype=torch.float32))


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """The parts end to end (an empty array of `dtype` when there are none)."""
    return np.concatenate([*parts, np.zeros(0, dtype=dtype)])


class _Window:
    """One retriever layer's projected keys or values, (H, 1 + n, dh): a fixed first row (the null slot)
    and the last `limit` steps, appended one at a time without copying the window. Rows live in a buffer
    twice the window's length; the null slot sits just before the window's oldest step, and the window
    moves to the buffer's front only when the buffer's end is reached."""

    def __init__(self, rows: torch.Tensor, limit: int) -> None:  # rows (H, 1 + n, dh), the null slot first
        n = min(rows.shape[1] - 1, limit)
        self.limit, self.null = limit, rows[:, :1].clone()
        self.buffer = torch.empty(rows.shape[0], 2 * limit + 1, rows.shape[2])
        self.buffer[:, : n + 1] = torch.cat([self.null, rows[:, rows.shape[1] - n :]], 1)
        self.start, self.end = 1, 1 + n  # the window's steps: buffer[:, start:end]

    def append(self, row: torch.Tensor) -> None:  # row (H, 1, dh)
        if self.end == self.buffer.shape[1]:
            n = self.end - self.start
            self.buffer[:, : n + 1] = self.buffer[:, self.start - 1 : self.end].clone()
            self.start, self.end = 1, 1 + n
        self.buffer[:, self.end : self.end + 1] = row
        self.end += 1
        if self.end - self.start > self.limit:
            self.start += 1
            self.buffer[:, self.start - 1 : self.start] = self.null

    def view(self) -> torch.Tensor:
        """(H, 1 + n, dh) the null slot, then the window's steps, oldest first."""
        return self.buffer[:, self.start - 1 : self.end]


class OnlineState:
    """One learner's serving state: the encoded last `window - 1` steps (keys, values and the inputs of
    each knowledge-encoder layer) and, per retriever layer, their projections per head. `update` costs
    one attention row per knowledge-encoder layer and one projection per retriever layer; `predict`
    scores any set of items (default: the whole bank, through its `BankPlan`) against the cached steps,
    all as the next response — never the whole history again.

    For sequences shorter than the window `predict(items)` gives exactly the batch predictions of
    `predict_proba`; beyond, it keeps the last window - 1 steps (batch prediction keeps between window/2
    and window - 1). `to_arrays`/`from_arrays` let a service persist it.
    """

    def __init__(self, model: AttentionKT, plan: BankPlan | None = None) -> None:
        self.model, self.net, self.plan = model, model.net_, plan  # plan None: the model's own
        self.blocks = cast(list[Block], list(self.net.blocks))
        d = model.config.embed
        self.keys = torch.zeros(0, d)  # x_τ
        self.layers = [torch.zeros(0, d) for _ in range(len(self.net.encoders) + 1)]  # last one: values
        self.count = 0  # responses so far
        # per retriever layer: keys and values projected, (H, 1 + n, dh) each, the null slot first
        self._proj: list[tuple[_Window, _Window]] | None = None

    @torch.no_grad()
    def update(self, item: int, skills: np.ndarray, correct: int) -> None:
        """Add one response: model item code, its skill codes (padded, `max_skills_` long), 0/1."""
        net, limit = eval_mode(self.net), self.model.config.window - 1
        x, inter = net.embed(torch.tensor([[item]]), torch.as_tensor(skills).long().view(1, 1, -1),
                             torch.tensor([[float(correct)]]))
        positions = torch.arange(self.count - len(self.keys), self.count + 1)
        new = inter[0]
        for i, encoder in enumerate(net.encoders):
            cache = torch.cat([self.layers[i], new])
            out = encoder(new[None], cache[None], cache[None], torch.ones(1, len(cache), dtype=torch.bool), True,
                          positions[-1:], positions)
            self.layers[i] = cache[-limit:]
            new = out[0]
        self.layers[-1] = torch.cat([self.layers[-1], new])[-limit:]
        self.keys = torch.cat([self.keys, x[0]])[-limit:]
        self.count += 1
        if self._proj is not None:
            for (k, v), (nk, nv) in zip(self._proj, self._project(x[0], new), strict=True):
                k.append(nk)
                v.append(nv)

    def _project(self, keys: torch.Tensor, values: torch.Tensor, null: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each retriever layer's projections of steps (n, D): keys and values (H, n, dh) each, preceded
        by the layer's null slot with `null`."""
        out = []
        for block in self.blocks:
            a = block.attn
            if null:
                keys, values = torch.cat([a.null_k[None], keys]), torch.cat([a.null_v[None], values])
            out.append((a.k(keys).view(-1, a.h, a.dh).transpose(0, 1), a.v(values).view(-1, a.h, a.dh).transpose(0, 1)))
            if null:
                keys, values = keys[1:], values[1:]
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The state as plain arrays (for a database or safetensors)."""
        out = {"keys": self.keys.numpy(), "count": np.array([self.count])}
        out.update({f"layer{i}": t.numpy() for i, t in enumerate(self.layers)})
        return out

    @classmethod
    def from_arrays(cls, model: AttentionKT, arrays: dict[str, np.ndarray]) -> OnlineState:
        state = cls(model)
        state.keys = torch.as_tensor(arrays["keys"])
        state.layers = [torch.as_tensor(arrays[f"layer{i}"]) for i in range(len(state.layers))]
        state.count = int(arrays["count"][0])
        return state

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(M,) logits, before the item bias β, of questions x (M, D) asked as the next response."""
        return self.net.out[1:](self.hidden(x)).view(-1)

    @torch.no_grad()
    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """(M, D) the read-out's first layer (before its ReLU) for questions x (M, D) asked as the next
        response: the retriever layers' attention on the cached steps, all M in one product per layer."""
        net = eval_mode(self.net)
        if self._proj is None:
            limit = self.model.config.window - 1
            self._proj = [(_Window(k, limit), _Window(v, limit))
                          for k, v in self._project(self.keys, self.layers[-1], null=True)]
        m, n = len(x), len(self.keys)
        dist = torch.arange(n, 0, -1, dtype=torch.float32)  # t - τ of the cached steps, oldest first
        h = x
        for block, (keys, values) in zip(self.blocks, self._proj, strict=True):
            a, k, v = block.attn, keys.view().transpose(1, 2), values.view()
            q = a.q(h).view(m, a.h, a.dh).transpose(0, 1)  # (H, M, dh)
            decay = torch.cat([torch.zeros(a.h, 1, 1), nn.functional.softplus(a.rate)[:, None, None] * dist], 2)
            # scores q·k/√dh - ρ_h (t - τ), the null slot first (no decay): (H, M, 1 + n)
            scores = torch.baddbmm(decay.expand(-1, m, -1), q, k, beta=-1.0, alpha=1.0 / math.sqrt(a.dh))
            out = torch.bmm(torch.softmax(scores, dim=-1), v)  # (H, M, dh)
            h = block.norm1(h + a.o(out.transpose(0, 1).reshape(m, -1)))
            h = block.norm2(h + block.ff(h))
        first: nn.Linear = net.out[0]  # type: ignore[assignment]
        return first(torch.cat([h, x], dim=-1))

    @torch.no_grad()
    def predict(self, items: np.ndarray | None = None, *, exact: bool = False,
                skills: np.ndarray | None = None) -> np.ndarray:
        """P(correct) on each item code in `items` as the next response. Default: every known item,
        interpolated through the model's `BankPlan` (`exact=True`: each item run through the network).
        `skills` (M, K): the skill codes of the items, for items the model has not seen (a known
        item's are the model's own)."""
        if items is None and not exact:
            return sigmoid(self.predict_logit().astype(np.float64))
        return self._exact(items, skills)

    @torch.no_grad()
    def predict_logit(self) -> np.ndarray:
        """(N,) float32 logits of every known item as the next response, through the `BankPlan`."""
        net = eval_mode(self.net)
        plan = self.plan or self.model.bank_plan()
        at_nodes = self.hidden(plan.x)  # (M, D) the read-out's input at each node, before its ReLU
        nodes = at_nodes.double().numpy()
        left = nodes[plan.left]
        out = plan.linear.logits(left, slope=nodes[plan.right] - left)
        if len(plan.rest):
            last: nn.Linear = net.out[3]  # type: ignore[assignment]
            hidden = plan.combine(at_nodes).clamp_(min=0.0)  # ReLU; dropout is off
            out[plan.rest.numpy()] = torch.addmv(plan.bias, hidden, last.weight[0]).numpy()
        return out

    def _exact(self, items: np.ndarray | None, given: np.ndarray | None = None) -> np.ndarray:
        net, model = eval_mode(self.net), self.model
        codes = np.arange(model.vocab_.n_items) if items is None else np.asarray(items)
        skills = candidate_skills(codes, model.item_skills_, model.vocab_, given)
        item = torch.as_tensor(codes).long()
        x = net.question(torch.as_tensor(skills), net.difficulty(item))
        return sigmoid((self.logits(x) + net.item_bias(item).view(-1)).double().numpy())
