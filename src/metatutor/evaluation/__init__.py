"""Evaluation: metrics, protocols and benchmark runners."""

from metatutor.evaluation.metrics import score

__all__ = ["score"]
