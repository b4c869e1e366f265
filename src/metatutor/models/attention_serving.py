"""Serving the attention model one learner at a time: `AttentionOnlineState` keeps a learner's encoded
last `window - 1` steps and, per retriever layer, their projections; `update` encodes one response,
`predict` scores items as the next response against the cached steps, never the whole history again.
The whole bank is scored through a `BankPlan` (`attention_plan(model)`, once per fitted model): a few
questions per skill set, each item interpolated from its set's.

Glossary: M questions (nodes), N items, G skill sets, R items scored off the line, D embedding size,
H heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from metatutor.models.attention_net import AttentionNet, Block
from metatutor.models.base import sigmoid
from metatutor.models.readout import ReluBank
from metatutor.models.sequence_base import SequenceKT
from metatutor.models.sequences import candidate_skills
from metatutor.models.training import eval_mode

AttentionModel = SequenceKT[AttentionNet]  # a fitted `metatutor.models.attention.AttentionKT`


def attention_plan(model: AttentionModel) -> BankPlan:
    """How `AttentionOnlineState.predict()` scores the whole bank (see `BankPlan`); computed once per model."""
    return model.serving_part("plan", lambda: bank_plan(model.net_.eval(), model.item_skills_))


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
    benchmarks/serving_latency.py. `AttentionOnlineState.predict(exact=True)` runs every item.

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


class AttentionOnlineState:
    """One learner's serving state: the encoded last `window - 1` steps (keys, values and the inputs of
    each knowledge-encoder layer) and, per retriever layer, their projections per head. `update` costs
    one attention row per knowledge-encoder layer and one projection per retriever layer; `predict`
    scores any set of items (default: the whole bank, through its `BankPlan`) against the cached steps,
    all as the next response — never the whole history again.

    For sequences shorter than the window `predict(items)` gives exactly the batch predictions of
    `predict_proba`; beyond, it keeps the last window - 1 steps (batch prediction keeps between window/2
    and window - 1). `to_arrays`/`from_arrays` let a service persist it.
    """

    def __init__(self, model: AttentionModel, plan: BankPlan | None = None) -> None:
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
    def from_arrays(cls, model: AttentionModel, arrays: dict[str, np.ndarray]) -> AttentionOnlineState:
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
        plan = self.plan or attention_plan(self.model)
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
