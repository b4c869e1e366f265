"""The sequence models' common base: what fitting DKT and the attention model share, and the one loop
that trains them.

`SequenceKT.fit` seeds, builds the vocabulary and the network, encodes the training learners, starts
the item biases at their shrunk log-odds, makes the optimiser (item offsets slower), the weight
average that predicts and the early stopping on the validation learners (`training.BestEpoch`), then
runs `train_epochs`. A subclass defines its network (`_build`), how an epoch's batches are cut
(`_batches`: learners for DKT, overlapping windows for the attention model) and the optimiser steps of
one batch with their losses (`_steps`: one per truncated-BPTT window for DKT, one per batch for the
attention model). It also shares their persistence (weights, the item-skill table, `max_skills`) and a
cache of serving parts computed from the trained weights (`serving_part`).

`train_epochs` is the single place where a fit's optimiser steps happen. It receives the network, an
optimiser factory and a source of each epoch's batches (anything sized and iterable), so that data-
parallel training or differentially private training (Opacus wrapping the network, optimiser and
batches) plug in there and nowhere else. Data-parallel training is there: `fit_split` trains on the
learners of a `ResponseCache` (`metatutor.models.cached_fit`), each replica (`replicas.Replicas`) making
its share of every global batch, the loop summing their gradients before each step; with
`EpochCheckpoints` it writes a checkpoint after every epoch and resumes from the last one. One process
is the same code with a group of one.

Glossary: B learners or windows, T steps.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, Self, TypeVar, cast

import numpy as np
import torch
from torch import nn

from metatutor.data.responses import Responses
from metatutor.models.base import LearnerModel, Vocabulary
from metatutor.models.checkpoints import EpochCheckpoints
from metatutor.models.replicas import Replicas
from metatutor.models.sequences import Encoded, encode, item_skill_table
from metatutor.models.training import (
    BestEpoch,
    ItemOffsetNet,
    WeightAverage,
    init_item_bias,
    item_offset_optimizer,
    item_offset_penalty,
)

if TYPE_CHECKING:
    from metatutor.models.cached_fit import CachedSplit

Batch = dict[str, torch.Tensor]  # tensors (B, T, ...) of one batch
N = TypeVar("N", bound=nn.Module)
V = TypeVar("V")


@dataclass(frozen=True)
class StepLoss:
    """One optimiser step's loss."""

    objective: torch.Tensor  # () what the step minimises: the loss plus its penalties
    reported: torch.Tensor  # () what the epoch's train loss counts (per mean batch, as the objective)
    count: int  # responses it scored


@dataclass(frozen=True)
class Batches:
    """An epoch's batches, each made when the loop reaches it: `parts` (learner or window indices per
    batch, in order) turned into tensors by `make`."""

    parts: Sequence[np.ndarray]
    make: Callable[[np.ndarray], Batch]

    def __len__(self) -> int:
        return len(self.parts)

    def __iter__(self) -> Iterator[Batch]:
        return (self.make(part) for part in self.parts)


class EpochBatches(Protocol):
    """What `train_epochs` iterates per epoch: sized (the loss is scaled by the mean batch) and iterable
    (`Batches`; a torch `DataLoader` would do)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Batch]: ...


def train_epochs(net: N, *, make_optimizer: Callable[[N], torch.optim.Optimizer],
                 epochs: Callable[[int], EpochBatches], steps: Callable[[N, Batch, float], Iterator[StepLoss]],
                 average: WeightAverage[N], stopper: BestEpoch, responses: float, max_epochs: int,
                 max_grad_norm: float = 1.0, replicas: Replicas | None = None,
                 checkpoints: EpochCheckpoints | None = None) -> None:
    """Train `net` for up to `max_epochs` epochs, then load the best epoch's weights into the average.

    `epochs(e)` gives epoch e's batches (in order; e from 0); `steps(net, batch, per_batch)` yields the
    optimiser steps of one batch, the loop stepping between two of them; `per_batch` = `responses`
    (scored in an epoch) / the number of batches, the constant each batch's summed loss is divided by
    (`training.response_weighted_bce`). Each step sums the gradients over `replicas` (data-parallel:
    each replica's batches are its share of the global ones, the same number of steps on every
    replica), clips them to norm `max_grad_norm`, steps the optimiser and folds the new weights into
    `average`; after every epoch `stopper` scores them and `checkpoints` (when given) keeps what the
    next epoch needs; a fit with a checkpoint resumes after its last epoch. This is the seam for
    data-parallel or DP-SGD training (see the module docstring): the network, the optimiser and the
    batches are all handed in."""
    replicas = replicas or Replicas.single()
    optimizer = make_optimizer(net)
    first, stopped = 0, False
    state = checkpoints.load() if checkpoints is not None else None
    if state is not None:
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        average.load_state_dict(state["average"])
        stopper.load_state_dict(state["stopper"])
        first, stopped = int(state["epoch"]), bool(state["stopped"])
    for epoch in range(first, max_epochs):
        if stopped:
            break
        net.train()
        total, count = 0.0, 0.0
        batches = epochs(epoch)
        per_batch = responses / len(batches)  # responses in a mean batch
        for batch in batches:
            for step in steps(net, batch, per_batch):
                optimizer.zero_grad()
                step.objective.backward()
                replicas.reduce_gradients(net.parameters())
                nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm)
                optimizer.step()
                average.update(net)
                total += float(step.reported.detach()) * per_batch
                count += step.count
        if replicas.world > 1:
            total, count = (float(v) for v in replicas.sum(np.array([total, count])))
        stopped = stopper.end_epoch(total / max(count, 1))
        if checkpoints is not None:
            checkpoints.save({"epoch": epoch + 1, "stopped": stopped, "net": net.state_dict(),
                              "optimizer": optimizer.state_dict(), "average": average.state_dict(),
                              "stopper": stopper.state_dict()})
    stopper.restore()


class SequenceKT(LearnerModel, Generic[N]):
    """Base of the sequence models (`DKT`, `AttentionKT`); see the module docstring. Its config has
    `random_state`, `max_skills`, `batch_size`, `lr`, `item_lr_scale`, `item_prior_count`,
    `average_decay`, `patience`, `max_epochs`, `max_seconds` and `difficulty_l2`."""

    label: ClassVar[str]  # the model's name in logs and epoch reports
    item_skills_optional: ClassVar[bool] = False  # whether saved models may lack the item-skill table
    _replicas: Replicas = Replicas.single()  # the data-parallel group of a running `fit_split`
    net_: N  # the weights that predict (and are saved): the average of the trained ones
    item_skills_: np.ndarray  # (n_items, K) each known item's skill codes, for serving states
    max_skills_: int
    batch_size_: int
    history_: list[dict[str, float]]

    @abstractmethod
    def _build(self) -> N:
        """A new network for the fitted vocabulary."""

    @abstractmethod
    def _planner(self, lengths: np.ndarray) -> Callable[[np.random.Generator], list[np.ndarray]]:
        """How an epoch's batches are cut from learners of these `lengths`: called once per fit, the
        result once per epoch, giving each batch's rows (learner, start, end, first scored step), the
        learner an index into `lengths` (shuffled by the generator)."""

    @abstractmethod
    def _make(self, enc: Encoded, rows: np.ndarray, *, steps: int = 0) -> Batch:
        """The tensors of one batch of `rows` (learners: indices into `enc`), at least `steps` long."""

    @abstractmethod
    def _steps(self, net: N, batch: Batch, per_batch: float) -> Iterator[StepLoss]:
        """The optimiser steps of one training batch, each with its loss."""

    def _batches(self, enc: Encoded, rng: np.random.Generator) -> Callable[[], Batches]:
        """The training batches of learners held in memory: called once per fit, the result once per epoch."""
        plan = self._planner(enc.lengths)
        return lambda: Batches(plan(rng), lambda rows: self._make(enc, rows))

    def _offset_penalty(self, net: N, items: torch.Tensor) -> torch.Tensor:
        """Σ μ_i² + β_i² over the distinct items of the global batch (`training.item_offset_penalty`): with
        replicas, over the items of all their shares, each replica adding its 1/world of it."""
        replicas = self._replicas
        if replicas.world == 1:
            return item_offset_penalty(cast(ItemOffsetNet, net), items)
        used = replicas.union(items, self.vocab_.n_items + 1)
        return item_offset_penalty(cast(ItemOffsetNet, net), used) / replicas.world

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        cfg = self.config
        if cfg.random_state is not None:
            torch.manual_seed(cfg.random_state)
        rng = np.random.default_rng(cfg.random_state)
        self.__dict__.pop("_serving_parts", None)
        self.vocab_ = Vocabulary.of(train)
        self.max_skills_ = int(min(cfg.max_skills, max(1, train.n_skills_per_response.max(initial=1))))
        net = self._build()  # the weights the optimiser steps
        enc = encode(train, self.vocab_, max_skills=self.max_skills_)
        self.item_skills_ = item_skill_table(enc, self.vocab_)  # so that a serving state can score the bank
        self.batch_size_ = cfg.batch_size or int(np.clip(train.n_learners // 40, 8, 32))
        init_item_bias(cast(ItemOffsetNet, net), enc, self.vocab_.n_items, cfg.item_prior_count)
        average = WeightAverage(net, cfg.average_decay)
        self.net_ = average.module
        stopper = BestEpoch(self.net_, valid, self.predict_proba, patience=cfg.patience,
                            max_seconds=cfg.max_seconds, name=self.label)
        self.history_ = stopper.history
        epoch = self._batches(enc, rng)
        train_epochs(net, make_optimizer=self._optimizer, epochs=lambda _: epoch(), steps=self._steps,
                     average=average, stopper=stopper, responses=float(enc.lengths.sum()),
                     max_epochs=cfg.max_epochs)
        return self

    def fit_split(self, split: CachedSplit, *, checkpoints: EpochCheckpoints | None = None) -> Self:
        """Fit on the training learners of a `ResponseCache` and early-stop on its validation learners,
        reading them block by block (memory: a block of learners, whatever the log's size), data-parallel
        over `split.replicas`; with `checkpoints`, resume after the last finished epoch. The same steps as
        `fit` except that each epoch's batches and dropout come from (seed, epoch, rank) and the learners of
        a batch are read when the loop reaches it (`cached_fit.CachedSplit`)."""
        cfg = self.config
        if cfg.random_state is not None:
            torch.manual_seed(cfg.random_state)  # the same starting weights on every replica
        self.__dict__.pop("_serving_parts", None)
        self.vocab_ = split.vocabulary()
        stats = split.stats(self.vocab_, max_skills=cfg.max_skills)
        self.max_skills_ = int(min(cfg.max_skills, max(1, stats.max_skills)))
        self.item_skills_ = np.ascontiguousarray(stats.item_skills[:, : self.max_skills_])
        self.batch_size_ = cfg.batch_size or int(np.clip(len(split.train) // 40, 8, 32))
        net = self._build()
        with torch.no_grad():
            offsets = cast(ItemOffsetNet, net)
            offsets.item_bias.weight[: self.vocab_.n_items, 0] = torch.as_tensor(
                stats.item_logits(cfg.item_prior_count), dtype=torch.float32)
        average = WeightAverage(net, cfg.average_decay)
        self.net_ = average.module
        stopper = split.stopper(self.net_, self.predict_proba, patience=cfg.patience, max_seconds=cfg.max_seconds,
                                name=self.label)
        self.history_ = stopper.history
        self._replicas = split.replicas
        try:
            train_epochs(net, make_optimizer=self._optimizer, epochs=split.epochs(self, stats.lengths, cfg.random_state),
                         steps=self._steps, average=average, stopper=stopper, responses=float(stats.lengths.sum()),
                         max_epochs=cfg.max_epochs, replicas=split.replicas, checkpoints=checkpoints)
        finally:
            del self._replicas
        return self

    def _optimizer(self, net: N) -> torch.optim.Optimizer:
        return item_offset_optimizer(cast(ItemOffsetNet, net), lr=self.config.lr,
                                     item_lr_scale=self.config.item_lr_scale)

    @property
    def _pads(self) -> dict[str, int]:
        """The padding item and skill codes of batches."""
        return {"pad_item": self.vocab_.n_items, "pad_skill": self.vocab_.n_skills + 1}

    def _encode(self, responses: Responses) -> Encoded:
        return encode(responses, self.vocab_, max_skills=self.max_skills_)

    def serving_part(self, key: str, build: Callable[[], V]) -> V:
        """A part of the trained network that serving precomputes (a bank, a cell), built on first use
        and kept until the weights change (`fit`, `load`)."""
        self._check_fitted()
        parts: dict[str, Any] = self.__dict__.setdefault("_serving_parts", {})
        if key not in parts:
            parts[key] = build()
        return cast(V, parts[key])

    # ----- persistence: the network's weights, the item-skill table and max_skills ---------------------
    def _get_arrays(self) -> dict[str, np.ndarray]:
        arrays = {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        return {**arrays, "__item_skills": self.item_skills_}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.__dict__.pop("_serving_parts", None)
        if "__item_skills" in arrays or not self.item_skills_optional:
            self.item_skills_ = arrays["__item_skills"]
        self.net_ = self._build()
        self.net_.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays.items() if k != "__item_skills"})
        self.net_.eval()

    def _get_extra(self) -> dict[str, Any]:
        return {"max_skills": self.max_skills_}

    def _set_extra(self, extra: dict[str, Any]) -> None:
        self.max_skills_ = int(extra["max_skills"])
