"""Gradient-based meta-learning over a learner-specific block φ of a shared backbone.

Pure functions over parameter dicts with `torch.func`: the inner loop takes `steps` gradient steps
on each learner's support log-loss, `vmap(grad(...))` over the learners of a batch:

    φ_learner ← φ_learner - α ⊙ ∇_φ Σ_support BCE(head(shared, φ_learner, support features))

* `maml`: learns the initial φ₀ and the backbone through the inner loop (second order);
* `fomaml`: the same with the inner gradients treated as constants (first order);
* `reptile`: moves φ₀ toward the φ adapted on the whole task (support + query), Nichol et al. 2018;
  the backbone follows the first-order query gradient;
* `metasgd`: MAML with a learned inner learning rate for every entry of φ (Li et al. 2017);
* `amortized`: no inner loop; the backbone is meta-trained on episodes so that its sequence
  encoder adapts in the forward pass (model-based meta-learning);
* `finetune` (baseline): the population model's φ fine-tuned on the support, no meta-training;
* `dkt` (baseline): the population DKT as it is, predicting the query from its state after the support.

Meta-training samples episodes of training learners only; validation learners pick the best
checkpoint (query AUC). Glossary: B learners, k support size, Q query size.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import grad, vmap

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.meta.backbones import Backbone, Block, Features, make_backbone
from metatutor.meta.base import ColdStartMethod, Population, episode_auc, validation_episodes
from metatutor.meta.episodes import Episodes, EpisodeSampler, query_tensors, support_tensors
from metatutor.models.training import BestCheckpoint, eval_mode

log = logging.getLogger(__name__)
METHODS = ("maml", "fomaml", "reptile", "metasgd", "amortized", "finetune", "dkt")


@dataclass(frozen=True)
class AdaptedLearners:
    """Personalised state of some learners: their adapted block φ (B, ...) and the backbone's context
    after their responses (B, C), e.g. the DKT knowledge state."""

    learner_ids: np.ndarray  # (B,)
    phi: dict[str, torch.Tensor]
    context: torch.Tensor


@dataclass(frozen=True)
class MetaConfig:
    backbone: str = "dkt"  # "dkt" or "irt"
    steps: int = 2  # inner gradient steps
    inner_lr: float = 0.1  # α (Meta-SGD: its initial value)
    meta_steps: int = 1000  # outer updates (validation AUC peaks within ~500-1000 on assist2009_pid)
    meta_lr: float = 1e-3  # Adam on φ₀, α and the backbone
    backbone_lr_scale: float = 0.3  # the backbone is pre-trained: it moves slower than φ₀
    batch_size: int = 64  # learners per meta-batch
    ks: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 7, 10, 15, 20)  # support sizes drawn in meta-training
    query: int = 20  # query responses per meta-training episode (chosen on validation learners; the benchmark predicts 10)
    reptile_steps: int = 5  # inner steps on the whole task for Reptile's target
    eval_every: int = 100  # meta-steps between validation checks
    max_seconds: float | None = None
    random_state: int | None = 0


def make_config(cls: Any, settings: dict[str, Any], name: str) -> Any:
    """A config dataclass from keyword settings; unknown names raise a ConfigError that lists the known ones."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(f"{name} has no setting {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**settings)


def support_loss(head: Any, shared: dict[str, torch.Tensor], phi: Block, f: Features) -> torch.Tensor:
    """Summed log-loss of ONE learner's support responses (a pure function of φ)."""
    logit = head(shared, phi, f)
    loss = nn.functional.binary_cross_entropy_with_logits(logit, f["y"], reduction="none")
    return (loss * f["mask"]).sum()


def adapt_block(head: Any, shared: dict[str, torch.Tensor], phi: Block, lr: Block, support: Features, *,
                steps: int, first_order: bool, vectorised: bool = True,
                closed_form: Callable[[Block, Features], Block] | None = None) -> Block:
    """φ after `steps` inner steps on each learner's support; φ and support batched over learners.

    The learners' losses are independent, so the gradient of their sum with respect to the batched
    φ holds each learner's own gradient: `grad` of the per-learner loss `vmap`-ped over learners.
    With `vectorised=False` the head runs on the whole batch at once instead of under `vmap`: the
    same numbers (tested) with less dispatch overhead. `closed_form` (a backbone's `support_grad`)
    replaces autograd altogether where no meta-gradient is needed: serving one learner at a time."""
    if steps == 0 or support["mask"].shape[1] == 0:
        return phi
    if closed_form is not None:
        def step_grad(p: Block) -> Block:
            return closed_form(p, support)
    elif vectorised:
        per_learner = vmap(lambda p, s: support_loss(head, shared, p, s), in_dims=(0, 0), randomness="different")
        step_grad = grad(lambda p: per_learner(p, support).sum())
    else:
        step_grad = grad(lambda p: support_loss(head, shared, p, support))
    for _ in range(steps):
        g = step_grad(phi)
        if first_order:
            g = {name: v.detach() for name, v in g.items()}
        phi = {name: phi[name] - lr[name] * g[name] for name in phi}
    return phi


def query_logits(head: Any, shared: dict[str, torch.Tensor], phi: Block, query: Features, *,
                 vectorised: bool = True) -> torch.Tensor:
    """(B, Q) logits of the query positions from the adapted blocks."""
    if not vectorised:
        return head(shared, phi, query)
    return vmap(lambda p, q: head(shared, p, q), in_dims=(0, 0), randomness="different")(phi, query)


class GradientMeta(ColdStartMethod):
    """MAML / first-order MAML / Reptile / Meta-SGD / amortised / fine-tuning on a backbone."""

    def __init__(self, method: str = "maml", **settings: Any) -> None:
        if method not in METHODS:
            raise ConfigError(f"unknown gradient meta-learning method {method!r}; choose from {', '.join(METHODS)}")
        self.method = method
        self.name = method  # type: ignore[misc]
        defaults: dict[str, Any] = {
            "amortized": {"steps": 0},
            "finetune": {"meta_steps": 0},
            "dkt": {"steps": 0, "meta_steps": 0},  # the population DKT: its state after the support, as is
        }.get(method, {})
        self.config = make_config(MetaConfig, {**settings, **defaults}, method)  # baselines stay baselines

    # ----- parameters ----------------------------------------------------------------------
    def _init_params(self, backbone: Backbone) -> None:
        shapes = backbone.block_shapes()
        self.phi0_ = nn.ParameterDict({n: nn.Parameter(torch.zeros(s)) for n, s in shapes.items()})
        self.log_lr_ = nn.ParameterDict({n: nn.Parameter(torch.full(s, float(np.log(self.config.inner_lr))))
                                         for n, s in shapes.items()})

    def _lr(self) -> Block:
        return {n: p.exp() for n, p in self.log_lr_.items()}

    def _batched_phi0(self, b: int) -> Block:
        return {n: p.expand(b, *p.shape) for n, p in self.phi0_.items()}

    # ----- meta-training ---------------------------------------------------------------------
    def _fit(self, train: Responses, valid: Responses | None, population: Population) -> None:
        cfg = self.config
        if cfg.random_state is not None:
            torch.manual_seed(cfg.random_state)
        self.backbone_ = make_backbone(cfg.backbone, population)
        self._init_params(self.backbone_)
        if cfg.meta_steps == 0:
            self.backbone_.eval()
            return
        groups: list[dict[str, Any]] = [
            {"params": list(self.phi0_.parameters()), "lr": cfg.meta_lr * 10},
            {"params": self.backbone_.meta_parameters(), "lr": cfg.meta_lr * cfg.backbone_lr_scale},
        ]
        if self.method == "metasgd":
            groups.append({"params": list(self.log_lr_.parameters()), "lr": cfg.meta_lr * 10})
        groups = [g for g in groups if g["params"]]
        opt = torch.optim.Adam(groups)
        sampler = EpisodeSampler(train, self.backbone_.vocab, max_skills=self.backbone_.max_skills, ks=cfg.ks,
                                 query=cfg.query, batch_size=cfg.batch_size, random_state=cfg.random_state)
        valid_eps = self._validation_episodes(valid)
        start = self._validate(valid_eps) if valid_eps else -1.0
        # every check of the validation episodes keeps the best checkpoint; no patience: meta_steps is the budget
        stopper = BestCheckpoint(self._state, self._load_state, score=start, min_delta=0.0, max_seconds=cfg.max_seconds)
        self.history_: list[dict[str, float]] = [{"step": 0, "valid_auc": start}]
        for step in range(1, cfg.meta_steps + 1):
            self.backbone_.train()
            _, batch = sampler.sample()
            loss = self._meta_loss(batch)
            opt.zero_grad()
            loss.backward()
            if self.method == "reptile":
                self._reptile_direction(batch)
            nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 5.0)
            opt.step()
            over_time = stopper.out_of_time()
            if valid_eps and (step % cfg.eval_every == 0 or step == cfg.meta_steps or over_time):
                auc = self._validate(valid_eps)
                self.history_.append({"step": step, "valid_auc": auc, "seconds": stopper.seconds()})
                log.info("%s step %d: valid query AUC %.4f", self.method, step, auc)
                stopper.check(auc)
            if over_time:
                break
        if not valid_eps:
            stopper.check(None)  # nothing to validate on: keep the last weights
        stopper.restore()
        self.backbone_.eval()

    def _meta_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        support, query = self.backbone_.features(batch)
        shared = self.backbone_.head_params()
        phi = adapt_block(self.backbone_.head, shared, self._batched_phi0(batch["q_item"].shape[0]), self._lr(),
                          support, steps=self.config.steps, first_order=self.method in ("fomaml", "reptile"))
        logit = query_logits(self.backbone_.head, shared, phi, query)
        loss = nn.functional.binary_cross_entropy_with_logits(logit, query["y"], reduction="none")
        return (loss * query["mask"]).sum() / query["mask"].sum().clamp(min=1.0)

    def _reptile_direction(self, batch: dict[str, torch.Tensor]) -> None:
        """Replace φ₀'s gradient by Reptile's: φ₀ minus the mean φ adapted on support + query."""
        with torch.no_grad():
            support, query = self.backbone_.features(batch)
        task = {n: torch.cat([support[n], query[n]], dim=1) for n in support}
        shared = {n: p.detach() for n, p in self.backbone_.head_params().items()}
        phi0 = {n: p.detach() for n, p in self._batched_phi0(batch["q_item"].shape[0]).items()}
        adapted = adapt_block(self.backbone_.head, shared, phi0, {n: v.detach() for n, v in self._lr().items()},
                              task, steps=self.config.reptile_steps, first_order=True)
        for name, p in self.phi0_.items():
            p.grad = (p.detach() - adapted[name].detach().mean(0)) / (self.config.inner_lr * self.config.reptile_steps)

    # ----- validation and checkpoints -----------------------------------------------------------
    def _validation_episodes(self, valid: Responses | None) -> list[Episodes]:
        return validation_episodes(valid, query=self.config.query)

    def _validate(self, episodes: list[Episodes]) -> float:
        return episode_auc(self, episodes)

    def _state(self) -> dict[str, Any]:
        return copy.deepcopy({"backbone": self.backbone_.state_dict(), "phi0": self.phi0_.state_dict(),
                              "log_lr": self.log_lr_.state_dict()})

    def _load_state(self, state: dict[str, Any]) -> None:
        self.backbone_.load_state_dict(state["backbone"])
        self.phi0_.load_state_dict(state["phi0"])
        self.log_lr_.load_state_dict(state["log_lr"])

    # ----- adaptation and prediction ---------------------------------------------------------------
    def adapt(self, responses: Responses, learners: np.ndarray | None = None) -> AdaptedLearners:
        """The personalised state of each learner from their responses so far: one learner or many.

        `learners` are codes into `responses.learner_ids` (default: the learners with rows); a learner
        without rows gets the meta-learned prior (k = 0)."""
        self._check_fitted()
        bb = eval_mode(self.backbone_)
        codes = responses.learner[responses.starts[:-1]] if learners is None else np.asarray(learners)
        batch = support_tensors(responses, codes, bb.vocab, max_skills=bb.max_skills)
        with torch.no_grad():
            support, context = bb.encode_support(batch)
        with torch.no_grad():
            phi = adapt_block(bb.head, bb.head_params(), self._batched_phi0(len(codes)), self._lr(), support,
                              steps=self.config.steps, first_order=True, closed_form=bb.support_grad)
        return AdaptedLearners(responses.learner_ids[codes], {n: v.detach() for n, v in phi.items()}, context)

    @torch.no_grad()
    def predict_adapted(self, adapted: AdaptedLearners, query: Responses) -> np.ndarray:
        """(N,) P(correct) of each row of `query`, whose learners are those of `adapted`, in that order."""
        bb = eval_mode(self.backbone_)
        batch = query_tensors(query, bb.vocab, max_skills=bb.max_skills)
        if batch["q_item"].shape[0] != len(adapted.learner_ids):
            raise ConfigError("the query must hold rows for exactly the adapted learners, in the same order")
        feats = bb.query_features(adapted.context, batch)
        logit = query_logits(bb.head, bb.head_params(), adapted.phi, feats, vectorised=False)
        out = np.empty(len(query))
        m = batch["q_mask"]
        out[batch["q_rows"][m].numpy()] = torch.sigmoid(logit[m]).double().numpy()
        return out

    def predict_query(self, support: Responses, query: Responses) -> np.ndarray:
        self._check_fitted()
        out = np.empty(len(query))
        for lo in range(0, query.n_learners, 1024):
            hi = min(lo + 1024, query.n_learners)
            part = query if (lo, hi) == (0, query.n_learners) else query.select_rows(
                (query.learner >= query.learner[query.starts[lo]]) & (query.learner <= query.learner[query.starts[hi] - 1]))
            adapted = self.adapt(support, part.learner[part.starts[:-1]])
            out[query.starts[lo] : query.starts[hi]] = self.predict_adapted(adapted, part)
        return out
