"""Adaptive assessment (computerized adaptive testing): calibrated item banks, ability estimation,
item selection with exposure and content control, stopping rules, resumable sessions."""
