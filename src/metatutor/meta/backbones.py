"""Backbones for meta-learning: shared parameters, and a small learner-specific parameter block φ.

A backbone turns an episode batch into per-position features with its shared parameters (embeddings,
sequence encoder), then `head(shared_head, φ, features)` gives the logits of ONE learner from that
learner's block φ. The head is a pure function, so `torch.func.grad` and `vmap` adapt φ learner by
learner (see `gradient.py`).

* `DKTBackbone`: the DKT network (LSTM over the support, Rasch question embeddings) plus a learned
  vector for how many steps ahead a query position lies. φ = an output bias, a logit offset per
  skill, and an offset added to the knowledge state.
* `IRTBackbone`: item difficulties. φ = an ability θ and a logit offset per skill.

Glossary: B learners, T positions, K skills per response, H hidden size, S skills.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from metatutor.models.base import Vocabulary
from metatutor.models.dkt import DKT
from metatutor.models.irt import IRT

Features = dict[str, torch.Tensor]
MAX_AHEAD = 32  # query positions beyond this share the last "steps ahead" vector
Block = dict[str, torch.Tensor]


def skill_offset(table: torch.Tensor, skill: torch.Tensor, pad: int) -> torch.Tensor:
    """(..., T) mean of per-skill offsets `table` (..., S+2) over each response's skills (..., T, K):
    one learner, or a batch of learners on leading dimensions."""
    real = (skill != pad).float()
    # one learner (or one row under vmap): plain indexing; learners on leading dimensions: a gather
    picked = table[skill] if table.dim() == 1 else torch.take_along_dim(table.unsqueeze(-2), skill, dim=-1)
    return (picked * real).sum(-1) / real.sum(-1).clamp(min=1.0)


def skill_offset_grad(g: torch.Tensor, skill: torch.Tensor, pad: int, size: int) -> torch.Tensor:
    """(B, size) gradient of Σ_t g_t · skill_offset(table, skill)_t with respect to the table, from the
    loss gradient g (B, T) at each position and the skills (B, T, K)."""
    real = (skill != pad).float()
    share = g.unsqueeze(-1) * real / real.sum(-1, keepdim=True).clamp(min=1.0)  # (B, T, K)
    out = torch.zeros(g.shape[0], size, dtype=g.dtype)
    return out.scatter_add_(1, skill.flatten(1), share.flatten(1))


class Backbone(nn.Module):
    vocab: Vocabulary
    max_skills: int
    pad: int  # the padding skill code

    def block_shapes(self) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def encode_support(self, batch: dict[str, torch.Tensor]) -> tuple[Features, torch.Tensor]:
        """Support features (B, k, ...) and a context (B, C) summarising the support (the DKT state)."""
        raise NotImplementedError

    def query_features(self, context: torch.Tensor, batch: dict[str, torch.Tensor]) -> Features:
        """Query features (B, Q, ...) from the support context and the query items."""
        raise NotImplementedError

    def features(self, batch: dict[str, torch.Tensor]) -> tuple[Features, Features]:
        """Support features (B, k, ...) and query features (B, Q, ...) of an episode batch."""
        support, context = self.encode_support(batch)
        return support, self.query_features(context, batch)

    def head_params(self) -> dict[str, torch.Tensor]:
        return {}

    def meta_parameters(self) -> list[nn.Parameter]:
        """The shared parameters meta-training may move. Per-item parameters stay as pre-trained on
        every response: episodes see only the start of each sequence, and thousands of item offsets
        overfit them within a few hundred steps."""
        return list(self.parameters())

    def head(self, shared: dict[str, torch.Tensor], phi: Block, f: Features) -> torch.Tensor:
        """(T,) logits of one learner from its block φ and its features f (T, ...); the same code
        takes a batch of learners on a leading dimension (φ (B, ...), f (B, T, ...)) -> (B, T)."""
        raise NotImplementedError

    def support_grad(self, phi: Block, f: Features) -> Block:
        """∇_φ of each learner's summed support log-loss, in closed form, for a batch (φ (B, ...),
        f (B, T, ...)) in eval mode: the same numbers as autograd through `head` (tested) without its
        per-call cost, for serving one learner at a time."""
        raise NotImplementedError


class DKTBackbone(Backbone):
    def __init__(self, dkt: DKT, irt_difficulty: np.ndarray | None = None) -> None:
        super().__init__()
        self.net = copy.deepcopy(dkt.net_)
        self.vocab, self.max_skills = dkt.vocab_, dkt.max_skills_
        self.pad = self.vocab.n_skills + 1
        # the population IRT's item difficulties (DKT item codes + the unseen slot), weighed by a learned
        # scalar that starts at 0: the backbone starts as the plain DKT
        d = np.zeros(self.vocab.n_items + 1) if irt_difficulty is None else irt_difficulty - irt_difficulty.mean()
        self.register_buffer("irt_difficulty", torch.as_tensor(d, dtype=torch.float32))
        self.irt_weight = nn.Parameter(torch.zeros(()))
        # how far ahead a query position lies (0 = the next response): learners change while they
        # practise, so a forecast j steps ahead is not the next-step forecast; zero = the plain DKT
        self.ahead = nn.Embedding(MAX_AHEAD, self.net.skill.weight.shape[1])
        nn.init.zeros_(self.ahead.weight)

    def block_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"bias": (1,), "skill": (self.vocab.n_skills + 2,), "state": (self.net.h0.shape[0],)}

    def encode_support(self, batch: dict[str, torch.Tensor]) -> tuple[Features, torch.Tensor]:
        net = self.net
        s_item, s_skill, s_y = batch["s_item"], batch["s_skill"], batch["s_y"]
        b, k = s_item.shape
        h0 = net.h0.expand(b, -1)
        if k:
            q_s, x = net.inputs(s_item, s_skill, s_y)
            # left-padded support: padded steps come first and are masked out of the loss; their
            # input is zero so the LSTM only drifts from h0 by its biases before the real steps
            x = x * batch["s_mask"].unsqueeze(-1).float()
            hs, _ = net.lstm(net.drop(x))
            prev = torch.cat([h0[:, None], hs[:, :-1]], dim=1)
            last = torch.where(batch["s_mask"].any(1, keepdim=True), hs[:, -1], h0)
        else:
            q_s = torch.zeros(b, 0, net.skill.weight.shape[1])
            prev, last = torch.zeros(b, 0, h0.shape[1]), h0
        support = {"h": net.drop(prev), "q": q_s, "beta": self._item_offset(s_item), "skill": s_skill,
                   "y": s_y, "mask": batch["s_mask"].float()}
        return support, last

    def query_features(self, context: torch.Tensor, batch: dict[str, torch.Tensor]) -> Features:
        q_q, _ = self.net.question(batch["q_item"], batch["q_skill"])
        b, n_q = batch["q_item"].shape
        # `q_ahead` (B, Q) says how far ahead each position lies; default: the query is the next Q responses
        ahead = batch.get("q_ahead", torch.arange(n_q)[None].expand(b, -1))
        q_q = q_q + self.ahead(ahead.clamp(max=MAX_AHEAD - 1))
        return {"h": self.net.drop(context)[:, None].expand(b, n_q, -1), "q": q_q,
                "beta": self._item_offset(batch["q_item"]), "skill": batch["q_skill"],
                "y": batch["q_y"], "mask": batch["q_mask"].float()}

    def _item_offset(self, item: torch.Tensor) -> torch.Tensor:
        """(B, T) the DKT item bias β_i minus the weighed IRT difficulty of the item."""
        irt: torch.Tensor = self.irt_difficulty  # type: ignore[assignment]
        return self.net.item_bias(item).squeeze(-1) - self.irt_weight * irt[item]

    def head_params(self) -> dict[str, torch.Tensor]:
        return dict(self.net.out.named_parameters())

    def meta_parameters(self) -> list[nn.Parameter]:
        frozen = {id(self.net.difficulty.weight), id(self.net.item_bias.weight)}
        return [p for p in self.parameters() if id(p) not in frozen]

    def head(self, shared: dict[str, torch.Tensor], phi: Block, f: Features) -> torch.Tensor:
        out = functional_call(self.net.out, shared, (f["h"] + phi["state"].unsqueeze(-2), f["q"], f["skill"]))
        return out + f["beta"] + phi["bias"] + skill_offset(phi["skill"], f["skill"], self.pad)

    def support_grad(self, phi: Block, f: Features) -> Block:
        # logit z = w2 · relu(W1 [h + state; q] + b1) + b2 + (h + state) · w̄ + β + bias + mean_s skill[s]
        head = self.net.out
        first, last = head.mlp[0], head.mlp[3]
        assert isinstance(first, nn.Linear) and isinstance(last, nn.Linear)
        w1h, w1q = first.weight[:, : self.net.h0.shape[0]], first.weight[:, self.net.h0.shape[0] :]
        h = f["h"] + phi["state"].unsqueeze(-2)  # (B, T, H)
        pre = h @ w1h.T + f["q"] @ w1q.T + first.bias
        real = (f["skill"] != self.pad).float()
        w = head.readout(f["skill"]).sum(-2) / real.sum(-1, keepdim=True).clamp(min=1.0)  # w̄ (B, T, H)
        z = (pre.clamp(min=0.0) @ last.weight[0] + last.bias + (h * w).sum(-1) + f["beta"] + phi["bias"]
             + skill_offset(phi["skill"], f["skill"], self.pad))
        g = (torch.sigmoid(z) - f["y"]) * f["mask"]  # ∂loss/∂z (B, T)
        dh = ((pre > 0).float() * last.weight[0]) @ w1h + w  # ∂z/∂h (B, T, H)
        return {"bias": g.sum(-1, keepdim=True), "state": (g.unsqueeze(-1) * dh).sum(-2),
                "skill": skill_offset_grad(g, f["skill"], self.pad, phi["skill"].shape[-1])}


class IRTBackbone(Backbone):
    def __init__(self, irt: IRT, vocab: Vocabulary, max_skills: int) -> None:
        super().__init__()
        self.vocab, self.max_skills, self.pad = vocab, max_skills, vocab.n_skills + 1
        difficulty = np.append(irt.difficulty_, irt.difficulty_.mean())  # unseen items: the mean
        self.difficulty = nn.Parameter(torch.as_tensor(difficulty, dtype=torch.float32))

    def block_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"theta": (1,), "skill": (self.vocab.n_skills + 2,)}

    def _part(self, batch: dict[str, torch.Tensor], prefix: str) -> Features:
        return {"b": self.difficulty[batch[f"{prefix}_item"]], "skill": batch[f"{prefix}_skill"],
                "y": batch[f"{prefix}_y"], "mask": batch[f"{prefix}_mask"].float()}

    def encode_support(self, batch: dict[str, torch.Tensor]) -> tuple[Features, torch.Tensor]:
        return self._part(batch, "s"), torch.zeros(batch["s_item"].shape[0], 0)

    def query_features(self, context: torch.Tensor, batch: dict[str, torch.Tensor]) -> Features:
        return self._part(batch, "q")

    def meta_parameters(self) -> list[nn.Parameter]:
        return []

    def head(self, shared: dict[str, torch.Tensor], phi: Block, f: Features) -> torch.Tensor:
        return phi["theta"] - f["b"] + skill_offset(phi["skill"], f["skill"], self.pad)

    def support_grad(self, phi: Block, f: Features) -> Block:
        g = (torch.sigmoid(self.head({}, phi, f)) - f["y"]) * f["mask"]  # ∂loss/∂logit (B, T)
        return {"theta": g.sum(-1, keepdim=True), "skill": skill_offset_grad(g, f["skill"], self.pad, phi["skill"].shape[-1])}


def make_backbone(kind: str, population: Any) -> Backbone:
    """A fresh copy of the population model as a backbone ("dkt" or "irt")."""
    dkt, irt = population.dkt, population.irt
    # both backbones encode items and skills with the DKT's vocabulary (the same training data)
    codes = _irt_codes(irt.vocab_, dkt.vocab_)
    if kind == "dkt":
        return DKTBackbone(dkt, np.append(irt.difficulty_, irt.difficulty_.mean())[codes])
    if kind == "irt":
        backbone = IRTBackbone(irt, dkt.vocab_, dkt.max_skills_)
        with torch.no_grad():
            d = np.append(irt.difficulty_, irt.difficulty_.mean())[codes]
            backbone.difficulty.copy_(torch.as_tensor(d, dtype=torch.float32))
        return backbone
    raise ValueError(f"unknown backbone {kind!r}: use 'dkt' or 'irt'")


def _irt_codes(irt_vocab: Vocabulary, vocab: Vocabulary) -> np.ndarray:
    """For each item code of `vocab` (+ the unseen slot), the matching code in `irt_vocab`."""
    index = {item: i for i, item in enumerate(irt_vocab.item_ids)}
    return np.array([index.get(item, irt_vocab.n_items) for item in vocab.item_ids] + [irt_vocab.n_items])
