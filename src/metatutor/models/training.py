"""What the training loops share: a loss that weighs every response alike, item offsets that learn
slower and are shrunk, their starting values, weight averaging, and early stopping (`BestCheckpoint`,
used by every loop of the project; `BestEpoch`, its epoch-by-epoch form on the validation AUC that the
sequence models use). The sequence models' fit loop itself is `sequence_base.train_epochs`."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar, cast

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.optim.swa_utils import AveragedModel

from metatutor.data.responses import Responses
from metatutor.models.base import shrunk_item_logits
from metatutor.models.epochs import announce
from metatutor.models.sequences import Encoded

M = TypeVar("M", bound=nn.Module)


def eval_mode(module: M) -> M:
    """`module` in eval mode, switched only when it is not already: `eval()` walks every submodule,
    which costs more than a whole serving step of a small model."""
    if module.training:
        module.eval()
    return module

log = logging.getLogger(__name__)


class ItemOffsetNet(Protocol):
    """A network with a scalar difficulty offset μ_i and an output bias β_i per item."""

    difficulty: nn.Embedding
    item_bias: nn.Embedding

    def parameters(self) -> Any: ...


def response_weighted_bce(logit: torch.Tensor, y: torch.Tensor, per_batch: float) -> torch.Tensor:
    """Binary cross-entropy summed over a batch's responses and divided by a constant, the mean number of
    responses per batch, rather than averaged within the batch.

    Batches group learners of similar length, so a batch of 32 short sequences holds a few hundred
    responses and one of long sequences thousands; averaging within each batch gave every response of a
    short learner many times the weight of a long learner's. With the constant every response weighs the
    same in an epoch, as in the pooled AUC the models are judged by. Chosen on validation learners
    (docs/methods.md, DKT).
    """
    return nn.functional.binary_cross_entropy_with_logits(logit, y, reduction="sum") / per_batch


def item_offset_optimizer(net: ItemOffsetNet, *, lr: float, item_lr_scale: float) -> torch.optim.Adam:
    """Adam with the item offsets at `lr * item_lr_scale` (they overfit quickly) and the rest at `lr`."""
    item_params = [net.difficulty.weight, net.item_bias.weight]
    rest = [p for p in net.parameters() if all(p is not q for q in item_params)]
    return torch.optim.Adam([{"params": rest, "lr": lr}, {"params": item_params, "lr": lr * item_lr_scale}])


def item_offset_penalty(net: ItemOffsetNet, items: torch.Tensor) -> torch.Tensor:
    """Σ μ_i² + β_i² over the distinct `items` of a batch (each once: shrinkage does not grow with use)."""
    used = torch.unique(items)
    return (net.difficulty(used) ** 2).sum() + (net.item_bias(used) ** 2).sum()


@torch.no_grad()
def init_item_bias(net: ItemOffsetNet, enc: Encoded, n_items: int, prior_count: float) -> None:
    """Start β_i at each item's shrunk log-odds, so rare items start sensible instead of waiting for many
    sparse gradient steps."""
    init = shrunk_item_logits(enc.item, enc.y, n_items, prior_count)
    net.item_bias.weight[:n_items, 0] = torch.as_tensor(init, dtype=torch.float32)


def _ema(decay: float) -> Callable[[Any, Any, torch.Tensor | int], None]:
    """AveragedModel's in-place update: averaged ← averaged + w (current − averaged), after n updates."""

    def lerp(averaged: Any, current: Any, n: torch.Tensor | int) -> None:
        w = 1.0 - min(decay, (1.0 + float(n)) / (10.0 + float(n)))
        for a, c in zip(averaged, current, strict=True):
            if a.is_floating_point():
                a.lerp_(c, w)
            else:
                a.copy_(c)

    return lerp


class WeightAverage(Generic[M]):
    """The weights a sequence model predicts with: an exponential moving average of the trained `net`'s
    weights (and buffers) when `decay` is given, `net` itself when it is None. Call `update(net)` after each
    optimiser step; predict, early-stop and save with `.module`. The decay warms up as
    min(decay, (1 + n) / (10 + n)) after n updates, so a short training (a small cohort, a few epochs) is
    not dominated by the initial weights. Chosen on validation learners (docs/methods.md, DKT)."""

    def __init__(self, net: M, decay: float | None) -> None:
        self._average = None if decay is None else AveragedModel(net, multi_avg_fn=_ema(decay), use_buffers=True)
        self.module: M = net if self._average is None else cast(M, self._average.module)

    def update(self, net: nn.Module) -> None:
        if self._average is not None:
            self._average.update_parameters(net)

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights and the number of updates (empty without averaging): for checkpoints."""
        return {} if self._average is None else self._average.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self._average is not None:
            self._average.load_state_dict(state)


class BestCheckpoint:
    """Early stopping, the one helper every training loop of the project uses: `check(score)` after each
    validation keeps a checkpoint of the best score so far (better means above the best by more than
    `min_delta`), and says when to stop: after `patience` checks without a better score (None: never)
    or once `max_seconds` have passed since it was made. `check(None)` (no validation to score) makes
    the current weights the checkpoint, so that without validation the last weights are kept.
    `restore()` loads the checkpoint.

    `save()` returns a checkpoint (a deep copy) and `load(checkpoint)` puts it back; `BestCheckpoint.of(
    module)` does both with the module's `state_dict`. The starting weights are the first checkpoint,
    with the starting `score` (scored or not)."""

    def __init__(self, save: Callable[[], Any], load: Callable[[Any], object], *, score: float = -np.inf,
                 min_delta: float = 1e-4, patience: int | None = None, max_seconds: float | None = None) -> None:
        self._save, self._load = save, load
        self.best, self.min_delta, self.patience, self.max_seconds = score, min_delta, patience, max_seconds
        self.checkpoint, self.bad = save(), 0
        self.started = time.perf_counter()

    @classmethod
    def of(cls, module: nn.Module, **settings: Any) -> BestCheckpoint:
        """Checkpoints of `module`'s weights (and buffers)."""
        return cls(lambda: copy.deepcopy(module.state_dict()), module.load_state_dict, **settings)

    def seconds(self) -> float:
        """Seconds since the helper was made (training started)."""
        return time.perf_counter() - self.started

    def out_of_time(self) -> bool:
        return self.max_seconds is not None and self.seconds() > self.max_seconds

    def check(self, score: float | None) -> bool:
        """Record a validation score (None: nothing to validate on); True when training should stop."""
        if score is None:
            self.checkpoint = self._save()
        elif score > self.best + self.min_delta:
            self.checkpoint, self.best, self.bad = self._save(), score, 0
        else:
            self.bad += 1
        return (self.patience is not None and self.bad >= self.patience) or self.out_of_time()

    def restore(self) -> None:
        """Load the best checkpoint (the last one without validation scores)."""
        self._load(self.checkpoint)


class BestEpoch:
    """Early stopping of the sequence models, epoch by epoch (a `BestCheckpoint` of the network): after
    each epoch, score the validation learners (AUC); keep the weights of the best epoch; stop after
    `patience` epochs without a better AUC or once `max_seconds` have passed. Without validation
    learners (or with only one class among their answers) the last epoch is kept. Every epoch is
    recorded in `history` and announced (`epochs.announce`)."""

    def __init__(self, net: nn.Module, valid: Responses | None, predict: Callable[[Responses], np.ndarray], *,
                 patience: int, max_seconds: float | None, name: str) -> None:
        self.net, self.predict, self.name = net, predict, name
        self.valid = valid if valid is not None and len(np.unique(valid.correct)) > 1 else None
        self.best = BestCheckpoint.of(net, score=-1.0, patience=patience, max_seconds=max_seconds)
        self.history: list[dict[str, float]] = []

    def end_epoch(self, train_loss: float) -> bool:
        """Record the epoch; True when training should stop."""
        record = {"epoch": len(self.history) + 1, "train_loss": train_loss, "seconds": self.best.seconds()}
        auc = self._valid_auc()
        if auc is not None:
            record["valid_auc"] = auc
        stop = self.best.check(auc)
        self.history.append(record)
        log.info("%s epoch %d: %s", self.name, record["epoch"], record)
        announce(self.name, int(record["epoch"]), record)
        return stop

    def _valid_auc(self) -> float | None:
        """The validation learners' AUC under the current weights (None: nothing to validate on)."""
        if self.valid is None:
            return None
        return float(roc_auc_score(self.valid.correct, self.predict(self.valid)))

    def restore(self) -> None:
        """Load the best epoch's weights and put the network in evaluation mode."""
        self.best.restore()
        self.net.eval()

    def state_dict(self) -> dict[str, Any]:
        """What resuming needs: the best epoch's weights and score, the epochs since, the history and the
        seconds spent (for `max_seconds`)."""
        best = self.best
        return {"checkpoint": best.checkpoint, "best": best.best, "bad": best.bad, "history": self.history,
                "seconds": best.seconds()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        best = self.best
        best.checkpoint, best.best, best.bad = state["checkpoint"], float(state["best"]), int(state["bad"])
        best.started = time.perf_counter() - float(state["seconds"])
        self.history[:] = [dict(record) for record in state["history"]]
