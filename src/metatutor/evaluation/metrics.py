"""Metrics of predicted P(correct) against observed answers. `score` lives one layer down, in
`metatutor.models.metrics`, so that the adaptive test (`metatutor.assessment`) scores with it too; this
is its name as the evaluation layer uses it."""

from __future__ import annotations

from metatutor.models.metrics import score

__all__ = ["score"]
