"""When a test ends: fixed length, a standard-error target, or a confident classification against a cut."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

from metatutor.assessment.estimation import Estimate
from metatutor.errors import ConfigError


@dataclass(frozen=True)
class StoppingRule:
    """Stop at `max_items`; earlier once `min_items` are answered and either the SE is at most
    `se_target`, or the confidence interval of θ̂ at `confidence` excludes `cut_score`."""

    max_items: int = 20
    min_items: int = 1
    se_target: float | None = None
    cut_score: float | None = None
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.max_items < 1 or self.min_items < 0 or self.min_items > self.max_items:
            raise ConfigError("stopping rule needs 0 <= min_items <= max_items and max_items >= 1")
        if not 0.5 < self.confidence < 1.0:
            raise ConfigError("confidence must lie in (0.5, 1)")

    @property
    def z(self) -> float:
        return NormalDist().inv_cdf(0.5 + self.confidence / 2)

    def classify(self, estimate: Estimate) -> str | None:
        """"above" / "below" the cut when the confidence interval excludes it, "undecided" otherwise,
        None without a cut score."""
        if self.cut_score is None:
            return None
        if estimate.theta - self.z * estimate.se > self.cut_score:
            return "above"
        if estimate.theta + self.z * estimate.se < self.cut_score:
            return "below"
        return "undecided"

    def reason(self, n_answered: int, estimate: Estimate) -> str | None:
        """Why the test stops now, or None to go on."""
        if n_answered >= self.max_items:
            return "max_items"
        if n_answered < self.min_items:
            return None
        if self.se_target is not None and estimate.se <= self.se_target:
            return "se_target"
        if self.classify(estimate) in ("above", "below"):
            return "classified"
        return None
