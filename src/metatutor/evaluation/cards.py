"""The model card `metatutor train` writes (`models.model_card`), with the fairness audit's summary: the audit
runs on the validation learners (the only learners a training run holds out; they early-stopped the model,
so its figures are optimistic, and the card says so), over the built-in splits, with fewer shuffles than a
full `metatutor audit`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from metatutor.data.responses import Responses
from metatutor.evaluation.fairness import AuditConfig, audit_predictions
from metatutor.evaluation.groups import group_splits
from metatutor.models.model_card import ModelCard
from metatutor.models.provenance import TrainingRecord


def write_card(folder: str | Path, record: TrainingRecord, *, kind: str | None = None, valid: Responses | None = None,
               predict: Callable[[Responses], np.ndarray] | None = None, permutations: int = 200) -> ModelCard:
    """Write `model_card.json` and `MODEL_CARD.md` into `folder`; with `valid` and `predict`, the card
    carries the audit of `predict` on those validation learners."""
    summary, unmet = None, None
    if valid is not None and predict is not None and valid.n_learners >= 4 and len(np.unique(valid.correct)) == 2:
        config = AuditConfig(permutations=permutations)
        splits = group_splits(valid, first=config.first)
        if splits:
            audit = audit_predictions(valid, predict(valid), splits, config=config, model=record.model, data=record.data)
            summary, unmet = audit.summary(), audit.unmet()
    card = ModelCard.from_record(record, kind=kind, audit=summary, unmet=unmet,
                                 audited_on=f"the {record.valid_learners} validation learners (they early-stopped the "
                                            f"model: optimistic), {permutations} shuffles per test")
    card.write(folder)
    return card
