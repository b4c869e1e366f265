"""Batched learner models and selectors for adaptive tests over many learners at once (the BOBCAT
protocol): each learner has answered the items in `items[l, :n]`; predict P(correct) on query items.

Glossary: L learners, n answered, Q query items, P pool slots, G grid points.
"""

from __future__ import annotations

from typing import Any, Protocol, Self

import numpy as np
import torch

from metatutor.assessment.bank import ItemBank
from metatutor.assessment.calibration import CalibrationConfig
from metatutor.assessment.irt import GRID, fisher_information, p_correct
from metatutor.assessment.pools import item_skills, shuffled_orders
from metatutor.data.responses import Responses, codes_for
from metatutor.models.base import logit, sigmoid
from metatutor.models.dkt import DKT
from metatutor.models.pairs import PairEffects
from metatutor.models.sequences import candidate_skills
from metatutor.models.training import eval_mode

SEL_GRID = GRID[::2]  # 61 points suffice for batched posteriors


class CATLearners(Protocol):
    name: str

    def fit(self, train: Responses, valid: Responses | None = None) -> Self: ...

    def predict(self, items: np.ndarray, y: np.ndarray, query: np.ndarray) -> np.ndarray:
        """(L, Q) P(correct) of the query items given the answered (items, y) (L, n)."""
        ...


def item_parameters(bank: ItemBank, responses: Responses) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, c) for every item code of `responses`' vocabulary: from the bank, or for an item the bank
    lacks, the mean difficulty of the bank's items of the same first skill (the bank mean otherwise)."""
    n = len(responses.item_ids)
    a, b, c = np.full(n, float(np.median(bank.a))), np.full(n, float(bank.b.mean())), np.full(n, float(bank.c.mean()))
    codes = codes_for(bank.item_ids, responses.item_ids)
    known = codes >= 0
    skill_mean = {}
    if len(bank.skill_ids):
        bank_skill_codes = codes_for(bank.skill_ids, responses.skill_ids)
        sk = bank.skill[known]
        for s in np.unique(sk[sk >= 0]):
            skill_mean[int(bank_skill_codes[s])] = float(bank.b[known][sk == s].mean())
    first = item_skills(responses, missing=-1)
    for item in np.flatnonzero(first >= 0):
        if int(first[item]) in skill_mean:
            b[item] = skill_mean[int(first[item])]
    a[codes[known]], b[codes[known]], c[codes[known]] = bank.a[known], bank.b[known], bank.c[known]
    return a, b, c


class IRTLearners:
    """Calibrated IRT (abilities by EAP on a grid, predictions by the posterior predictive).

    With `taker_prior` (the default), predicting learner l's answer to item j starts from the abilities of
    the learners who answered j in training rather than from N(0, 1): θ | l answers j ~ N(m_j, s²), with m_j
    their mean EAP ability shrunk towards its skill's (`taker_abilities`). Items are not handed out at
    random: a problem that the platform gives to struggling learners is answered by weaker learners than
    its difficulty alone says, and the item's population statistics know it (so does any model that learns
    an item bias from its takers, such as DKT's or BOBCAT's). Only `predict` uses it; `ability`, and hence
    maximum-information selection, keep the N(0, 1) prior.
    """

    def __init__(self, kind: str = "2pl", *, taker_prior: bool = True) -> None:
        self.kind, self.taker_prior = kind, taker_prior
        self.name = f"irt-{kind}"

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        """Calibrate the bank on `train` (marginal MAP by EM). `valid` is accepted for the `CATLearners`
        protocol and not used: calibration has no epochs to stop early."""
        # a skill-centred difficulty prior and a tighter slope prior (most items have a few dozen answers, and
        # maximum information picks the slopes that chance inflated): chosen on fold 1's validation learners
        # of assist2009_pid (docs/benchmarks.md §4a)
        config = CalibrationConfig(max_iter=60, skill_prior=True, log_discrimination_sd=0.3)
        self.bank_ = ItemBank.calibrate(train, kind=self.kind, config=config)
        self.a_, self.b_, self.c_ = item_parameters(self.bank_, train)
        self.taker_mean_, self.taker_sd_ = taker_abilities(train, self.a_, self.b_, self.c_)
        return self

    def log_likelihood(self, items: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(L, G) log-likelihood of the answers over SEL_GRID."""
        p = np.clip(p_correct(SEL_GRID[None, None, :], self.a_[items][..., None], self.b_[items][..., None],
                              self.c_[items][..., None]), 1e-9, 1 - 1e-9)  # (L, n, G)
        return np.asarray(np.where(y[..., None] > 0, np.log(p), np.log1p(-p)).sum(axis=1))

    def log_posterior(self, items: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(L, G) log posterior over SEL_GRID with a N(0, 1) prior."""
        return np.asarray(self.log_likelihood(items, y) - 0.5 * SEL_GRID[None, :] ** 2)

    def posterior(self, items: np.ndarray, y: np.ndarray) -> np.ndarray:
        lp = self.log_posterior(items, y)
        post = np.exp(lp - lp.max(axis=1, keepdims=True))
        return np.asarray(post / post.sum(axis=1, keepdims=True))

    def ability(self, items: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.asarray(self.posterior(items, y) @ SEL_GRID)

    def predict(self, items: np.ndarray, y: np.ndarray, query: np.ndarray) -> np.ndarray:
        p = p_correct(SEL_GRID[None, None, :], self.a_[query][..., None], self.b_[query][..., None],
                      self.c_[query][..., None])  # (L, Q, G)
        if not self.taker_prior:
            return np.asarray(np.einsum("lqg,lg->lq", p, self.posterior(items, y)))
        loglik = self.log_likelihood(items, y)  # (L, G)
        z = (SEL_GRID[None, None, :] - self.taker_mean_[query][..., None]) / self.taker_sd_
        log_post = loglik[:, None, :] - 0.5 * z**2  # (L, Q, G): each query item's own prior
        w = np.exp(log_post - log_post.max(axis=-1, keepdims=True))
        return np.asarray((w * p).sum(-1) / w.sum(-1))


class DKTLearners:
    """DKT as the adaptive test's learner model: the answered items run through the LSTM in the order they
    were asked, and each query item is scored as the next response. Trained on the training learners' answers
    in random orders (`copies` orders per learner, `pools.shuffled_orders`), since a test asks in the
    selector's order, not the platform's; `valid` (in a random order too) early-stops it."""

    name = "dkt"

    def __init__(self, *, copies: int = 2, random_state: int = 0, **settings: Any) -> None:
        self.copies, self.random_state, self.settings = copies, random_state, settings

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        seed = self.random_state
        self.model_ = DKT(random_state=seed, **self.settings).fit(
            shuffled_orders(train, copies=self.copies, seed=seed),
            None if valid is None else shuffled_orders(valid, seed=seed + 1))
        vocab = self.model_.vocab_
        code = codes_for(train.item_ids, vocab.item_ids)  # our item codes -> the model's (-1: unseen)
        self.code_ = np.where(code >= 0, code, vocab.n_items)
        self.skills_ = candidate_skills(np.arange(vocab.n_items + 1), self.model_.item_skills_, vocab)
        return self

    @torch.no_grad()
    def logits(self, items: np.ndarray, y: np.ndarray, query: np.ndarray) -> np.ndarray:
        """(L, Q) logits of the query items after the answered (items, y) (L, n)."""
        net = eval_mode(self.model_.net_)
        n_l = len(items)
        if items.shape[1]:
            codes = self.code_[items]
            _, x = net.inputs(torch.as_tensor(codes), torch.as_tensor(self.skills_[codes]),
                              torch.as_tensor(np.ascontiguousarray(y), dtype=torch.float32))
            h = net.lstm(x)[0][:, -1]  # (L, H) the state after the last answer
        else:
            h = net.h0.expand(n_l, -1)
        codes = self.code_[query]
        out = net.next_logits(h, torch.as_tensor(codes), torch.as_tensor(self.skills_[codes]))
        return np.asarray(out.double().numpy())

    def predict(self, items: np.ndarray, y: np.ndarray, query: np.ndarray) -> np.ndarray:
        return np.asarray(sigmoid(self.logits(items, y, query)))


class BlendLearners:
    """The mean logit of several fitted learner models' predictions (no weights to fit)."""

    def __init__(self, *members: CATLearners) -> None:
        self.members = members
        self.name = "+".join(m.name for m in members)

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        for m in self.members:
            m.fit(train, valid)
        return self

    def predict(self, items: np.ndarray, y: np.ndarray, query: np.ndarray) -> np.ndarray:
        total = sum(logit(m.predict(items, y, query)) for m in self.members)
        return np.asarray(sigmoid(np.asarray(total) / len(self.members)))


class PairLearners:
    """A base learner model plus item-to-item answer effects learned from the training learners: for an
    answered item q and a query item j, among the training learners who answered both, how far q's answer
    moves j's log-odds, logit P(j right | q's answer) - logit P(j right) (shrunk towards no effect by
    `shrink` pseudo-learners). The effects of all answered items are added to the base model's logit
    (`weight` times), as naive Bayes adds evidence. It learns which items go together in ways a
    one-dimensional ability or a sequence model's embeddings miss. Only the answers move the
    prediction: how often two items are answered together (which says something about a learner's
    assignments, not their answers) cancels out of the difference."""

    def __init__(self, base: CATLearners, *, weight: float = 1.0, shrink: float = 10.0, max_per_learner: int = 1000,
                 random_state: int = 0) -> None:
        self.base, self.weight, self.shrink = base, weight, shrink
        self.max_per_learner, self.random_state = max_per_learner, random_state
        self.name = f"{base.name}+pairs"

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        """Count the pairs of the training learners' answers (`PairEffects.count`; the base model must be
        fitted already)."""
        self.table_ = PairEffects.count(train.item, train.correct, train.starts, len(train.item_ids),
                                        shrink=self.shrink, max_per_learner=self.max_per_learner,
                                        random_state=self.random_state)
        return self

    def effects(self, items: np.ndarray, y: np.ndarray, query: np.ndarray) -> np.ndarray:
        """(L, Q) the summed log-odds effects of the answered items on each query item."""
        out = np.zeros(query.shape)
        for t in range(items.shape[1]):
            out += self.table_.lookup(items[:, t : t + 1], y[:, t : t + 1], query)
        return out

    def predict(self, items: np.ndarray, y: np.ndarray, query: np.ndarray) -> np.ndarray:
        total = logit(self.base.predict(items, y, query)) + self.weight * self.effects(items, y, query)
        return np.asarray(sigmoid(total))


def taker_abilities(train: Responses, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, float]:
    """Per item code: the mean EAP ability (N(0, 1) prior, all their answers) of the training learners who
    answered it, shrunk towards the mean of its skill's takers by k pseudo-learners; and the spread s of
    abilities around those means (their EAPs' deviations plus the mean posterior variance). Empirical Bayes,
    nothing tuned: k = σ² / τ², σ² the within-item variance, τ² the between-item variance of the true means
    (method of moments over items with ≥ 5 takers, at least 1% of σ²)."""
    loglik = np.zeros((len(train.learner_ids), len(SEL_GRID)))
    for lo in range(0, len(train), 100_000):  # (rows, G) pieces keep memory flat on large logs
        item, rows = train.item[lo: lo + 100_000], slice(lo, lo + 100_000)
        p = np.clip(p_correct(SEL_GRID[None, :], a[item][:, None], b[item][:, None], c[item][:, None]), 1e-9, 1 - 1e-9)
        np.add.at(loglik, train.learner[rows], np.where(train.correct[rows, None] > 0, np.log(p), np.log1p(-p)))
    log_post = loglik - 0.5 * SEL_GRID[None, :] ** 2
    post = np.exp(log_post - log_post.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    theta = post @ SEL_GRID
    post_var = post @ SEL_GRID**2 - theta**2
    n_items = len(train.item_ids)
    skill = item_skills(train, missing=len(train.skill_ids))  # the last code: no skill
    ability = theta[train.learner]
    count = np.bincount(train.item, minlength=n_items).astype(np.float64)
    raw = np.bincount(train.item, weights=ability, minlength=n_items) / np.maximum(count, 1)
    per_skill = np.bincount(skill[train.item], weights=ability, minlength=len(train.skill_ids) + 1)
    skill_mean = per_skill / np.maximum(np.bincount(skill[train.item], minlength=len(train.skill_ids) + 1), 1)
    base = skill_mean[skill]
    within = float(np.var(ability - raw[train.item]))
    known = count >= 5
    between = float(np.mean((raw - base)[known] ** 2 - within / count[known])) if known.any() else 0.0
    k = within / max(between, 0.01 * within)
    mean = (count * raw + k * base) / (count + k)
    spread = float(np.sqrt(np.var(ability - mean[train.item]) + post_var[train.learner].mean()))
    return mean, spread


def random_choice(available: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(L,) a uniformly random available slot per learner."""
    return np.asarray(np.argmax(np.where(available, rng.random(available.shape), -1.0), axis=1))


def information_choice(model: IRTLearners, items: np.ndarray, y: np.ndarray, pool_item: np.ndarray,
                       available: np.ndarray, *, criterion: str) -> np.ndarray:
    """(L,) the available slot with the most Fisher (mfi) or KL information at each learner's θ̂."""
    theta = model.ability(items, y)[:, None]  # (L, 1)
    a, b, c = model.a_[pool_item], model.b_[pool_item], model.c_[pool_item]
    if criterion == "mfi":
        score = fisher_information(theta, a, b, c)
    else:  # KL index over θ̂ ± 3/√n (Chang & Ying), n answered so far
        delta = 3.0 / np.sqrt(max(items.shape[1], 1))
        offsets = np.linspace(-delta, delta, 9)
        p0 = np.clip(p_correct(theta, a, b, c), 1e-9, 1 - 1e-9)[..., None]
        p1 = np.clip(p_correct(theta[..., None] + offsets, a[..., None], b[..., None], c[..., None]), 1e-9, 1 - 1e-9)
        score = (p0 * np.log(p0 / p1) + (1 - p0) * np.log((1 - p0) / (1 - p1))).mean(axis=-1)
    return np.asarray(np.argmax(np.where(available, score, -np.inf), axis=1))
