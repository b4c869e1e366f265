"""Feedback for learners and teachers: mastery, weak and blocked skills, next steps with reasons."""

from metatutor.feedback.class_report import ClassReport, class_report
from metatutor.feedback.report import LearnerReport, SkillStatus, learner_report, replay

__all__ = ["ClassReport", "LearnerReport", "SkillStatus", "class_report", "learner_report", "replay"]
