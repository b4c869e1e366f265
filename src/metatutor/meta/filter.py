"""`MetaFilter`: a learner block φ on the population DKT, tracked by a Gaussian filter whose prior and
drift are meta-learned over learners-as-tasks (`metatutor.meta.filtering` has the maths).

Meta-training samples episodes of training learners (support = the first k answers, query = the next
`query`); the filter runs over the support, answer by answer, then predicts the query. The loss is the
query's log-loss (k-shot: answers ahead without feedback) plus `online_weight` times the log-loss of
the filter's own prediction of each support answer from the ones before it (online: the next answer),
so one model is trained for both. Learned: the prior mean μ₀ and variance σ₀² of every entry of φ,
the drift per block, the backbone's "steps ahead" vectors and IRT weight, and (at `backbone_lr_scale`)
the DKT itself, item parameters excepted. Validation learners pick the checkpoint (the mean of their
k-shot AUC and their online AUC over the first 10 answers).

Unlike the gradient meta-learners (`gradient.py`), adaptation is one O(|φ|) step per answer, the same
for a history replayed and for answers as they arrive, and the belief carries its own uncertainty.

Glossary: B learners, k support size, Q query size, H hidden size, S skills.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.meta.backbones import DKTBackbone, make_backbone
from metatutor.meta.base import ColdStartMethod, Population, episode_auc, validation_episodes
from metatutor.meta.episodes import EpisodeSampler, query_tensors, support_tensors
from metatutor.meta.filtering import (
    Block,
    Features,
    encode_sequences,
    logit_and_spread,
    masked_bce,
    moderated,
    right_aligned,
    run_filter,
)
from metatutor.meta.gradient import make_config
from metatutor.models.training import BestCheckpoint, eval_mode

log = logging.getLogger(__name__)
BLOCKS = ("bias", "skill", "state")


@dataclass(frozen=True)
class FilterConfig:
    blocks: tuple[str, ...] = ("bias", "skill")  # which parts of φ the filter tracks (any of BLOCKS)
    prior_var: float = 0.3  # σ₀² of every entry before meta-training
    drift: float = 1e-3  # variance added per answer before meta-training
    meta_steps: int = 1000  # outer updates
    meta_lr: float = 1e-3  # Adam on the prior and the backbone
    backbone_lr_scale: float = 0.3  # the backbone is pre-trained: it moves slower (0: frozen)
    batch_size: int = 64  # learners per meta-batch
    ks: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 7, 10, 15, 20)  # support sizes drawn in meta-training
    query: int = 20  # query answers per meta-training episode
    online_weight: float = 3.0  # weight of the support answers' online log-loss (1 / 3 / 5 compared on validation)
    early_buckets: tuple[int, ...] = ()  # where an item's "early" difficulty changes (learner positions); (): off
    early_prior: float = 20.0  # pseudo-answers shrinking an item's early rate toward its overall rate
    eval_every: int = 100  # meta-steps between validation checks
    max_seconds: float | None = None
    random_state: int | None = 0


@dataclass(frozen=True)
class FilteredLearners:
    """The belief about some learners after their answers: φ's mean and variance per block (B, ...),
    and the DKT state (B, H) that predicts their next answer."""

    learner_ids: np.ndarray  # (B,)
    mu: Block
    var: Block
    context: torch.Tensor
    answers: torch.Tensor  # (B,) answers seen (the position of the next one)


class MetaFilter(ColdStartMethod):
    """See the module docstring."""

    name = "metafilter"

    def __init__(self, **settings: Any) -> None:
        self.config: FilterConfig = make_config(FilterConfig, settings, "metafilter")
        bad = sorted(set(self.config.blocks) - set(BLOCKS))
        if bad or not self.config.blocks:
            raise ConfigError(f"metafilter blocks must be some of {', '.join(BLOCKS)}; got {self.config.blocks}")

    # ----- parameters ----------------------------------------------------------------------------
    def _init_params(self, backbone: DKTBackbone) -> None:
        shapes = {"bias": (1,), "skill": (backbone.vocab.n_skills + 2,), "state": (backbone.net.h0.shape[0],)}
        blocks = self.config.blocks
        self.mu0_ = nn.ParameterDict({n: nn.Parameter(torch.zeros(shapes[n])) for n in blocks})
        self.log_var0_ = nn.ParameterDict({n: nn.Parameter(torch.full(shapes[n], math.log(self.config.prior_var)))
                                           for n in blocks})
        self.log_drift_ = nn.ParameterDict({n: nn.Parameter(torch.tensor(math.log(self.config.drift))) for n in blocks})

    def prior(self, b: int) -> tuple[Block, Block]:
        """μ₀ and σ₀² for b learners."""
        mu = {n: p.expand(b, *p.shape) for n, p in self.mu0_.items()}
        var = {n: p.exp().expand(b, *p.shape) for n, p in self.log_var0_.items()}
        return mu, var

    def drift(self) -> Block:
        return {n: p.exp() for n, p in self.log_drift_.items()}

    def _init_early(self, train: Responses, backbone: DKTBackbone) -> None:
        """Each item's difficulty where it comes early in a learner's history: per position bucket, the
        training learners' shrunk log-odds of a right answer there minus the item's overall one (a
        learned weight per bucket scales it)."""
        edges = np.asarray(self.config.early_buckets, dtype=np.int64)
        self.early_edges_ = torch.as_tensor(edges)
        if not len(edges):
            return
        item, y = backbone.vocab.items(train), train.correct.astype(np.float64)
        bucket = np.searchsorted(edges, train.order, side="right")
        size, nb, a = backbone.vocab.n_items + 1, len(edges) + 1, self.config.early_prior
        n = np.bincount(item, minlength=size).astype(np.float64)
        rate = (np.bincount(item, y, minlength=size) + a * y.mean()) / (n + a)
        key = item * nb + bucket
        n_b = np.bincount(key, minlength=size * nb).reshape(size, nb)
        r_b = np.bincount(key, y, minlength=size * nb).reshape(size, nb)
        rate_b = (r_b + a * rate[:, None]) / (n_b + a)
        table = np.log(rate_b / (1 - rate_b)) - np.log(rate / (1 - rate))[:, None]
        self.early_ = torch.as_tensor(table, dtype=torch.float32)  # (n_items + 1, nb)
        self.early_w_ = nn.Parameter(torch.zeros(nb))

    def early_offset(self, item: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """(B, T) the early-difficulty term of items (B, T) answered at learner positions (B, T)."""
        if not len(self.early_edges_):
            return torch.zeros(item.shape)
        bucket = torch.bucketize(position.contiguous(), self.early_edges_, right=True)
        return self.early_w_[bucket] * self.early_[item, bucket]

    # ----- the filter on batches -----------------------------------------------------------------------
    def _support_features(self, batch: dict[str, torch.Tensor]) -> tuple[Features, torch.Tensor]:
        """Support features (right-aligned: see `filtering.right_aligned`) with the "next answer" vector
        added to each question (the filter predicts every support answer as the next one), and the DKT
        state after the support."""
        bb = self.backbone_
        s = right_aligned(batch)
        position = torch.arange(s["s_item"].shape[1])[None, :].expand_as(s["s_item"])
        beta = bb._item_offset(s["s_item"]) + self.early_offset(s["s_item"], position)
        return encode_sequences(bb.net, s["s_item"], s["s_skill"], s["s_y"], s["s_mask"], ahead=bb.ahead.weight[0],
                                beta=beta)

    def _query_features(self, context: torch.Tensor, batch: dict[str, torch.Tensor], answers: torch.Tensor) -> Features:
        """Query features; the query's positions start after each learner's `answers` (B,)."""
        f = self.backbone_.query_features(context, batch)
        position = answers[:, None] + torch.arange(batch["q_item"].shape[1])[None, :]
        return {**f, "beta": f["beta"] + self.early_offset(batch["q_item"], position)}

    def _filter(self, batch: dict[str, torch.Tensor]) -> tuple[Block, Block, torch.Tensor, Features, torch.Tensor]:
        support, context = self._support_features(batch)
        mu, var = self.prior(batch["s_item"].shape[0])
        mu, var, online = run_filter(self.backbone_.net.out, mu, var, support, self.drift(), self.backbone_.pad)
        return mu, var, online, support, context

    def _meta_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        mu, var, online, support, context = self._filter(batch)
        query = self._query_features(context, batch, batch["s_mask"].sum(1))
        z, s, _ = logit_and_spread(self.backbone_.net.out, mu, var, query, self.backbone_.pad)
        loss = masked_bce(moderated(z, s), query["y"], query["mask"])
        if self.config.online_weight and support["mask"].shape[1]:
            loss = loss + self.config.online_weight * masked_bce(online, support["y"], support["mask"])
        return loss

    # ----- meta-training -----------------------------------------------------------------------------
    def _fit(self, train: Responses, valid: Responses | None, population: Population) -> None:
        cfg = self.config
        if cfg.random_state is not None:
            torch.manual_seed(cfg.random_state)
        backbone = make_backbone("dkt", population)
        assert isinstance(backbone, DKTBackbone)
        self.backbone_ = backbone
        self._init_params(backbone)
        self._init_early(train, backbone)
        early = [self.early_w_] if len(cfg.early_buckets) else []
        groups: list[dict[str, Any]] = [
            {"params": [*self.mu0_.parameters(), *self.log_var0_.parameters(), *self.log_drift_.parameters(), *early],
             "lr": cfg.meta_lr * 10},
            {"params": [backbone.ahead.weight, backbone.irt_weight], "lr": cfg.meta_lr},
        ]
        if cfg.backbone_lr_scale > 0:
            rest = [p for p in backbone.meta_parameters() if p is not backbone.ahead.weight and p is not backbone.irt_weight]
            groups.append({"params": rest, "lr": cfg.meta_lr * cfg.backbone_lr_scale})
        opt = torch.optim.Adam(groups)
        sampler = EpisodeSampler(train, backbone.vocab, max_skills=backbone.max_skills, ks=cfg.ks, query=cfg.query,
                                 batch_size=cfg.batch_size, random_state=cfg.random_state)
        valid_eps = validation_episodes(valid, query=10)
        valid_online = valid.first_k(10) if valid is not None and len(valid) else None
        start = self._validate(valid_eps, valid_online) if valid_eps else -1.0
        stopper = BestCheckpoint(self._state, self._load_state, score=start, min_delta=0.0, max_seconds=cfg.max_seconds)
        self.history_: list[dict[str, float]] = [{"step": 0, "valid_score": start}]
        params = [p for g in groups for p in g["params"]]
        for step in range(1, cfg.meta_steps + 1):
            backbone.train()
            _, batch = sampler.sample()
            loss = self._meta_loss(batch)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            over_time = stopper.out_of_time()
            if valid_eps and (step % cfg.eval_every == 0 or step == cfg.meta_steps or over_time):
                score = self._validate(valid_eps, valid_online)
                self.history_.append({"step": step, "valid_score": score, "seconds": stopper.seconds()})
                log.info("metafilter step %d: validation score %.4f", step, score)
                stopper.check(score)
            if over_time:
                break
        if not valid_eps:
            stopper.check(None)
        stopper.restore()
        backbone.eval()

    def _validate(self, episodes: list[Any], online: Responses | None) -> float:
        """The mean of the k-shot AUC of the validation episodes and the validation learners' online AUC
        over their first 10 answers."""
        auc = episode_auc(self, episodes)
        if online is None:
            return auc
        p = self.online_predictions(online)
        return 0.5 * (auc + float(roc_auc_score(online.correct, p)))

    def _state(self) -> dict[str, Any]:
        return copy.deepcopy({"backbone": self.backbone_.state_dict(), "mu0": self.mu0_.state_dict(),
                              "log_var0": self.log_var0_.state_dict(), "log_drift": self.log_drift_.state_dict(),
                              "early_w": self.early_w_.detach().clone() if len(self.early_edges_) else None})

    def _load_state(self, state: dict[str, Any]) -> None:
        self.backbone_.load_state_dict(state["backbone"])
        self.mu0_.load_state_dict(state["mu0"])
        self.log_var0_.load_state_dict(state["log_var0"])
        self.log_drift_.load_state_dict(state["log_drift"])
        if state["early_w"] is not None:
            with torch.no_grad():
                self.early_w_.copy_(state["early_w"])

    # ----- prediction ----------------------------------------------------------------------------------
    @torch.no_grad()
    def adapt(self, responses: Responses, learners: np.ndarray | None = None) -> FilteredLearners:
        """The belief about each learner after their responses (learner codes into
        `responses.learner_ids`; default: those with rows; none: the prior)."""
        self._check_fitted()
        bb = eval_mode(self.backbone_)
        codes = responses.learner[responses.starts[:-1]] if learners is None else np.asarray(learners)
        batch = support_tensors(responses, codes, bb.vocab, max_skills=bb.max_skills)
        mu, var, _, _, context = self._filter(batch)
        return FilteredLearners(responses.learner_ids[codes], mu, var, context, batch["s_mask"].sum(1))

    @torch.no_grad()
    def predict_adapted(self, adapted: FilteredLearners, query: Responses) -> np.ndarray:
        """(N,) P(correct) of each row of `query` (its learners those of `adapted`, in order), the
        query positions lying 0, 1, ... answers ahead."""
        bb = eval_mode(self.backbone_)
        batch = query_tensors(query, bb.vocab, max_skills=bb.max_skills)
        if batch["q_item"].shape[0] != len(adapted.learner_ids):
            raise ConfigError("the query must hold rows for exactly the adapted learners, in the same order")
        f = self._query_features(adapted.context, batch, adapted.answers)
        z, s, _ = logit_and_spread(bb.net.out, adapted.mu, adapted.var, f, bb.pad)
        out = np.empty(len(query))
        m = batch["q_mask"]
        out[batch["q_rows"][m].numpy()] = torch.sigmoid(moderated(z, s)[m]).double().numpy()
        return out

    def predict_query(self, support: Responses, query: Responses) -> np.ndarray:
        self._check_fitted()
        out = np.empty(len(query))
        for lo in range(0, query.n_learners, 1024):
            hi = min(lo + 1024, query.n_learners)
            part = query if (lo, hi) == (0, query.n_learners) else query.select_rows(
                (query.learner >= query.learner[query.starts[lo]]) & (query.learner <= query.learner[query.starts[hi] - 1]))
            adapted = self.adapt(support, part.learner[part.starts[:-1]])
            out[query.starts[lo]: query.starts[hi]] = self.predict_adapted(adapted, part)
        return out

    @torch.no_grad()
    def online_predictions(self, responses: Responses) -> np.ndarray:
        """(N,) P(correct) of every response from the same learner's earlier ones, in one pass: the
        filter's own prediction of each answer before it sees it."""
        self._check_fitted()
        bb = eval_mode(self.backbone_)
        out = np.empty(len(responses))
        for lo in range(0, responses.n_learners, 512):
            codes = responses.learner[responses.starts[lo: min(lo + 512, responses.n_learners)]]
            part = responses.select_rows(np.isin(responses.learner, codes))
            batch = support_tensors(part, codes, bb.vocab, max_skills=bb.max_skills)
            _, _, online, _, _ = self._filter(batch)  # right-aligned: position j is each learner's answer j
            pos = np.arange(online.shape[1])[None, :]
            rows = part.starts[:-1][:, None] + pos
            keep = pos < part.lengths[:, None]
            out[responses.starts[lo] + rows[keep]] = torch.sigmoid(online).double().numpy()[keep]
        return out
