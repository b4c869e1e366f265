"""Learner prototypes (Prototypical-network style): a new learner is a soft mixture of learner profiles.

An embedding of the learner's support e = W h_k (h_k: the population DKT's knowledge state after the
support) is compared with P learned prototypes c_p; the weights are softmax_p(-|e - c_p|² / T). Each
prototype carries a readable profile: an overall logit a_p and a logit offset per skill u_p, so

    P(correct on item i) = Σ_p w_p σ(a_p + mean_{s ∈ skills(i)} u_p[s] - b_i),

with b_i the item difficulties of the population IRT. Prototypes start from k-means of training
learners' embeddings and everything is trained on episodes of training learners.
`profiles()` returns the per-skill P(correct) of a typical item for every prototype (for teachers).

Glossary: B learners, Q query size, P prototypes, E embedding size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.cluster import KMeans
from torch import nn

from metatutor.data.responses import Responses
from metatutor.meta.backbones import DKTBackbone, IRTBackbone, make_backbone, skill_offset
from metatutor.meta.base import ColdStartMethod, Population, episode_auc, validation_episodes
from metatutor.meta.episodes import EpisodeSampler, episode_tensors
from metatutor.meta.gradient import make_config
from metatutor.models.training import BestCheckpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProtoConfig:
    prototypes: int = 16  # P
    embed: int = 32  # E
    meta_steps: int = 1000
    lr: float = 3e-3
    batch_size: int = 64
    ks: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 7, 10, 15, 20)
    query: int = 10
    eval_every: int = 250
    random_state: int | None = 0


class ProtoNet(nn.Module):
    def __init__(self, hidden: int, n_skills: int, difficulty: torch.Tensor, cfg: ProtoConfig) -> None:
        super().__init__()
        self.project = nn.Linear(hidden, cfg.embed)
        self.centres = nn.Parameter(torch.zeros(cfg.prototypes, cfg.embed))  # c_p
        self.log_temperature = nn.Parameter(torch.zeros(()))
        self.level = nn.Parameter(torch.zeros(cfg.prototypes))  # a_p
        self.offsets = nn.Parameter(torch.zeros(cfg.prototypes, n_skills + 2))  # u_p
        self.difficulty = nn.Parameter(difficulty.clone())  # b_i
        self.pad = n_skills + 1

    def weights(self, state: torch.Tensor) -> torch.Tensor:
        """(B, P) mixture weights from knowledge states (B, H)."""
        e = self.project(state)
        return torch.softmax(-torch.cdist(e, self.centres).pow(2) / self.log_temperature.exp(), dim=-1)

    def prototype_logits(self, item: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
        """(B, Q, P) logit of every query position under every prototype."""
        off = torch.vmap(skill_offset, in_dims=(0, None, None), out_dims=-1)(self.offsets, skill, self.pad)
        return self.level + off - self.difficulty[item][..., None]

    def forward(self, state: torch.Tensor, item: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
        """(B, Q) P(correct)."""
        w = self.weights(state)
        return (w[:, None, :] * torch.sigmoid(self.prototype_logits(item, skill))).sum(-1)


class Prototypes(ColdStartMethod):
    name = "proto"

    def __init__(self, **settings: Any) -> None:
        self.config = make_config(ProtoConfig, settings, "proto")

    def _state_after_support(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            _, query = self.encoder_.features(batch)
        return query["h"][:, 0]

    def _fit(self, train: Responses, valid: Responses | None, population: Population) -> None:
        cfg = self.config
        if cfg.random_state is not None:
            torch.manual_seed(cfg.random_state)
        encoder = make_backbone("dkt", population)
        assert isinstance(encoder, DKTBackbone)
        self.encoder_ = encoder.eval()
        irt = make_backbone("irt", population)
        assert isinstance(irt, IRTBackbone)
        self.net_ = ProtoNet(encoder.net.h0.shape[0], encoder.vocab.n_skills, irt.difficulty.detach(), cfg)
        sampler = EpisodeSampler(train, encoder.vocab, max_skills=encoder.max_skills, ks=cfg.ks, query=cfg.query,
                                 batch_size=cfg.batch_size, random_state=cfg.random_state)
        # k-means of the embedded states of a few thousand training episodes start the prototypes
        with torch.no_grad():
            states = torch.cat([self._state_after_support(sampler.sample()[1]) for _ in range(30)])
            e = self.net_.project(states).numpy()
            km = KMeans(cfg.prototypes, n_init=4, random_state=cfg.random_state).fit(e)
            self.net_.centres.copy_(torch.as_tensor(km.cluster_centers_, dtype=torch.float32))
            self.net_.log_temperature.fill_(float(np.log(np.mean(km.transform(e).min(axis=1) ** 2) + 1e-6)))
        opt = torch.optim.Adam(self.net_.parameters(), lr=cfg.lr)
        valid_eps = validation_episodes(valid, query=cfg.query)
        # every check of the validation episodes keeps the best checkpoint; no patience: meta_steps is the budget
        stopper = BestCheckpoint.of(self.net_, score=episode_auc(self, valid_eps), min_delta=0.0)
        for step in range(1, cfg.meta_steps + 1):
            _, batch = sampler.sample()
            p = self.net_(self._state_after_support(batch), batch["q_item"], batch["q_skill"]).clamp(1e-6, 1 - 1e-6)
            m = batch["q_mask"]
            loss = nn.functional.binary_cross_entropy(p[m], batch["q_y"][m])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if valid_eps and step % cfg.eval_every == 0:
                auc = episode_auc(self, valid_eps)
                log.info("proto step %d: valid query AUC %.4f", step, auc)
                stopper.check(auc)
        if not valid_eps:
            stopper.check(None)  # nothing to validate on: keep the last weights
        stopper.restore()

    @torch.no_grad()
    def predict_query(self, support: Responses, query: Responses) -> np.ndarray:
        self._check_fitted()
        batch = episode_tensors(support, query, self.encoder_.vocab, max_skills=self.encoder_.max_skills)
        p = self.net_(self._state_after_support(batch), batch["q_item"], batch["q_skill"])
        out = np.empty(len(query))
        m = batch["q_mask"]
        out[batch["q_rows"][m].numpy()] = p[m].double().numpy()
        return out

    @torch.no_grad()
    def membership(self, support: Responses, query: Responses) -> np.ndarray:
        """(B, P) each learner's weights on the prototypes."""
        batch = episode_tensors(support, query, self.encoder_.vocab, max_skills=self.encoder_.max_skills)
        return self.net_.weights(self._state_after_support(batch)).numpy()

    @torch.no_grad()
    def profiles(self) -> pd.DataFrame:
        """Prototypes x skills: P(correct) on an item of average difficulty, for reading by a teacher."""
        net, vocab = self.net_, self.encoder_.vocab
        logit = net.level[:, None] + net.offsets[:, : vocab.n_skills] - net.difficulty.mean()
        return pd.DataFrame(torch.sigmoid(logit).numpy(), columns=vocab.skill_ids,
                            index=[f"profile {p + 1}" for p in range(len(net.level))])
