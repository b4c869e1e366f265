"""A Gaussian filter over a learner block φ on top of the DKT backbone: pure functions, batched over
learners (torch, for meta-training and batch prediction).

φ holds an output bias, a logit offset per skill and, optionally, an offset added to the DKT knowledge
state. The logit of item i with skills K_i for a learner whose DKT state is h:

    z_i = head(h + φ_state, q_i) + β_i + φ_bias + mean_{s ∈ K_i} φ_skill[s]

The learner's belief is φ ~ N(μ, diag(σ²)): the meta-learned prior N(μ₀, σ₀²) before any answer, then
one extended-Kalman (Laplace) step per answer, the answers in order:

    p = σ(z(μ)),  J = ∂z/∂φ,  s = Jᵀ diag(σ²) J,  g = (y − p) / (1 + p(1 − p) s)
    μ ← μ + σ² ⊙ J g,  σ² ← σ² − p(1 − p) (σ² ⊙ J)² / (1 + p(1 − p) s) + drift

(Sherman–Morrison on the rank-one precision update, projected back onto the diagonal; the drift lets a
learner keep changing). Each step costs O(|φ|) whatever the history, so online and batch are the same
recursion. Predictions are moderated by the belief's spread (MacKay's probit approximation):
P(correct) = σ(z / sqrt(1 + π s / 8)), s the spread of the bias and skill blocks. For those blocks J
is a constant (1 and 1/|K_i|), so the filter is exact up to the Gaussian approximation of the logistic
likelihood; for the state block J is the head's gradient at h + μ_state.

Glossary: B learners, T positions, K skills per response, H hidden size, S skills (+2: unknown, pad).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

Block = dict[str, torch.Tensor]
Features = dict[str, torch.Tensor]


def skill_sum(table: torch.Tensor, skill: torch.Tensor, pad: int, *, power: int = 1) -> torch.Tensor:
    """(B, T) Σ_k table[b, skill_k] / |K|^power over each response's real skills; table (B, S+2),
    skill (B, T, K)."""
    real = (skill != pad).to(table.dtype)
    picked = torch.take_along_dim(table.unsqueeze(-2), skill, dim=-1)  # (B, T, K)
    return (picked * real).sum(-1) / real.sum(-1).clamp(min=1.0) ** power


def skill_jacobian(skill: torch.Tensor, pad: int, size: int) -> torch.Tensor:
    """(B, size) ∂ mean_{k} φ_skill[skill_k] / ∂φ_skill for one position per learner, skill (B, 1, K)."""
    real = (skill[:, 0] != pad).to(torch.float32)
    share = real / real.sum(-1, keepdim=True).clamp(min=1.0)
    out = torch.zeros(skill.shape[0], size, dtype=torch.float32)
    return out.scatter_add_(1, skill[:, 0], share)


def state_jacobian(head: Any, h: torch.Tensor, q: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
    """(..., H) ∂z/∂h of the DKT head (MLP(h, q) + h · w̄) at h (..., H), in closed form."""
    first, last = head.mlp[0], head.mlp[3]
    hidden = h.shape[-1]
    w1h, w1q = first.weight[:, :hidden], first.weight[:, hidden:]
    pre = h @ w1h.T + q @ w1q.T + first.bias
    real = (skill != head.pad).to(h.dtype)
    w = head.readout(skill).sum(-2) / real.sum(-1, keepdim=True).clamp(min=1.0)
    return ((pre > 0).to(h.dtype) * last.weight[0]) @ w1h + w


def logit_and_spread(head: Any, mu: Block, var: Block, f: Features, pad: int, *,
                     jacobian: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(B, T) plug-in logits z(μ) of features f (B, T, ...) and the spread s of the bias and skill
    blocks (what predictions are moderated by); with `jacobian`, the state block's J (B, T, H) too
    (None without a state block). The state block's share of the spread is left out of the moderation
    (its J differs item by item, which would cost a pass over the hidden units per item when a whole
    bank is scored); the filter's update counts it."""
    h = f["h"]
    if "state" in mu:
        h = h + mu["state"].unsqueeze(1)
    z = head(h, f["q"], f["skill"]) + f["beta"] + mu["bias"] + skill_sum(mu["skill"], f["skill"], pad)
    s = var["bias"] + skill_sum(var["skill"], f["skill"], pad, power=2)
    dh = state_jacobian(head, h, f["q"], f["skill"]) if jacobian and "state" in mu else None
    return z, s, dh


def moderated(z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The logit of σ(z / sqrt(1 + π s / 8)), the probit approximation of E[σ(z)] under the spread s."""
    return z / torch.sqrt(1.0 + (math.pi / 8.0) * s)


def filter_step(head: Any, mu: Block, var: Block, f: Features, drift: Block, pad: int) -> tuple[Block, Block, torch.Tensor]:
    """One answer per learner: f (B, 1, ...) with "y" and "mask" (B, 1). Returns μ, σ² after it and the
    (B,) moderated logit that predicted it (before the update)."""
    z, s, dh = logit_and_spread(head, mu, var, f, pad, jacobian=True)
    z, s = z[:, 0], s[:, 0]  # (B,)
    prediction = moderated(z, s)
    if dh is not None:
        s = s + (dh[:, 0].pow(2) * var["state"]).sum(-1)
    p = torch.sigmoid(z)
    v = p * (1.0 - p)
    mask = f["mask"][:, 0]
    denom = 1.0 + v * s
    g = ((f["y"][:, 0] - p) * mask / denom)[:, None]  # (B, 1)
    shrink = (mask * v / denom)[:, None]
    jac = {"bias": torch.ones_like(mu["bias"]), "skill": skill_jacobian(f["skill"], pad, mu["skill"].shape[1])}
    if dh is not None:
        jac["state"] = dh[:, 0]
    new_mu, new_var = {}, {}
    for name, m in mu.items():
        vj = var[name] * jac[name]
        new_mu[name] = m + vj * g
        new_var[name] = var[name] - shrink * vj.pow(2) + drift[name] * mask[:, None]
    return new_mu, new_var, prediction


def run_filter(head: Any, mu: Block, var: Block, support: Features, drift: Block, pad: int) -> tuple[Block, Block, torch.Tensor]:
    """The filter over every support position in order (padded positions, mask 0, change nothing):
    support (B, k, ...). Returns the final μ, σ² and the (B, k) moderated logits that predicted each
    support answer from the ones before it (the online predictions)."""
    k = support["mask"].shape[1]
    preds = []
    for t in range(k):
        f = {n: v[:, t: t + 1] for n, v in support.items()}
        mu, var, z = filter_step(head, mu, var, f, drift, pad)
        preds.append(z)
    return mu, var, torch.stack(preds, dim=1) if preds else torch.zeros(support["mask"].shape)


def right_aligned(batch: dict[str, torch.Tensor], prefix: str = "s") -> dict[str, torch.Tensor]:
    """The `prefix`_* tensors of a batch with each learner's real positions moved to the start (padding
    after them), whatever padding they came with: the LSTM then starts every learner from its own first
    answer, as a learner served alone does."""
    mask = batch[f"{prefix}_mask"]
    k = mask.shape[1]
    if not k or bool(mask.all()):
        return batch
    n = mask.sum(1, keepdim=True)  # (B, 1)
    # real positions of each row in order, then the padded ones
    order = torch.argsort((~mask).to(torch.int8) * k + torch.arange(k)[None, :], dim=1, stable=True)
    out = dict(batch)
    for name in ("item", "skill", "y", "mask"):
        v = batch[f"{prefix}_{name}"]
        idx = order if v.dim() == 2 else order[..., None].expand_as(v)
        out[f"{prefix}_{name}"] = torch.take_along_dim(v, idx, dim=1)
    out[f"{prefix}_mask"] = torch.arange(k)[None, :] < n
    return out


def encode_sequences(net: Any, item: torch.Tensor, skill: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, *,
                     ahead: torch.Tensor, beta: torch.Tensor) -> tuple[Features, torch.Tensor]:
    """Filter features of right-padded sequences (B, k) through the DKT `net`: at each position the state
    before the answer, the question plus the "next answer" vector `ahead` (D,), the item offset `beta`
    (B, k), skills, answer and mask; and the state after each learner's last real answer (B, H)."""
    b, k = item.shape
    h0 = net.h0.expand(b, -1)
    if k:
        q, x = net.inputs(item, skill, y)
        hs, _ = net.lstm(net.drop(x))
        prev = torch.cat([h0[:, None], hs[:, :-1]], dim=1)
        n = mask.sum(1)
        last = torch.where((n > 0)[:, None], hs[torch.arange(b), (n - 1).clamp(min=0)], h0)
    else:
        q = torch.zeros(b, 0, net.skill.weight.shape[1])
        prev, last = torch.zeros(b, 0, h0.shape[1]), h0
    return {"h": net.drop(prev), "q": q + ahead, "beta": beta, "skill": skill, "y": y,
            "mask": mask.to(torch.float32)}, last


def masked_bce(logit: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean log-loss over the masked positions (0 when there are none)."""
    loss = nn.functional.binary_cross_entropy_with_logits(logit, y, reduction="none")
    return (loss * mask).sum() / mask.sum().clamp(min=1.0)
