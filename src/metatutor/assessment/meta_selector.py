"""A meta-learned adaptive test in the spirit of BOBCAT (Ghosh & Lan, IJCAI 2021): bilevel training of a
learner model and of a question-selection policy.

Learner model: logit P(correct on item i) = a_i θ + e_s(i) · u + d_i, with a per-learner block φ = (θ, u)
(ability and a D-dimensional skill profile), item parameters (a_i, d_i) started from a 2PL calibration and
skill vectors e_s shared. Inner level: φ starts at a learned φ₀ and takes K gradient steps on the answered
items with learned per-parameter step sizes (Meta-SGD), as pure functions with `torch.func.grad` (each
learner's block only sees its own answers). Outer level: the loss on the learner's held-out responses.

Policy: each available question is scored by a small network from what the selector can see — the adapted
model's P(correct) and information for it, its discrimination, how much of the learner's remaining pool
shares its skill, and how often that skill was already asked — and trained through the bilevel objective
with the unbiased (REINFORCE) gradient: sample a question sequence, adapt, reward = -held-out loss, a
per-batch mean as baseline. At test time the policy is greedy.

Glossary: L learners, n answered, P pool slots, Q held-out, D profile size, F policy features.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Self

import numpy as np
import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from metatutor.assessment.learners import IRTLearners
from metatutor.assessment.pools import Pools, item_skills, make_pools
from metatutor.assessment.replay import run_selection
from metatutor.data.responses import Responses
from metatutor.models.training import BestCheckpoint

log = logging.getLogger(__name__)
Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class MetaCATConfig:
    profile: int = 8  # D
    inner_steps: int = 3  # K
    inner_lr: float = 0.3  # initial Meta-SGD step size
    max_questions: int = 10  # questions per training episode (uniform 1..max for the model)
    batch: int = 64  # learners per meta-batch
    model_epochs: int = 30
    policy_epochs: int = 15
    lr: float = 3e-3
    policy_lr: float = 3e-3
    patience: int = 4
    random_state: int = 0


class MetaCATNet(nn.Module):
    def __init__(self, a: np.ndarray, d: np.ndarray, item_skill: np.ndarray, n_skills: int, cfg: MetaCATConfig) -> None:
        super().__init__()
        self.log_a = nn.Parameter(torch.tensor(np.log(np.maximum(a, 1e-2)), dtype=torch.float32))
        self.d = nn.Parameter(torch.tensor(d, dtype=torch.float32))
        self.item_skill: torch.Tensor
        self.register_buffer("item_skill", torch.as_tensor(item_skill, dtype=torch.long))
        self.skill = nn.Embedding(n_skills + 1, cfg.profile)
        nn.init.normal_(self.skill.weight, std=0.1)
        self.init = nn.ParameterDict({"theta": nn.Parameter(torch.zeros(1)),
                                      "u": nn.Parameter(torch.zeros(cfg.profile))})
        self.log_lr = nn.ParameterDict({"theta": nn.Parameter(torch.full((1,), float(np.log(cfg.inner_lr)))),
                                        "u": nn.Parameter(torch.full((cfg.profile,), float(np.log(cfg.inner_lr))))})
        self.steps = cfg.inner_steps

    def logits(self, phi: Params, items: torch.Tensor) -> torch.Tensor:
        """(L, m) logits of items (L, m) for learner blocks phi {"theta": (L, 1), "u": (L, D)}."""
        e = self.skill(self.item_skill[items])  # (L, m, D)
        return self.log_a.exp()[items] * phi["theta"] + (e * phi["u"][:, None, :]).sum(-1) + self.d[items]

    def adapt(self, items: torch.Tensor, y: torch.Tensor, *, create_graph: bool) -> Params:
        n_l = items.shape[0]
        phi = {k: v.expand(n_l, -1) for k, v in self.init.items()}
        if items.shape[1] == 0:
            return phi

        def loss(p: Params) -> torch.Tensor:
            return bce(self.logits(p, items), y, reduction="sum")

        for _ in range(self.steps):
            grads = torch.func.grad(loss)(phi)
            if not create_graph:
                grads = {k: g.detach() for k, g in grads.items()}
            phi = {k: phi[k] - self.log_lr[k].exp() * grads[k] for k in phi}
        return phi


class Policy(nn.Module):
    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, 32), nn.Tanh(), nn.Linear(32, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)


def policy_features(net: MetaCATNet, phi: Params, pool_item: torch.Tensor, available: torch.Tensor,
                    asked: torch.Tensor, pool_all: torch.Tensor) -> torch.Tensor:
    """(L, P, F) features of each pool slot for learners with adapted blocks phi; `asked` (L, n) items."""
    with torch.no_grad():
        p = torch.sigmoid(net.logits(phi, pool_item))  # (L, P)
        a = net.log_a.exp()[pool_item]
        skill = net.item_skill[pool_item]  # (L, P)
        counts = torch.zeros(skill.shape[0], net.skill.num_embeddings).scatter_add_(1, skill, pool_all.float())
        share = counts.gather(1, skill) / pool_all.float().sum(-1, keepdim=True).clamp(min=1)  # (L, P)
        asked_skill = net.item_skill[asked] if asked.shape[1] else skill[:, :0]
        times = (skill[:, :, None] == asked_skill[:, None, :]).float().sum(-1)
        info = a**2 * p * (1 - p)
        return torch.stack([p, info, a, torch.log(share + 1e-3), times, (p - 0.5).abs()], dim=-1)


class MetaCAT:
    """`MetaCAT().fit(train, valid)`; `choose` selects questions, `predict` scores held-out items."""

    name = "meta"

    def __init__(self, config: MetaCATConfig | None = None) -> None:
        self.config = config or MetaCATConfig()

    # ----- training ----------------------------------------------------------------------------
    def fit(self, train: Responses, valid: Responses | None = None, *, irt: IRTLearners | None = None) -> Self:
        cfg = self.config
        torch.manual_seed(cfg.random_state)
        rng = np.random.default_rng(cfg.random_state)
        irt = irt or IRTLearners("2pl").fit(train)
        item_skill = item_skills(train, missing=len(train.skill_ids))
        self.net_ = MetaCATNet(irt.a_, -irt.a_ * irt.b_, item_skill, len(train.skill_ids), cfg)
        self.policy_ = Policy(6)
        valid_pools = make_pools(valid, seed=cfg.random_state + 1) if valid is not None else None
        self._train_model(train, valid_pools, rng)
        self._train_policy(train, valid_pools, rng)
        return self

    def _episodes(self, train: Responses, rng: np.random.Generator) -> list[Pools]:
        pools = make_pools(train, seed=int(rng.integers(1 << 31)))
        order = rng.permutation(pools.n_learners)
        out = []
        for lo in range(0, len(order), self.config.batch):
            j = order[lo: lo + self.config.batch]
            out.append(Pools(*(getattr(pools, f)[j] for f in Pools.__dataclass_fields__)))
        return out

    def _query_loss(self, phi: Params, pools: Pools) -> torch.Tensor:
        held = torch.as_tensor(pools.held_item)
        mask = torch.as_tensor(pools.held_mask, dtype=torch.float32)
        per = bce(self.net_.logits(phi, held), torch.as_tensor(pools.held_y, dtype=torch.float32), reduction="none")
        return (per * mask).sum(1) / mask.sum(1).clamp(min=1)  # (L,)

    def _train_model(self, train: Responses, valid: Pools | None, rng: np.random.Generator) -> None:
        cfg = self.config
        opt = torch.optim.Adam(self.net_.parameters(), lr=cfg.lr)
        stopper = BestCheckpoint.of(self.net_, patience=cfg.patience)
        for epoch in range(cfg.model_epochs):
            self.net_.train()
            for pools in self._episodes(train, rng):
                n = int(rng.integers(0, cfg.max_questions + 1))
                avail = pools.pool_mask
                pick = np.argsort(np.where(avail, rng.random(avail.shape), 2.0), axis=1)[:, :n]
                rows = np.arange(pools.n_learners)[:, None]
                items = torch.as_tensor(pools.pool_item[rows, pick])
                y = torch.as_tensor(pools.pool_y[rows, pick], dtype=torch.float32)
                phi = self.net_.adapt(items, y, create_graph=True)
                loss = self._query_loss(phi, pools).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            auc = None if valid is None else self.validation_auc(valid, policy=False, rng=np.random.default_rng(0))
            if auc is not None:
                log.info("meta CAT model epoch %d: valid AUC %.4f", epoch + 1, auc)
            if stopper.check(auc):
                break
        stopper.restore()

    def _train_policy(self, train: Responses, valid: Pools | None, rng: np.random.Generator) -> None:
        cfg = self.config
        opt = torch.optim.Adam(self.policy_.parameters(), lr=cfg.policy_lr)
        start = self.validation_auc(valid, policy=True, rng=np.random.default_rng(0)) if valid else -np.inf
        stopper = BestCheckpoint.of(self.policy_, score=start, patience=cfg.patience)
        for epoch in range(cfg.policy_epochs):
            for pools in self._episodes(train, rng):
                n = int(rng.integers(1, cfg.max_questions + 1))
                log_prob, items, y = self._rollout(pools, n, sample=True)
                with torch.no_grad():
                    phi = self.net_.adapt(items, y, create_graph=False)
                    reward = -self._query_loss(phi, pools)
                loss = -((reward - reward.mean()) * log_prob).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            auc = None if valid is None else self.validation_auc(valid, policy=True, rng=np.random.default_rng(0))
            if auc is not None:
                log.info("meta CAT policy epoch %d: valid AUC %.4f", epoch + 1, auc)
            if stopper.check(auc):
                break
        stopper.restore()

    def _rollout(self, pools: Pools, n: int, *, sample: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Ask n questions with the policy (sampled or greedy): summed log-probabilities (L,), items, answers."""
        rows = np.arange(pools.n_learners)
        available = pools.pool_mask.copy()
        items = np.zeros((pools.n_learners, 0), dtype=np.int64)
        y = np.zeros((pools.n_learners, 0), dtype=np.float32)
        log_prob = torch.zeros(pools.n_learners)
        for _ in range(n):
            slot, lp = self._choose(pools, items, y, available, sample=sample)
            log_prob = log_prob + lp
            available[rows, slot] = False
            items = np.concatenate([items, pools.pool_item[rows, slot][:, None]], axis=1)
            y = np.concatenate([y, pools.pool_y[rows, slot][:, None].astype(np.float32)], axis=1)
        return log_prob, torch.as_tensor(items), torch.as_tensor(y)

    def _choose(self, pools: Pools, items: np.ndarray, y: np.ndarray, available: np.ndarray, *,
                sample: bool) -> tuple[np.ndarray, torch.Tensor]:
        with torch.no_grad():
            phi = self.net_.adapt(torch.as_tensor(items), torch.as_tensor(y, dtype=torch.float32),
                                  create_graph=False)
        feats = policy_features(self.net_, phi, torch.as_tensor(pools.pool_item), torch.as_tensor(available),
                                torch.as_tensor(items), torch.as_tensor(available))
        logits = self.policy_(feats).masked_fill(~torch.as_tensor(available), -1e9)  # (L, P)
        slot = torch.distributions.Categorical(logits=logits).sample() if sample else logits.argmax(1)
        lp = torch.log_softmax(logits, 1).gather(1, slot[:, None]).squeeze(1)
        return slot.numpy(), lp

    # ----- serving the benchmark ---------------------------------------------------------------
    def choose(self, pools: Pools, items: np.ndarray, y: np.ndarray, available: np.ndarray) -> np.ndarray:
        return self._choose(pools, items, y.astype(np.float32), available, sample=False)[0]

    def predict(self, items: np.ndarray, y: np.ndarray, query: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            phi = self.net_.adapt(torch.as_tensor(items), torch.as_tensor(y, dtype=torch.float32), create_graph=False)
            return torch.sigmoid(self.net_.logits(phi, torch.as_tensor(query))).numpy().astype(np.float64)

    def validation_auc(self, pools: Pools, *, policy: bool, rng: np.random.Generator) -> float:
        """Mean held-out AUC over n = 1, 3, 5, 10 questions (random questions, or the policy's)."""

        def choose(items: np.ndarray, y: np.ndarray, available: np.ndarray) -> np.ndarray:
            if policy:
                return self.choose(pools, items, y, available)
            return np.asarray(np.argmax(np.where(available, rng.random(available.shape), -1.0), axis=1))

        self.net_.eval()
        result = run_selection(pools, choose, self.predict)
        return float(np.mean([m[0] for m in result.values()]))

