"""Meta-learned personalisation: every learner a task (episodes, MAML family, prototypes, baselines)."""

from __future__ import annotations

from typing import Any

from metatutor.errors import ConfigError
from metatutor.meta.base import ColdStartMethod, Population
from metatutor.meta.baselines import IRTPredictive, PenalisedFit
from metatutor.meta.episodes import Episodes, EpisodeSampler, cold_start_episodes, hide_answers
from metatutor.meta.filter import FilterConfig, MetaFilter
from metatutor.meta.gradient import GradientMeta, MetaConfig
from metatutor.meta.proto import Prototypes

BASELINES = ("population", "scratch", "map", "finetune", "dkt", "irt")
OURS = ("maml", "fomaml", "reptile", "metasgd", "proto", "amortized", "metafilter")
# the meta-learned learner model behind every decision (`learner.MetaTracker`); chosen over metasgd on validation
# learners of assist2009_pid fold 1 for its online AUC (next answer) at a k-shot AUC within noise of it
DEFAULT_METHOD = "metafilter"


def make_method(name: str, **settings: Any) -> ColdStartMethod:
    """A cold-start method by name; `default` is the recommended one."""
    name = DEFAULT_METHOD if name == "default" else name
    if name == "population":
        return IRTPredictive(use_support=False)
    if name == "irt":
        return IRTPredictive(use_support=True)
    if name in ("map", "scratch"):
        return PenalisedFit(prior=name == "map")
    if name == "proto":
        return Prototypes(**settings)
    if name == "metafilter":
        return MetaFilter(**settings)
    if name in ("maml", "fomaml", "reptile", "metasgd", "amortized", "finetune", "dkt"):
        return GradientMeta(name, **settings)
    raise ConfigError(f"unknown cold-start method {name!r}; choose from {', '.join((*BASELINES, *OURS, 'default'))}")


__all__ = ["BASELINES", "DEFAULT_METHOD", "OURS", "ColdStartMethod", "EpisodeSampler", "Episodes", "FilterConfig",
           "GradientMeta", "MetaConfig", "MetaFilter", "Population", "Prototypes", "cold_start_episodes", "hide_answers",
           "make_method"]
