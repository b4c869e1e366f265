"""Learner-level splits: no learner is ever in two parts of one split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError


@dataclass(frozen=True)
class Split:
    """Train, validation and test responses of disjoint learners."""

    train: Responses
    valid: Responses | None
    test: Responses
    fold: int

    def check_disjoint(self) -> None:
        """Raise if a learner is in two parts (a leak that inflates every metric)."""
        train = set(self.train.learners_present())
        test = set(self.test.learners_present())
        valid = set(self.valid.learners_present()) if self.valid is not None else set()
        overlap = (train & test) | (valid & test) | (train & valid)
        if overlap:
            raise ConfigError(f"{len(overlap)} learners are in two parts of fold {self.fold}, e.g. {sorted(overlap)[:3]}")


def kfold_splits(responses: Responses, *, k: int = 5, valid_fraction: float = 0.2,
                 random_state: int | None = 0) -> list[Split]:
    """Seeded learner-level k-fold: fold j tests on 1/k of the learners, validates on `valid_fraction`
    of the rest and trains on the remainder. Folds are numbered from 1."""
    if k < 2:
        raise ConfigError("kfold needs k >= 2")
    learners = responses.learners_present()
    if len(learners) < k:
        raise ConfigError(f"{len(learners)} learners cannot be split into {k} folds")
    rng = np.random.default_rng(random_state)
    perm = learners[rng.permutation(len(learners))]
    chunks = np.array_split(perm, k)
    splits = []
    for j in range(k):
        rest = np.concatenate([chunks[i] for i in range(k) if i != j])
        n_valid = round(valid_fraction * len(rest))
        splits.append(
            Split(
                train=responses.select_learners(rest[n_valid:]),
                valid=responses.select_learners(rest[:n_valid]) if n_valid else None,
                test=responses.select_learners(chunks[j]),
                fold=j + 1,
            )
        )
    return splits


def holdout_split(responses: Responses, *, valid_fraction: float = 0.2,
                  random_state: int | None = 0) -> tuple[Responses, Responses | None]:
    """Seeded learner-level split of one dataset into training and validation learners (for fitting a
    model to deploy: validation learners early-stop it). `valid_fraction` 0 keeps every learner for training."""
    if not 0.0 <= valid_fraction < 1.0:
        raise ConfigError(f"the validation fraction must be in [0, 1), not {valid_fraction}")
    learners = responses.learners_present()
    n_valid = round(valid_fraction * len(learners))
    if n_valid and len(learners) - n_valid < 1:
        raise ConfigError(f"{len(learners)} learners leave none to train on with {valid_fraction:.0%} validating")
    if not n_valid:
        return responses, None
    perm = learners[np.random.default_rng(random_state).permutation(len(learners))]
    return responses.select_learners(perm[n_valid:]), responses.select_learners(perm[:n_valid])
