"""Honest cold-start baselines built on the population IRT (item difficulties from training learners).

* `population`: no personalisation: P = E[σ(θ - b_i)] over the population's ability distribution;
* `irt`: IRT updating as usual: the grid posterior of θ given the support (EAP predictive);
* `scratch`: the learner's block (ability θ and a logit offset per skill) fitted by maximum likelihood
  on the support alone (a very weak ridge keeps it finite when every answer is right);
* `map`: the same block with the population prior (θ ~ N(0, σ²) from IRT, skill offsets ~ N(0, τ²)):
  a penalised per-learner fit, the pattern FSRS/Anki ship for new users.
The DKT baselines (`dkt`, `finetune`) live in `gradient.py`, beside the methods they compare with.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from metatutor.data.responses import Responses
from metatutor.meta.backbones import make_backbone, skill_offset
from metatutor.meta.base import ColdStartMethod, Population
from metatutor.meta.episodes import episode_tensors
from metatutor.models.base import sigmoid
from metatutor.models.irt import GRID


class IRTPredictive(ColdStartMethod):
    """`population` (support ignored) or `irt` (grid posterior of θ from the support)."""

    def __init__(self, use_support: bool = True) -> None:
        self.use_support = use_support
        self.name = "irt" if use_support else "population"  # type: ignore[misc]

    def predict_query(self, support: Responses, query: Responses) -> np.ndarray:
        self._check_fitted()
        irt = self.population_.irt
        log_post = np.tile(-0.5 * (GRID / irt.prior_sd_) ** 2, (query.n_learners, 1))  # (B, G)
        if self.use_support and len(support):
            b, a = irt._item_parameters(support)
            logit = a[:, None] * (GRID[None, :] - b[:, None])
            y = support.correct[:, None] > 0
            loglik = -np.logaddexp(0.0, np.where(y, -logit, logit))
            learners = query.learner[query.starts[:-1]]
            slot = np.searchsorted(learners, support.learner)
            np.add.at(log_post, slot, loglik)
        post = np.exp(log_post - log_post.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        b, a = irt._item_parameters(query)
        p_grid = sigmoid(a[:, None] * (GRID[None, :] - b[:, None]))  # (N_query, G)
        return np.asarray((np.repeat(post, query.lengths, axis=0) * p_grid).sum(axis=1))


class PenalisedFit(ColdStartMethod):
    """`map` (population prior) or `scratch` (maximum likelihood) fit of θ and per-skill offsets."""

    skill_sd: ClassVar[float] = 0.5  # τ, prior sd of a per-skill offset in `map`

    def __init__(self, prior: bool = True, iterations: int = 50) -> None:
        self.prior, self.iterations = prior, iterations
        self.name = "map" if prior else "scratch"  # type: ignore[misc]

    def _fit(self, train: Responses, valid: Responses | None, population: Population) -> None:
        self.backbone_ = make_backbone("irt", population)
        self.theta_sd_ = population.irt.prior_sd_ if self.prior else 10.0
        self.offset_sd_ = self.skill_sd if self.prior else 10.0

    def predict_query(self, support: Responses, query: Responses) -> np.ndarray:
        self._check_fitted()
        bb = self.backbone_
        batch = episode_tensors(support, query, bb.vocab, max_skills=bb.max_skills)
        with torch.no_grad():
            s, q = bb.features(batch)
        n = batch["q_item"].shape[0]
        theta = torch.zeros(n, requires_grad=True)
        offsets = torch.zeros(n, bb.vocab.n_skills + 2, requires_grad=True)

        def logits(f: dict[str, Any]) -> torch.Tensor:
            return theta[:, None] - f["b"] + torch.vmap(skill_offset, in_dims=(0, 0, None))(offsets, f["skill"], bb.pad)

        if s["mask"].shape[1]:
            # the loss is a sum of independent per-learner terms: one L-BFGS run fits every learner
            opt = torch.optim.LBFGS([theta, offsets], max_iter=self.iterations, line_search_fn="strong_wolfe")

            def closure() -> torch.Tensor:
                opt.zero_grad()
                nll = torch.nn.functional.binary_cross_entropy_with_logits(logits(s), s["y"], reduction="none")
                loss = (nll * s["mask"]).sum() + 0.5 * (theta / self.theta_sd_).pow(2).sum()
                loss = loss + 0.5 * (offsets / self.offset_sd_).pow(2).sum()
                loss.backward()
                return loss

            opt.step(closure)
        with torch.no_grad():
            p = torch.sigmoid(logits(q))
        out = np.empty(len(query))
        m = batch["q_mask"]
        out[batch["q_rows"][m].numpy()] = p[m].double().numpy()
        return out
