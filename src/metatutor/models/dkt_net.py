"""The DKT network: an LSTM over item, skill and response embeddings, and its configuration.

A question is embedded Rasch-style, as in AKT: q = mean of its skills' vectors c_s + μ_i · d_s, with a
scalar difficulty offset μ_i per item (unseen items: μ = 0, so they fall back on their skills). The
LSTM reads x_t = mean over skills of e_(s, y_t) + μ_i · f_(y_t). The logit of a response at t is
MLP(h_{t-1}, q_t) + h_{t-1} · w_s (a linear read-out per skill, averaged over the question's skills, as
in the original DKT's one-output-per-skill layer) + β_i, so every response is predicted from the
learner's earlier responses only. The estimator is `metatutor.models.dkt.DKT`.

Glossary: B learners, T steps, K skills per response, D embedding size, H hidden size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


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
    output layer); chosen on validation learners (docs/methods.md, DKT).
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
