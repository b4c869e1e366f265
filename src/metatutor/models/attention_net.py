"""The attention network (AKT family): Rasch item embeddings and distance-decayed attention, and its
configuration.

Question at step t (as in AKT): x_t = mean_s c_s + μ_i · mean_s d_s, one scalar difficulty offset μ_i
per item on top of its skills' vectors, so rare problems generalise through their skills. Interaction:
y_t = mean_s e_(s, r_t) + μ_i · f_(r_t), contextualised by a knowledge encoder (attention of each
interaction on itself and the earlier ones). Each retriever layer lets step t attend to the interactions of
STRICTLY EARLIER steps τ < t (keys x_τ, values y_τ) or to a learned "nothing yet" slot, with scores

    q_t · k_τ / √d_h  -  ρ_h · (t - τ)              (ρ_h ≥ 0 learned per head: forgetting)

so recent answers weigh more. Layer 1 queries with x_t, later layers with the previous layer's output.
P(correct at t) = σ(MLP(h_t, x_t) + β_i). Keys and values never depend on the query stream and an
encoded interaction never changes once computed, which is what makes a cheap online state possible
(`metatutor.models.attention_serving`). The estimator is `metatutor.models.attention.AttentionKT`.

Glossary: B windows, T steps, K skills per response, D embedding size, H heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class AttentionConfig:
    embed: int = 64  # D
    heads: int = 4  # H
    layers: int = 2  # retriever layers (queries: the question at t; keys: questions; values: interactions)
    encoder_layers: int = 0  # knowledge-encoder layers over the interactions (τ ≤ t); one costs 1.7x the time (docs/methods.md)
    dropout: float = 0.2
    lr: float = 1e-3
    batch_size: int | None = None  # windows per batch; None: 32, down to 8 for small cohorts
    window: int = 200  # steps per window; windows overlap by half
    max_epochs: int = 30
    patience: int = 3
    average_decay: float | None = 0.999  # predict with a moving average of the weights (see DKTConfig)
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
