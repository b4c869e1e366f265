"""Item calibration for the item bank: 1PL, 2PL and 3PL by marginal maximum a posteriori (Bock-Aitkin EM),
with priors, recalibration and the skill-centred difficulty prior.

The maths lives one layer down, in `metatutor.models.calibration`, which the IRT learner model shares;
these are its names as the assessment layer uses them.
"""

from __future__ import annotations

from metatutor.models.calibration import KINDS, Calibration, CalibrationConfig, calibrate, skill_difficulty_prior

__all__ = ["KINDS", "Calibration", "CalibrationConfig", "calibrate", "skill_difficulty_prior"]
