"""A model card per trained model (Mitchell et al. 2019, "Model Cards for Model Reporting"): what the model
is, the data it was fitted on, its metrics, the fairness audit's summary and its limits, written by
`metatutor train` beside the model as `model_card.json` (for the service's model list) and `MODEL_CARD.md`
(for people). Built from the `TrainingRecord` and, where one was run, the audit's summary rows
(`evaluation.fairness.FairnessAudit.summary()`), so this layer needs nothing above it.

Example:
    >>> from metatutor.models.provenance import TrainingRecord
    >>> record = TrainingRecord(model="irt", data="logs.csv", seed=0, train_learners=80, valid_learners=20,
    ...                         train_responses=4000, valid_auc=0.71, seconds=1.5)
    >>> card = ModelCard.from_record(record)
    >>> card.metrics["valid_auc"]
    0.71
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

from metatutor.models.provenance import TrainingRecord

CARD = "model_card.json"
CARD_MD = "MODEL_CARD.md"
DESCRIPTIONS = {
    "irt": "1PL item response theory: one ability per learner (estimated online from their answers), one "
           "difficulty per item",
    "bkt": "Bayesian knowledge tracing: a hidden mastered/unmastered state per skill",
    "pfa": "performance factors analysis: logistic on counts of right and wrong answers per skill",
    "bestlr": "Best-LR: logistic on the learner's right/wrong counts, item and skill",
    "dkt": "deep knowledge tracing: an LSTM over the learner's answers with Rasch item offsets",
    "attn": "attention knowledge tracing (AKT family) with Rasch item embeddings and distance decay",
    "pairs": "item-to-item answer effects counted over the training learners (the classmates track)",
    "ensemble": "a stacked ensemble of learner models (default: attention + DKT + IRT)",
}
LIMITS = [
    "Predictions are for learners like the training learners, on items like theirs: an item never seen in "
    "training is predicted from its skills alone.",
    "The validation AUC is measured on the learners that early-stopped the model, so it is optimistic; a test "
    "on learners it never saw is `metatutor predict` on their logs (it warns about learners it has seen).",
    "P(correct) estimates a learner's next answer from their earlier ones; it is not a grade and not a measure "
    "of a person's worth, and should not decide high-stakes outcomes on its own.",
]


@dataclass
class ModelCard:
    model: str
    description: str
    data: dict[str, Any]
    metrics: dict[str, Any]
    training: dict[str, Any]
    privacy: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None  # the audit's summary rows, where it was run, and on whom
    limits: list[str] = field(default_factory=list)

    @classmethod
    def from_record(cls, record: TrainingRecord, *, kind: str | None = None, audit: list[dict[str, Any]] | None = None,
                    audited_on: str = "", unmet: list[str] | None = None, extra_limits: list[str] | None = None) -> Self:
        """A card from what `train` recorded; `kind` the model's class name (`model.json`'s `model`);
        `audit` the fairness audit's summary rows (on `audited_on`), `unmet` its splits that miss a goal."""
        kind = kind or record.model
        limits = list(LIMITS)
        if record.privacy:
            limits.append(f"Differentially private (ε = {record.privacy['epsilon']:.3g}, δ = {record.privacy['delta']:.2g}) "
                          f"for each training learner; {record.privacy['not_covered']} are not covered.")
        else:
            limits.append("Not trained with differential privacy: the weights may reveal something about individual "
                          "training learners.")
        if unmet:
            limits.append(f"The fairness goals are not met on: {', '.join(unmet)} (see the audit).")
        limits += extra_limits or []
        fairness = None if audit is None else {"audited_on": audited_on, "summary": audit, "unmet": unmet or []}
        return cls(model=record.model, description=DESCRIPTIONS.get(kind, kind),
                   data={"source": record.data, "train_learners": record.train_learners,
                         "valid_learners": record.valid_learners, "train_responses": record.train_responses,
                         "learner_ids": "kept only as keyed pseudonyms (HMAC-SHA-256) in training.json"},
                   metrics={"valid_auc": record.valid_auc, "valid_auc_note": "on the learners that early-stopped it"},
                   training={"seed": record.seed, "seconds": record.seconds, "epochs": len(record.epochs)},
                   privacy=record.privacy, fairness=fairness, limits=limits)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        lines = [f"# Model card: {self.model}", "", self.description + ".", "", "## Data", ""]
        lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in self.data.items()]
        lines += ["", "## Metrics", ""]
        auc = self.metrics.get("valid_auc")
        lines.append(f"- validation AUC: {'–' if auc is None else f'{auc:.4f}'} ({self.metrics['valid_auc_note']})")
        lines += ["", "## Training", ""] + [f"- {k}: {v}" for k, v in self.training.items()]
        if self.privacy:
            p = self.privacy
            lines += ["", "## Privacy", "", f"- (ε, δ) = ({p['epsilon']:.3g}, {p['delta']:.2g}) per {p['unit']}, "
                      f"{p['mechanism']}; σ = {p['noise_multiplier']:.3g}, C = {p['max_grad_norm']:g}, "
                      f"q = {p['sample_rate']:.3g}, {p['steps']} steps ({p['accountant']} accountant)",
                      f"- not covered: {p['not_covered']}"]
        if self.fairness:
            lines += ["", "## Fairness audit", "", f"On {self.fairness['audited_on']}.", "",
                      "| split | ABROCA | p | worst group ECE | goals met |", "|---|---|---|---|---|"]
            for row in self.fairness["summary"]:
                met = "yes" if row["abroca_met"] and row["ece_met"] else "no"
                lines.append(f"| {row['split']} | {row['abroca']:.4f} | {row['abroca_p']:.3f} | {row['worst_ece']:.4f} | "
                             f"{met} |")
        lines += ["", "## Limits", ""] + [f"- {x}" for x in self.limits]
        return "\n".join(lines) + "\n"

    def write(self, folder: str | Path) -> Path:
        """Write `model_card.json` and `MODEL_CARD.md` into `folder`; the JSON's path."""
        out = Path(folder)
        (out / CARD_MD).write_text(self.to_markdown())
        path = out / CARD
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def read(cls, folder: str | Path) -> Self | None:
        """The card saved with a model, or None when it has none."""
        path = Path(folder) / CARD
        if not path.is_file():
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
