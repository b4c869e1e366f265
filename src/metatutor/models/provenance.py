"""What a saved model was trained on: a `training.json` beside its files, so that scoring it later can say
which learners it has already seen (their scores are not a test). Learner ids are kept only as short
(unsalted) SHA-256 digests, never in clear."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from metatutor.data.responses import Responses

RECORD = "training.json"


def learner_digests(learner_ids: np.ndarray) -> list[str]:
    """Short (16 hex digit) SHA-256 digests of learner ids, sorted."""
    return sorted(hashlib.sha256(str(x).encode()).hexdigest()[:16] for x in learner_ids)


@dataclass
class TrainingRecord:
    """How a model was fitted: its registry name, the data, the learners on each side, the validation AUC
    of the chosen weights (measured on the learners that chose them, so optimistic), the time taken."""

    model: str
    data: str
    seed: int
    train_learners: int
    valid_learners: int
    train_responses: int
    valid_auc: float | None
    seconds: float
    epochs: list[dict[str, float]] = field(default_factory=list)
    learners_seen: list[str] = field(default_factory=list)  # digests of training and validation learners

    def write(self, folder: str | Path) -> Path:
        path = Path(folder) / RECORD
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def read(cls, folder: str | Path) -> Self | None:
        """The record saved with a model, or None when it has none (a model saved from Python)."""
        path = Path(folder) / RECORD
        if not path.is_file():
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def seen(self, responses: Responses) -> int:
        """How many of the learners in `responses` this model was fitted or early-stopped on."""
        known = set(self.learners_seen)
        return sum(d in known for d in learner_digests(responses.learners_present()))
