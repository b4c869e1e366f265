"""Per-epoch checkpoints of a fit, so that a run whose rank was killed resumes where it stopped.

After every epoch the main rank writes `state.pt` in the fit's folder (written beside, then renamed over
the old one: a rank killed while writing leaves the previous checkpoint whole). It holds what the next
epoch needs: the trained and averaged weights, the optimiser's state, the early stopping's state and the
epochs done. Every replica holds the same weights (their gradients are summed before each step), so one
file serves them all. Each epoch's batches and dropout draws are a function of (seed, epoch, rank), so a
resumed fit takes the same steps as one that was never stopped.

A checkpoint is kept only for the fit it was made by: its `fingerprint` (the model's settings, the data,
the learners) must match, otherwise the fit starts over. Files are read with `torch.load(weights_only=True)`:
tensors, numbers, strings, lists and dicts only, never a pickle of an object.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from metatutor.models.base import LearnerModel
from metatutor.models.replicas import Replicas

log = logging.getLogger(__name__)

STATE = "state.pt"
FITTED = "fitted"  # a finished part of the fit, saved as a model folder


class EpochCheckpoints:
    """The checkpoints of one fit in `folder` (see the module docstring); `replicas.is_main` writes them."""

    def __init__(self, folder: str | Path, *, fingerprint: dict[str, Any], replicas: Replicas | None = None) -> None:
        self.folder = Path(folder)
        self.fingerprint = json.dumps(fingerprint, sort_keys=True, default=str)
        self.replicas = replicas or Replicas.single()

    def sub(self, name: str, **fingerprint: Any) -> EpochCheckpoints:
        """The checkpoints of a part of this fit (an ensemble's member) in a subfolder."""
        mine = json.loads(self.fingerprint)
        return EpochCheckpoints(self.folder / name, fingerprint={**mine, "part": name, **fingerprint},
                                replicas=self.replicas)

    def load(self) -> dict[str, Any] | None:
        """The last checkpoint of this fit, or None (none yet, or one made by another fit)."""
        path = self.folder / STATE
        if not path.is_file():
            return None
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != self.fingerprint:
            log.warning("%s was written by another fit (other settings or data): starting over", path)
            return None
        log.info("resuming from %s (epoch %s)", path, state.get("epoch"))
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Write `state` as the last checkpoint (main rank only; atomic)."""
        if not self.replicas.is_main:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{STATE}.{os.getpid()}"
        torch.save({**state, "fingerprint": self.fingerprint}, tmp)
        os.replace(tmp, self.folder / STATE)

    def save_fitted(self, model: LearnerModel) -> None:
        """Keep a finished part of the fit (an ensemble's member, with its epochs) so that a resumed fit
        skips it (main rank only)."""
        if not self.replicas.is_main:
            return
        folder = self.folder / FITTED
        model.save(folder)
        (folder / "history.json").write_text(json.dumps(getattr(model, "history_", [])))
        (folder / "fingerprint.json").write_text(self.fingerprint)
        (self.folder / STATE).unlink(missing_ok=True)  # its epochs are done

    def load_fitted(self) -> LearnerModel | None:
        """The part `save_fitted` kept for this fit, or None."""
        from metatutor.models import load_model

        folder = self.folder / FITTED
        stamp = folder / "fingerprint.json"
        if not stamp.is_file() or stamp.read_text() != self.fingerprint:
            return None
        model = load_model(str(folder))
        history = json.loads((folder / "history.json").read_text()) if (folder / "history.json").is_file() else []
        if history:
            model.history_ = history  # type: ignore[attr-defined]
        log.info("%s was fitted before: loaded", folder)
        return model

    def clear(self) -> None:
        """Remove the checkpoints (after the fitted model is saved)."""
        if self.replicas.is_main:
            shutil.rmtree(self.folder, ignore_errors=True)
