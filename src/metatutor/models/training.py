"""What the sequence models' training loops share: a loss that weighs every response alike, item offsets
that learn slower and are shrunk, their starting values, weight averaging, and early stopping on the
validation AUC (keeping the best epoch's weights)."""

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
    same in an epoch, as in the pooled AUC the models are judged by. On validation learners it added
    0.003-0.006 AUC to DKT (docs/benchmarks.md §1).
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
    not dominated by the initial weights. On the validation learners of assist2009_pid (fold 1), statics
    (fold 1) and pyKT's assist2015 (fold 0) the averaged weights of DKT scored 0.001-0.002 AUC above the
    last ones."""

    def __init__(self, net: M, decay: float | None) -> None:
        self._average = None if decay is None else AveragedModel(net, multi_avg_fn=_ema(decay), use_buffers=True)
        self.module: M = net if self._average is None else cast(M, self._average.module)

    def update(self, net: nn.Module) -> None:
        if self._average is not None:
            self._average.update_parameters(net)


class BestEpoch:
    """Early stopping: after each epoch, score the validation learners; keep the weights of the best
    epoch; stop after `patience` epochs without a better AUC or once `max_seconds` have passed.
    Without validation learners (or with only one class among their answers) the last epoch is kept."""

    def __init__(self, net: nn.Module, valid: Responses | None, predict: Callable[[Responses], np.ndarray], *,
                 patience: int, max_seconds: float | None, name: str) -> None:
        self.net, self.predict, self.name = net, predict, name
        self.valid = valid if valid is not None and len(np.unique(valid.correct)) > 1 else None
        self.patience, self.max_seconds = patience, max_seconds
        self.best_state = copy.deepcopy(net.state_dict())
        self.best_auc, self.bad = -1.0, 0
        self.history: list[dict[str, float]] = []
        self.started = time.perf_counter()

    def end_epoch(self, train_loss: float) -> bool:
        """Record the epoch; True when training should stop."""
        record = {"epoch": len(self.history) + 1, "train_loss": train_loss,
                  "seconds": time.perf_counter() - self.started}
        if self.valid is not None:
            auc = float(roc_auc_score(self.valid.correct, self.predict(self.valid)))
            record["valid_auc"] = auc
            if auc > self.best_auc + 1e-4:
                self.best_state, self.best_auc, self.bad = copy.deepcopy(self.net.state_dict()), auc, 0
            else:
                self.bad += 1
        else:
            self.best_state = copy.deepcopy(self.net.state_dict())
        self.history.append(record)
        log.info("%s epoch %d: %s", self.name, record["epoch"], record)
        announce(self.name, int(record["epoch"]), record)
        out_of_time = self.max_seconds is not None and time.perf_counter() - self.started > self.max_seconds
        return self.bad >= self.patience or out_of_time

    def restore(self) -> None:
        """Load the best epoch's weights and put the network in evaluation mode."""
        self.net.load_state_dict(self.best_state)
        self.net.eval()
