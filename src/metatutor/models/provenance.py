"""What a saved model was trained on: a `training.json` beside its files, so that scoring it later can say
which learners it has already seen (their scores are not a test). Learner ids are kept only as keyed
pseudonyms (HMAC-SHA-256 under the deployment's secret, 16 hex digits), never in clear: without the
secret they cannot be recovered by trying ids. The secret is `METATUTOR_SECRET_KEY`, or one made once and
kept in the user's data folder (`$XDG_DATA_HOME/metatutor/secret`, readable by its owner only)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from metatutor.data.responses import Responses

RECORD = "training.json"


def local_secret() -> bytes:
    """The deployment's secret for pseudonyms (see the module docstring)."""
    configured = os.environ.get("METATUTOR_SECRET_KEY")
    if configured:
        return configured.encode()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "metatutor"
    path = base / "secret"
    if not path.is_file():
        base.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, secrets.token_hex(32).encode())
            os.close(fd)
        except FileExistsError:  # made meanwhile by another process
            pass
    return path.read_bytes().strip()


def learner_digests(learner_ids: np.ndarray, key: bytes | None = None) -> list[str]:
    """Keyed pseudonyms (HMAC-SHA-256, 16 hex digits) of learner ids, sorted; `key` defaults to
    `local_secret()`."""
    key = local_secret() if key is None else key
    return sorted(hmac.new(key, str(x).encode(), hashlib.sha256).hexdigest()[:16] for x in learner_ids)


def _unkeyed_digests(learner_ids: np.ndarray) -> list[str]:  # records written before pseudonyms were keyed
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
    learners_seen: list[str] = field(default_factory=list)  # pseudonyms of training and validation learners
    digest: str = "hmac-sha256"  # how `learners_seen` was made (records without this field: unkeyed "sha256")
    privacy: dict[str, Any] | None = None  # a private fit's (ε, δ) and mechanism (`models.privacy.PrivacyReport`)

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
        data.setdefault("digest", "sha256")
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def seen(self, responses: Responses, key: bytes | None = None) -> int:
        """How many of the learners in `responses` this model was fitted or early-stopped on (pseudonyms
        under `key`, default `local_secret()`, the one the record was written with)."""
        known = set(self.learners_seen)
        ids = responses.learners_present()
        digests = learner_digests(ids, key) if self.digest == "hmac-sha256" else _unkeyed_digests(ids)
        return sum(d in known for d in digests)
