"""Training with differential privacy: DP-SGD through Opacus, with the learner as the privacy unit.

`fit_private(model, train, valid, PrivacyConfig(epsilon=3))` fits a DKT, an attention model, an IRT or an
ensemble of them so that the fitted weights are (ε, δ)-differentially private with respect to any one
training learner (adding or removing all of that learner's answers), and returns a `PrivacyReport`
(what `metatutor train --dp-epsilon` writes into `training.json`).

The mechanism, per optimiser step:
* Poisson sampling: every training learner joins the step independently with probability q = batch / n;
* each sampled learner contributes the gradient of the log-loss over ONE window of up to `window`
  consecutive answers (a window drawn afresh each time; the whole sequence when it is shorter), computed
  per learner with `torch.func` (`vmap` of `grad`; the DKT's LSTM runs as `LoopLSTM`, which `vmap` can
  batch, on the same weights);
* Opacus' `DPOptimizer` clips each learner's gradient to L2 norm C, adds Gaussian noise σ·C to the sum,
  divides by the expected batch and steps Adam; Opacus' RDP accountant counts every step.
σ is calibrated before training so that the planned steps of every member together spend the target ε
(an ensemble's members share the budget: their steps compose); early stopping may spend less, and the
report gives what was spent. δ defaults to 1 / (training learners).

What the guarantee covers, and what it does not: it covers the training learners. The validation
learners early-stop the fit and fit an ensemble's stacking weights from their answers, so they are not
covered (keep them out of the training population, as `metatutor train` does). The item and skill
vocabulary and the item-skill tagging are treated as public (they are the content bank, not learner data);
nothing else is read from the training answers: the item biases start at zero rather than at their
observed log-odds. By default no per-item parameter is learned (`item_offsets=False`): items are
represented by their skills, because a per-item parameter gets the answers of a handful of learners per
step, which the noise swamps.

Example:
    >>> from metatutor.data.simulator import Simulator
    >>> from metatutor.models import make_model
    >>> r = Simulator(random_state=0).simulate(200, (20, 40))
    >>> report = fit_private(make_model("irt"), r, None, PrivacyConfig(epsilon=8.0, epochs=2))
    >>> report.epsilon <= 8.0
    True

Glossary: B learners in a step, T answers in a window, K skills per answer, G grid points, H hidden size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.models.base import LearnerModel, Vocabulary
from metatutor.models.sequences import Encoded, encode, item_skill_table

log = logging.getLogger(__name__)
Batch = dict[str, torch.Tensor]
CHUNK = 64  # learners whose per-learner gradients are computed at once (memory: CHUNK x parameters)


@dataclass(frozen=True)
class PrivacyConfig:
    """Settings of a private fit. The learning rate and epochs were chosen on the validation learners of
    assist2009_pid fold 1 with DKT at ε = 3 (validation AUC): lr 3e-3 / 1e-2 / 3e-2 over 10 epochs gave
    0.668 / 0.699 / 0.651, and 20 epochs at 1e-2 0.695 (more steps need more noise for the same ε)."""

    epsilon: float  # target ε of the whole fit (every member of an ensemble together)
    delta: float | None = None  # None: 1 / (training learners)
    max_grad_norm: float = 1.0  # C: each learner's gradient is clipped to this L2 norm per step
    batch_size: int = 256  # expected learners per step (sampling rate q = batch_size / learners)
    epochs: int = 10  # planned passes over the learners (1 / q steps each); early stopping may stop sooner
    window: int = 200  # answers of a learner per step (a random window of consecutive answers)
    lr: float | None = 1e-2  # Adam's learning rate (None: the model's own); see `PrivacyConfig`'s docstring
    item_offsets: bool = False  # learn per-item parameters too (see the module docstring)
    patience: int = 3  # epochs without a better validation AUC before stopping
    accountant: str = "rdp"  # Opacus accountant: "rdp" or "prv"
    seed: int = 0


@dataclass
class PrivacyReport:
    """What a private fit spent: (ε, δ) for one training learner, and how."""

    epsilon: float  # spent (≤ the target)
    delta: float
    target_epsilon: float
    noise_multiplier: float  # σ
    max_grad_norm: float  # C
    sample_rate: float  # q
    steps: int  # optimiser steps taken, all members together
    learners: int  # training learners (the population the guarantee is about)
    accountant: str
    mechanism: str = "DP-SGD (Opacus DPOptimizer: per-learner clipping, Gaussian noise; Poisson sampling)"
    unit: str = "learner"
    not_covered: str = "the validation learners (they early-stop the fit and fit an ensemble's stacking weights)"
    members: list[dict[str, Any]] = field(default_factory=list)  # per member: name, steps, epochs
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LoopLSTM(nn.Module):
    """A one-layer, batch-first `nn.LSTM` as a loop over time with a hand-written backward (`LSTMLoop`),
    on the very same parameters (same names, so state dicts are interchangeable). `torch.func.vmap` has no
    batching rule for the fused LSTM kernel; under `vmap(grad(...))` this one batches, and its backward
    forms each learner's weight gradient with one product over time instead of one per step."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        if lstm.num_layers != 1 or lstm.bidirectional or not lstm.batch_first or lstm.proj_size or not lstm.bias:
            raise ConfigError("LoopLSTM replaces one-layer, one-way, batch-first LSTMs with biases only")
        self.hidden_size = lstm.hidden_size
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            self.register_parameter(name, getattr(lstm, name))  # shared, not copied

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B, T, D) -> outputs (B, T, H) and the final (h, c), each (1, B, H), as `nn.LSTM`."""
        w_ih, w_hh, b_ih, b_hh = (torch.as_tensor(getattr(self, n)) for n in
                                  ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"))
        zeros = x.new_zeros(x.shape[0], self.hidden_size)
        h0, c0 = (zeros, zeros) if state is None else (state[0][0], state[1][0])
        hs, cs, _ = LSTMLoop.apply(x, h0, c0, w_ih, w_hh, b_ih + b_hh)
        return hs, (hs[:, -1][None], cs[:, -1][None])


class LSTMLoop(torch.autograd.Function):
    """The LSTM recurrence, forward and backward by hand (gate order i, f, g, o as in torch):
    a_t = x_t W_ih' + b + h_(t-1) W_hh';  c_t = σ(f) c_(t-1) + σ(i) tanh(g);  h_t = σ(o) tanh(c_t).
    The backward runs back through time collecting dL/da (B, T, 4H), then the weight gradients are two
    products over time. `generate_vmap_rule`: functorch batches it like any composite."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
                bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, D), h0 and c0 (B, H) -> h (B, T, H), c (B, T, H), gate activations (B, T, 4H)."""
        gates_x = x @ w_ih.T + bias  # (B, T, 4H)
        h, c = h0, c0
        hs, cs, acts = [], [], []
        for t in range(x.shape[1]):
            i, f, g, o = (gates_x[:, t] + h @ w_hh.T).chunk(4, dim=-1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = f * c + i * g
            h = o * torch.tanh(c)
            hs.append(h)
            cs.append(c)
            acts.append(torch.cat([i, f, g, o], dim=-1))
        return torch.stack(hs, 1), torch.stack(cs, 1), torch.stack(acts, 1)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
        x, h0, c0, w_ih, w_hh, _ = inputs
        hs, cs, acts = output
        ctx.mark_non_differentiable(acts)
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, hs, cs, acts)

    @staticmethod
    def backward(ctx: Any, d_hs: torch.Tensor, d_cs: torch.Tensor, _: Any) -> tuple[torch.Tensor, ...]:
        x, h0, c0, w_ih, w_hh, hs, cs, acts = ctx.saved_tensors
        h_prev = torch.cat([h0[:, None], hs[:, :-1]], 1)  # (B, T, H)
        c_prev = torch.cat([c0[:, None], cs[:, :-1]], 1)
        dh, dc = torch.zeros_like(h0), torch.zeros_like(c0)
        das = []
        for t in range(x.shape[1] - 1, -1, -1):
            i, f, g, o = acts[:, t].chunk(4, dim=-1)
            dh_t = d_hs[:, t] + dh
            tanh_c = torch.tanh(cs[:, t])
            dc_t = d_cs[:, t] + dc + dh_t * o * (1 - tanh_c * tanh_c)
            da = torch.cat([dc_t * g * i * (1 - i), dc_t * c_prev[:, t] * f * (1 - f), dc_t * i * (1 - g * g),
                            dh_t * tanh_c * o * (1 - o)], dim=-1)  # (B, 4H)
            dh, dc = da @ w_hh, dc_t * f
            das.append(da)
        d_a = torch.stack(das[::-1], 1)  # (B, T, 4H)
        return (d_a @ w_ih, dh, dc, torch.einsum("btg,btd->gd", d_a, x), torch.einsum("btg,bth->gh", d_a, h_prev),
                d_a.sum((0, 1)))


# ----- accounting -------------------------------------------------------------------------------------
def _accountant(name: str) -> Any:
    from opacus.accountants import create_accountant

    if name not in ("rdp", "prv"):
        raise ConfigError(f"the accountant must be 'rdp' or 'prv', not {name!r}")
    return create_accountant(mechanism=name)


# RDP orders searched for the tightest (ε, δ): Opacus' defaults and larger ones, so that small noise over few
# steps (a large ε) is not bounded loosely by the largest default order
ALPHAS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 1024))


def spent(accountant: Any, delta: float, name: str = "rdp") -> float:
    """ε an accountant has spent at `delta`."""
    return float(accountant.get_epsilon(delta=delta, **({"alphas": ALPHAS} if name == "rdp" else {})))


def epsilon_of(noise_multiplier: float, sample_rate: float, steps: int, delta: float, *,
               accountant: str = "rdp") -> float:
    """ε spent by `steps` Poisson-sampled Gaussian steps (rate `sample_rate`, noise σ) at `delta`."""
    acc = _accountant(accountant)
    acc.history = [(noise_multiplier, sample_rate, steps)]
    return spent(acc, delta, accountant)


def calibrate_noise(epsilon: float, delta: float, sample_rate: float, steps: int, *,
                    accountant: str = "rdp") -> float:
    """The σ at which `steps` steps at `sample_rate` spend `epsilon` (Opacus' bisection)."""
    import warnings

    from opacus.accountants.utils import get_noise_multiplier

    if epsilon <= 0 or not 0 < delta < 1:
        raise ConfigError(f"differential privacy needs ε > 0 and 0 < δ < 1, not ε={epsilon}, δ={delta}")
    extra = {"alphas": ALPHAS} if accountant == "rdp" else {}
    with warnings.catch_warnings():  # the bisection's far-off candidates may sit at the end of the orders
        warnings.filterwarnings("ignore", message="Optimal order is the", category=UserWarning)
        sigma = float(get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate,
                                           steps=steps, accountant=accountant, epsilon_tolerance=0.005, **extra))
    return sigma


# ----- per-learner gradients --------------------------------------------------------------------------
def learner_windows(lengths: np.ndarray, learners: np.ndarray, window: int, rng: np.random.Generator) -> np.ndarray:
    """(B, 4) rows (learner, start, end, 0): one window of up to `window` consecutive answers per learner,
    its start drawn uniformly (the whole sequence when it is shorter)."""
    n = lengths[learners]
    start = (rng.random(len(learners)) * np.maximum(n - window + 1, 1)).astype(np.int64)
    return np.stack([learners, start, start + np.minimum(n, window), np.zeros_like(n)], axis=1).astype(np.int64)


def per_learner_grads(net: nn.Module, names: list[str], batch: Batch,
                      loss_of: Callable[[Any, Batch], torch.Tensor]) -> dict[str, torch.Tensor]:
    """{name: (B, *shape)} the gradient of each learner's loss (`loss_of(output of net on a batch of one,
    that batch)`) with respect to the parameters `names`; `batch` holds one row per learner."""
    params = {n: p.detach() for n, p in net.named_parameters()}
    trainable = {n: params[n] for n in names}
    fixed = {n: p for n, p in params.items() if n not in trainable} | dict(net.named_buffers())

    def loss(tr: dict[str, torch.Tensor], one: Batch) -> torch.Tensor:
        one = {k: v[None] for k, v in one.items()}
        return loss_of(functional_call(net, {**tr, **fixed}, (one,)), one)

    return dict(vmap(grad(loss), in_dims=(None, 0), randomness="different")(trainable, batch))


def _chunked_grads(net: nn.Module, names: list[str], rows: np.ndarray, make: Callable[[np.ndarray], Batch],
                   loss_of: Callable[[Any, Batch], torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-learner gradients of the windows `rows`, grouped by length and `CHUNK` learners at a time."""
    order = rows[np.argsort(rows[:, 2] - rows[:, 1], kind="stable")]
    parts: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    for lo in range(0, len(order), CHUNK):
        for n, g in per_learner_grads(net, names, make(order[lo : lo + CHUNK]), loss_of).items():
            parts[n].append(g)
    shapes = dict(net.named_parameters())
    return {n: torch.cat(v) if v else torch.zeros((0, *shapes[n].shape)) for n, v in parts.items()}


# ----- the private fits ---------------------------------------------------------------------------------
@dataclass
class _Run:
    """The shared state of one private fit: the noise, the sampling rate, the accountant, the rng."""

    privacy: PrivacyConfig
    sigma: float
    rate: float
    accountant: Any
    rng: np.random.Generator
    steps_per_epoch: int
    steps: int = 0  # taken so far (the RDP accountant merges equal steps into one history entry)
    members: list[dict[str, Any]] = field(default_factory=list)

    def sample(self, n: int) -> np.ndarray:
        """The learners of one step (Poisson sampling)."""
        return np.flatnonzero(self.rng.random(n) < self.rate)

    def optimizer(self, groups: list[dict[str, Any]]) -> Any:
        from opacus.optimizers import DPOptimizer

        generator = torch.Generator().manual_seed(int(self.rng.integers(2**62)))
        return DPOptimizer(torch.optim.Adam(groups), noise_multiplier=self.sigma,
                           max_grad_norm=self.privacy.max_grad_norm, expected_batch_size=self.privacy.batch_size,
                           generator=generator)

    def step(self, optimizer: Any, params: dict[str, nn.Parameter], grads: dict[str, torch.Tensor]) -> None:
        """One noisy step: Opacus clips each learner's gradient, adds noise and steps; the accountant counts it."""
        optimizer.zero_grad()
        for n, p in params.items():
            p.grad_sample = grads[n]  # type: ignore[attr-defined]  # what Opacus clips and noises
        optimizer.step()
        self.accountant.step(noise_multiplier=self.sigma, sample_rate=self.rate)
        self.steps += 1


def fit_private(model: LearnerModel, train: Responses, valid: Responses | None,
                privacy: PrivacyConfig) -> PrivacyReport:
    """Fit `model` (dkt, attn, irt or an ensemble of them) on `train` with DP-SGD; see the module docstring.
    Returns what was spent. Raises `ConfigError` for models DP-SGD cannot train (bkt, pfa, bestlr, pairs)."""
    from metatutor.models.ensemble import EnsembleKT
    from metatutor.models.irt import IRT
    from metatutor.models.sequence_base import SequenceKT

    members: list[LearnerModel] = model._new_members() if isinstance(model, EnsembleKT) else [model]
    unsupported = sorted({m.name for m in members if not isinstance(m, (SequenceKT, IRT))})
    if unsupported:
        raise ConfigError(f"differential privacy trains dkt, attn, irt and their ensembles; not {', '.join(unsupported)}")
    n = train.n_learners
    if privacy.batch_size >= n:
        raise ConfigError(f"a private batch of {privacy.batch_size} learners needs more than {n} training learners")
    delta = privacy.delta if privacy.delta is not None else 1.0 / n
    rate = privacy.batch_size / n
    steps_per_epoch = max(1, round(1.0 / rate))
    planned = steps_per_epoch * privacy.epochs * len(members)
    sigma = calibrate_noise(privacy.epsilon, delta, rate, planned, accountant=privacy.accountant)
    log.info("DP-SGD: σ = %.3f for ε = %g, δ = %.2g, q = %.4f, %d steps", sigma, privacy.epsilon, delta, rate, planned)
    torch.manual_seed(privacy.seed)
    run = _Run(privacy, sigma, rate, _accountant(privacy.accountant), np.random.default_rng(privacy.seed),
               steps_per_epoch)
    for member in members:
        started = time.perf_counter()
        taken = run.steps
        if isinstance(member, IRT):
            _fit_irt(member, train, valid, run)
        else:
            _fit_sequence(member, train, valid, run)
        run.members.append({"model": member.name, "steps": run.steps - taken,
                            "seconds": round(time.perf_counter() - started, 1)})
    if isinstance(model, EnsembleKT):
        _stack(model, members, valid)
    steps = run.steps
    return PrivacyReport(epsilon=spent(run.accountant, delta, privacy.accountant) if steps else 0.0, delta=delta,
                         target_epsilon=privacy.epsilon, noise_multiplier=sigma, max_grad_norm=privacy.max_grad_norm,
                         sample_rate=rate, steps=steps, learners=n, accountant=privacy.accountant,
                         members=run.members, settings=asdict(privacy))


def _stack(model: Any, members: list[LearnerModel], valid: Responses | None) -> None:
    """The ensemble's weights on the validation learners, as `EnsembleKT.fit` fits them."""
    from metatutor.models.base import logit

    model.members_ = members
    model.vocab_ = members[0].vocab_
    model.weights_, model.intercept_ = np.full(len(members), 1.0 / len(members)), 0.0
    if model.config.weights == "stacked" and valid is not None and len(np.unique(valid.correct)) == 2:
        from sklearn.linear_model import LogisticRegression

        x = np.stack([logit(m.predict_proba(valid)) for m in members], axis=1)
        stack = LogisticRegression(C=model.config.stack_c).fit(x, valid.correct)
        model.weights_, model.intercept_ = stack.coef_[0].astype(np.float64), float(stack.intercept_[0])


def _bce(logit: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Summed log-loss over the masked positions (the per-learner loss of every private fit)."""
    loss = nn.functional.binary_cross_entropy_with_logits(logit, y, reduction="none")
    return (loss * mask).sum()


def _fit_sequence(model: Any, train: Responses, valid: Responses | None, run: _Run) -> None:
    """A DKT or attention model, as `SequenceKT.fit` but private: no start from the observed item
    log-odds, item offsets frozen unless asked for, per-learner clipped and noised steps."""
    from metatutor.models.attention import window_batch
    from metatutor.models.training import BestEpoch, WeightAverage

    cfg, privacy = model.config, run.privacy
    model.__dict__.pop("_serving_parts", None)
    model.vocab_ = Vocabulary.of(train)
    model.max_skills_ = int(min(cfg.max_skills, max(1, train.n_skills_per_response.max(initial=1))))
    net = model._build()
    enc: Encoded = encode(train, model.vocab_, max_skills=model.max_skills_)
    model.item_skills_ = item_skill_table(enc, model.vocab_)
    model.batch_size_ = privacy.batch_size
    average = WeightAverage(net, cfg.average_decay)  # a copy with the fused LSTM: it predicts and is saved
    model.net_ = average.module
    lstm = getattr(net, "lstm", None)
    if isinstance(lstm, nn.LSTM):
        net.lstm = LoopLSTM(lstm)  # the trained copy: the same parameters, a loop that vmap can batch
    item_names = {"difficulty.weight", "item_bias.weight"}
    names = [n for n, _ in net.named_parameters() if privacy.item_offsets or n not in item_names]
    params = dict(net.named_parameters())
    for n in item_names - set(names):
        params[n].requires_grad_(False)
    lr = privacy.lr if privacy.lr is not None else cfg.lr
    groups = [{"params": [params[n] for n in names if n not in item_names], "lr": lr}]
    if privacy.item_offsets:
        groups.append({"params": [params[n] for n in names if n in item_names], "lr": lr * cfg.item_lr_scale})
    optimizer = run.optimizer(groups)
    pads = model._pads
    is_dkt = lstm is not None

    def loss_of(out: Any, one: Batch) -> torch.Tensor:
        logit = out[0] if is_dkt else out
        return _bce(logit, one["y"], one["mask"].float())

    stopper = BestEpoch(model.net_, valid, model.predict_proba, patience=privacy.patience,
                        max_seconds=cfg.max_seconds, name=f"{model.label} (DP)")
    model.history_ = stopper.history
    for _ in range(privacy.epochs):
        net.train()
        for _ in range(run.steps_per_epoch):
            rows = learner_windows(enc.lengths, run.sample(train.n_learners), privacy.window, run.rng)
            grads = _chunked_grads(net, names, rows, lambda r: window_batch(enc, r, **pads), loss_of)
            run.step(optimizer, {n: params[n] for n in names}, grads)
            average.update(net)
        stop = stopper.end_epoch(float("nan"))
        stopper.history[-1].pop("train_loss")  # a loss on the training answers would not be private
        if stop:
            break
    stopper.restore()
    if isinstance(lstm, nn.LSTM):
        net.lstm = lstm
    for n in item_names:
        params[n].requires_grad_(True)


def _fit_irt(model: Any, train: Responses, valid: Responses | None, run: _Run) -> None:
    """A 1PL IRT by DP-SGD on each learner's marginal likelihood (ability integrated over a grid with a
    normal prior whose spread is learned). Without item offsets an item's difficulty is the mean of its
    skills' difficulties; with them each item adds its own offset."""
    from metatutor.models.attention import window_batch
    from metatutor.models.training import BestCheckpoint

    if model.config.kind != "1pl":
        raise ConfigError("differential privacy trains the 1PL IRT only")
    privacy = run.privacy
    vocab = model.vocab_ = Vocabulary.of(train)
    enc = encode(train, vocab, max_skills=int(min(4, max(1, train.n_skills_per_response.max(initial=1)))))
    table = torch.as_tensor(item_skill_table(enc, vocab))
    net = RaschNet(vocab.n_items, vocab.n_skills)
    names = [n for n, _ in net.named_parameters() if privacy.item_offsets or n != "item"]
    params = dict(net.named_parameters())
    # the difficulties live on the logit scale and get one gradient per answer: a larger step than a network's
    optimizer = run.optimizer([{"params": [params[n] for n in names], "lr": 10 * (privacy.lr or 3e-3)}])
    pads = {"pad_item": vocab.n_items, "pad_skill": vocab.n_skills + 1}

    def publish() -> float | None:
        """Set the estimator's parameters from the network; the validation AUC (None: nothing to score)."""
        with torch.no_grad():
            model.difficulty_ = net.difficulty(torch.arange(vocab.n_items), table).double().numpy()
            skill = net.skill.detach().double().numpy()[: vocab.n_skills]
            model.prior_sd_ = float(net.log_sd.detach().exp())
        model.discrimination_ = np.ones(vocab.n_items)
        model.skill_difficulty_ = np.append(skill, skill.mean() if len(skill) else 0.0)
        model.__dict__.pop("_grid_p", None)
        if valid is None or len(np.unique(valid.correct)) < 2:
            return None
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(valid.correct, model.predict_proba(valid)))

    best = BestCheckpoint.of(net, score=-1.0, patience=privacy.patience)
    for epoch in range(privacy.epochs):
        for _ in range(run.steps_per_epoch):
            rows = learner_windows(enc.lengths, run.sample(train.n_learners), privacy.window, run.rng)
            grads = _chunked_grads(net, names, rows, lambda r: window_batch(enc, r, **pads), lambda out, one: out)
            run.step(optimizer, {n: params[n] for n in names}, grads)
        auc = publish()
        log.info("IRT (DP) epoch %d: valid AUC %s", epoch + 1, auc)
        if best.check(auc):
            break
    best.restore()
    publish()


class RaschNet(nn.Module):
    """The private 1PL: a difficulty per skill (S+2 entries, the last the padding, kept at 0), an optional
    offset per item, the log spread of abilities. `forward(batch)` is the batch's summed negative log
    marginal likelihood −log ∫ Π_t P(y_t | θ, b_t) N(θ; 0, sd) dθ (on the IRT grid), per learner row."""

    def __init__(self, n_items: int, n_skills: int) -> None:
        from metatutor.models.irt import GRID

        super().__init__()
        self.n_skills = n_skills
        self.skill = nn.Parameter(torch.zeros(n_skills + 2))
        self.item = nn.Parameter(torch.zeros(n_items + 1))
        self.log_sd = nn.Parameter(torch.zeros(()))
        self.register_buffer("grid", torch.as_tensor(GRID, dtype=torch.float32))

    def difficulty(self, item: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
        """(...,) difficulty of items (...) with skills (..., K): mean of the skills' + the item's offset."""
        real = (skill != self.n_skills + 1).float()
        return (self.skill[skill] * real).sum(-1) / real.sum(-1).clamp(min=1.0) + self.item[item]

    def forward(self, batch: Batch) -> torch.Tensor:
        b = self.difficulty(batch["item"], batch["skill"])  # (B, T)
        grid = torch.as_tensor(self.grid)
        z = grid[None, None, :] - b[..., None]  # (B, T, G)
        sign = 2.0 * batch["y"][..., None] - 1.0
        loglik = (nn.functional.logsigmoid(sign * z) * batch["mask"][..., None].float()).sum(1)  # (B, G)
        log_prior = torch.log_softmax(-0.5 * (grid / self.log_sd.exp()) ** 2, dim=0)  # normalised on the grid
        return -torch.logsumexp(loglik + log_prior[None], dim=-1).sum()


def privacy_steps(privacy: PrivacyConfig, learners: int, members: int = 1) -> int:
    """The planned optimiser steps of a private fit (what σ is calibrated for)."""
    return max(1, round(learners / privacy.batch_size)) * privacy.epochs * members


__all__ = ["LoopLSTM", "PrivacyConfig", "PrivacyReport", "RaschNet", "calibrate_noise", "epsilon_of", "fit_private",
           "learner_windows", "per_learner_grads", "privacy_steps"]
