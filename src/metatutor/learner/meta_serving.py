"""The numerics that serve `MetaTracker` one learner at a time, in numpy: the DKT's LSTM step, the filter's
step (`metatutor.meta.filtering` in torch is the batch form of the same maths), the whole course scored
through `models.readout.ReluBank`, typical items per skill (mastery) and per skill set (planning).

`MetaParts.build(net, ...)` tables everything once per model and course. Every course item belongs to a
skill set g (its model skill codes); the head's first layer on item i is level_g + u_i slope_g + W h,
with u_i its DKT difficulty offset μ_i, so the bank is exact and cheap (see `readout.py`).

Glossary: I course items, G skill sets, S course skills, C model skill codes (+2), H hidden, D embedding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from metatutor.models.base import sigmoid
from metatutor.models.dkt_net import DKTNet
from metatutor.models.dkt_serving import DKTCell
from metatutor.models.readout import ReluBank

QUARTER_PI = math.pi / 8.0


@dataclass
class MetaBelief:
    """A learner under `MetaTracker`: the DKT's LSTM state after their last answer and the filter's
    belief about their block φ (mean and variance per block)."""

    h: np.ndarray | None  # (H,) float32 LSTM hidden state (None before the first answer)
    c: np.ndarray | None  # (H,) float32 LSTM cell state
    mu: dict[str, np.ndarray]  # "bias" (1,), "skill" (C,), optionally "state" (H,)
    var: dict[str, np.ndarray]
    start: np.ndarray | None = None  # (S,) mastery after the learner's first answers (their profile's key)

    @property
    def ability(self) -> float:
        """The learner's overall logit offset (the filter's bias block)."""
        return float(self.mu["bias"][0])


@dataclass(frozen=True)
class MetaParts:
    """Tables for serving, computed once per model and course (float64 unless noted)."""

    cell: DKTCell  # the LSTM step (float32)
    h0: np.ndarray  # (H,) float32: the state that predicts a first answer
    w1h: np.ndarray  # (H, H) first layer, state part
    w2: np.ndarray  # (H,) last layer
    b2: float
    pad: int  # padding skill code
    # per course item
    group: np.ndarray  # (I,) skill set of each item
    code: np.ndarray  # (I,) model item code (n_items: unseen)
    u: np.ndarray  # (I,) DKT difficulty offset μ_i
    beta: np.ndarray  # (I,) item offset β_i (without b2)
    bank: ReluBank
    # per skill set
    set_codes: np.ndarray  # (G, K) model skill codes, padded with `pad`
    set_count: np.ndarray  # (G,) real skills
    level: np.ndarray  # (G, H) first layer on the set's question at μ = 0 (with the "next answer" vector) + bias
    slope: np.ndarray  # (G, H) its change per unit of μ
    readout: np.ndarray  # (G, H) mean read-out vector w_s of the set
    set_inter: np.ndarray  # (2, G, 4H) float32: the LSTM input projection of an answer (wrong, right) to the set
    set_u: np.ndarray  # (G,) mean μ of the set's items (planning's typical item)
    set_beta: np.ndarray  # (G,) mean β
    # per course skill: a typical item (the mean μ and β of its items)
    skill_code: np.ndarray  # (S,) model skill code
    skill_level: np.ndarray  # (S, H)
    skill_readout: np.ndarray  # (S, H)
    skill_beta: np.ndarray  # (S,)
    # for items outside the course
    skill_emb: np.ndarray  # (C, D) c_s
    w1q: np.ndarray  # (H, D)
    b1: np.ndarray  # (H,)
    readout_table: np.ndarray  # (C, H)
    ahead: np.ndarray  # (D,)
    beta_unseen: float

    @classmethod
    @torch.no_grad()
    def build(cls, net: DKTNet, *, item_codes: np.ndarray, skill_codes: np.ndarray, item_beta: np.ndarray,
              ahead: np.ndarray, skill_items: list[np.ndarray], course_skill_codes: np.ndarray,
              shift: np.ndarray | None = None) -> MetaParts:
        """item_codes (I,) and skill_codes (I, K) of the course items in the model's vocabulary; item_beta
        (n_items + 1,) β per model item code; ahead (D,) the "next answer" vector; skill_items: the course
        items of each course skill; course_skill_codes (S,) each course skill's model code; shift (I,) an
        offset added to each course item's β (a predicted difficulty for items never seen)."""
        first: nn.Linear = net.out.mlp[0]  # type: ignore[assignment]
        last: nn.Linear = net.out.mlp[3]  # type: ignore[assignment]
        hidden = net.h0.shape[0]
        w1 = first.weight.double().numpy()
        w1h, w1q, b1 = w1[:, :hidden], w1[:, hidden:], first.bias.double().numpy()
        w2, b2 = last.weight[0].double().numpy(), float(last.bias[0])
        pad = net.n_skills + 1
        cell = lstm_cell(net, pad=pad)
        c_s, d_s = net.skill.weight.double().numpy(), net.skill_var.weight.double().numpy()
        readout = net.out.readout.weight.double().numpy()
        mu_table = net.difficulty.weight[:, 0].double().numpy()
        sets, group = np.unique(skill_codes, axis=0, return_inverse=True)
        group = group.reshape(-1)
        real = sets != pad
        count = np.maximum(real.sum(1), 1)
        q0 = (c_s[sets] * real[..., None]).sum(1) / count[:, None] + ahead  # (G, D)
        dq = (d_s[sets] * real[..., None]).sum(1) / count[:, None]
        inter = np.stack([(cell.inter[sets * 2 + y] * real[..., None]).sum(1) / count[:, None] for y in (0, 1)])
        u, beta = mu_table[item_codes], item_beta[item_codes].astype(np.float64)
        if shift is not None:
            beta = beta + shift
        n_sets = len(sets)
        size = np.maximum(np.bincount(group, minlength=n_sets), 1)
        s_u = np.bincount(group, u, minlength=n_sets) / size
        s_beta = np.bincount(group, beta, minlength=n_sets) / size
        # a course skill's typical item: one skill, the mean μ and β of its course items
        n_unseen = len(mu_table) - 1
        k_u = np.array([u[i].mean() if len(i) else 0.0 for i in skill_items])
        k_beta = np.array([beta[i].mean() if len(i) else float(item_beta[n_unseen]) for i in skill_items])
        k_q = c_s[course_skill_codes] + k_u[:, None] * d_s[course_skill_codes] + ahead
        slope = dq @ w1q.T
        return cls(
            cell=cell, h0=net.h0.detach().numpy().astype(np.float32), w1h=w1h, w2=w2, b2=b2, pad=pad,
            group=group, code=item_codes, u=u, beta=beta,
            bank=ReluBank.build(group, u, beta + b2, w2, n_groups=n_sets, slope=slope),
            set_codes=sets, set_count=count, level=q0 @ w1q.T + b1, slope=slope,
            readout=(readout[sets] * real[..., None]).sum(1) / count[:, None], set_inter=inter.astype(np.float32),
            set_u=s_u, set_beta=s_beta, skill_code=course_skill_codes, skill_level=k_q @ w1q.T + b1,
            skill_readout=readout[course_skill_codes], skill_beta=k_beta, skill_emb=c_s, w1q=w1q, b1=b1,
            readout_table=readout, ahead=ahead, beta_unseen=float(item_beta[n_unseen]))

    # ----- pieces of the head ------------------------------------------------------------------------
    def state(self, b: MetaBelief) -> np.ndarray:
        """(H,) float64 the state the head reads: the DKT's plus the state block's mean."""
        h = (self.h0 if b.h is None else b.h).astype(np.float64)
        return h + b.mu["state"] if "state" in b.mu else h

    def set_skill_mean(self, table: np.ndarray, *, power: int = 1) -> np.ndarray:
        """(G,) Σ_k table[code_k] / |K|^power over each skill set's real skills."""
        real = self.set_codes != self.pad
        return (table[self.set_codes] * real).sum(1) / self.set_count ** power

    def bank_logits(self, b: MetaBelief, extra: np.ndarray | None = None) -> np.ndarray:
        """(I,) moderated logits of every course item as the next answer (`extra` (I,): a further offset
        per item, before the moderation)."""
        h = self.state(b)
        shift = self.readout @ h + b.mu["bias"][0] + self.set_skill_mean(b.mu["skill"])
        z = self.bank.logits(self.level + (self.w1h @ h)[None, :], shift).astype(np.float64)
        if extra is not None:
            z += extra
        spread = b.var["bias"][0] + self.set_skill_mean(b.var["skill"], power=2)
        return z / np.sqrt(1.0 + QUARTER_PI * spread[self.group])

    def item_logit(self, b: MetaBelief, item: int, extra: float = 0.0) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Item `item`'s plug-in logit (plus `extra`), the spread of the bias and skill blocks, and the
        state block's ∂z/∂h (H,) and first-layer pre-activation (H,)."""
        g, h = self.group[item], self.state(b)
        pre = self.level[g] + self.u[item] * self.slope[g] + self.w1h @ h
        real = self.set_codes[g][self.set_codes[g] != self.pad]
        n = max(len(real), 1)
        z = (self.w2 @ np.maximum(pre, 0.0) + self.b2 + self.readout[g] @ h + self.beta[item] + b.mu["bias"][0]
             + b.mu["skill"][real].sum() / n + extra)
        spread = b.var["bias"][0] + b.var["skill"][real].sum() / n ** 2
        dh = ((pre > 0) * self.w2) @ self.w1h + self.readout[g]
        return float(z), float(spread), dh, pre

    def skill_logits(self, b: MetaBelief, *, jacobian: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(S,) plug-in logits of each course skill's typical item, the spreads of the bias and skill
        blocks, and with `jacobian` (S, H) ∂z/∂h."""
        h = self.state(b)
        pre = self.skill_level + (self.w1h @ h)[None, :]
        z = (np.maximum(pre, 0.0) @ self.w2 + self.b2 + self.skill_readout @ h + self.skill_beta + b.mu["bias"][0]
             + b.mu["skill"][self.skill_code])
        spread = b.var["bias"][0] + b.var["skill"][self.skill_code]
        jac = ((pre > 0) * self.w2) @ self.w1h + self.skill_readout if jacobian else None
        return z, spread, jac

    def other_logit(self, b: MetaBelief, codes: np.ndarray) -> float:
        """The moderated logit of an item outside the course from its model skill codes."""
        real = np.asarray(codes, dtype=np.int64)
        real = real[real != self.pad]
        if not len(real):
            real = np.array([self.pad - 1])  # the "unknown skill"
        n = len(real)
        h = self.state(b)
        q = self.skill_emb[real].mean(0) + self.ahead
        pre = self.w1q @ q + self.b1 + self.w1h @ h
        z = (self.w2 @ np.maximum(pre, 0.0) + self.b2 + self.readout_table[real].mean(0) @ h + self.beta_unseen
             + b.mu["bias"][0] + b.mu["skill"][real].sum() / n)
        spread = b.var["bias"][0] + b.var["skill"][real].sum() / n ** 2
        return float(z / math.sqrt(1.0 + QUARTER_PI * spread))

    # ----- one answer -----------------------------------------------------------------------------------
    def step(self, b: MetaBelief, item: int, correct: int, drift: dict[str, float], extra: float = 0.0) -> None:
        """The filter's update on the answer to course item `item` (its logit plus `extra`), then the
        LSTM's step, in place."""
        z, spread, dh, _ = self.item_logit(b, item, extra)
        if "state" in b.mu:
            spread += float((dh ** 2 * b.var["state"]).sum())
        p = 1.0 / (1.0 + math.exp(-z))
        v = p * (1.0 - p)
        denom = 1.0 + v * spread
        g = (correct - p) / denom
        codes = self.set_codes[self.group[item]]
        real = codes[codes != self.pad]
        n = max(len(real), 1)
        jac_skill = np.zeros_like(b.mu["skill"])
        np.add.at(jac_skill, real, 1.0 / n)
        jac = {"bias": np.ones(1), "skill": jac_skill, "state": dh}
        for name in b.mu:
            vj = b.var[name] * jac[name]
            b.mu[name] = b.mu[name] + vj * g
            b.var[name] = b.var[name] - (v / denom) * vj ** 2 + drift[name]
        h = np.zeros(self.cell.w_hh.shape[1], dtype=np.float32) if b.h is None else b.h
        c = np.zeros_like(h) if b.c is None else b.c
        b.h, b.c = self.cell.step(h, c, int(self.code[item]), codes, int(correct))

    # ----- planning: one hypothetical answer to a typical item of each skill set ----------------------------
    def hypotheticals(self, b: MetaBelief) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For each skill set g: P(correct) of its typical item now (G,), and the change of every course
        skill's logit (2, G, S) after answering it wrong (0) or right (1), to first order in the state
        (the head linearised at the current state); also the skills' logits (S,) and spreads (S,) now."""
        h = self.state(b)
        z_skill, spread_skill, jac = self.skill_logits(b, jacobian=True)  # (S,), (S,), (S, H)
        assert jac is not None
        pre = self.level + self.set_u[:, None] * self.slope + (self.w1h @ h)[None, :]  # (G, H)
        real = self.set_codes != self.pad
        z = (np.maximum(pre, 0.0) @ self.w2 + self.b2 + self.readout @ h + self.set_beta + b.mu["bias"][0]
             + self.set_skill_mean(b.mu["skill"]))
        spread = b.var["bias"][0] + self.set_skill_mean(b.var["skill"], power=2)
        p_now = sigmoid(z / np.sqrt(1.0 + QUARTER_PI * spread))
        full = spread.copy()
        dh = None
        if "state" in b.mu:
            dh = ((pre > 0) * self.w2) @ self.w1h + self.readout  # (G, H)
            full += (dh ** 2 * b.var["state"]).sum(1)
        p = sigmoid(z)
        v = p * (1.0 - p)
        denom = 1.0 + v * full
        # the LSTM's next state after a wrong or right answer to each set's typical item
        hq = self.h0 if b.h is None else b.h
        cq = np.zeros_like(hq) if b.c is None else b.c
        base = self.cell.bias + self.cell.w_hh @ hq  # (4H,)
        out = np.empty((2, len(z), len(z_skill)))
        for y in (0, 1):
            gates = base + self.set_u[:, None].astype(np.float32) * self.cell.resp[y] + self.set_inter[y]  # (G, 4H)
            i, f, gg, o = np.split(gates, 4, axis=1)
            c_new = sigmoid(f) * cq + sigmoid(i) * np.tanh(gg)
            h_new = (sigmoid(o) * np.tanh(c_new)).astype(np.float64)  # (G, H)
            g_res = (y - p) / denom  # (G,)
            move = h_new - hq.astype(np.float64)
            if dh is not None:
                move = move + b.var["state"] * dh * g_res[:, None]
            dz = move @ jac.T + (b.var["bias"][0] * g_res)[:, None]  # (G, S)
            # the skill block moves only the set's own skills
            share = np.where(real, b.var["skill"][self.set_codes] / self.set_count[:, None], 0.0) * g_res[:, None]
            own = self.set_codes[:, :, None] == self.skill_code[None, None, :]  # (G, K, S)
            dz += (share[:, :, None] * own).sum(1)
            out[y] = dz
        return p_now, out, z_skill, spread_skill


def lstm_cell(net: DKTNet, *, pad: int) -> DKTCell:
    """`DKTNet`'s LSTM step for one answer with its input projection tabled (the same step
    `DKTOnlineState` takes)."""
    lstm = dict(net.lstm.named_parameters())
    w_ih = lstm["weight_ih_l0"].detach()
    return DKTCell(inter=(net.inter.weight.detach() @ w_ih.T).numpy(), resp=(net.resp_var.weight.detach() @ w_ih.T).numpy(),
                   mu=net.difficulty.weight[:, 0].detach().clone().numpy(),
                   bias=(lstm["bias_ih_l0"] + lstm["bias_hh_l0"]).detach().numpy(),
                   w_hh=lstm["weight_hh_l0"].detach().clone().numpy(), pad=pad)
